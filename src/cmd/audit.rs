//! `revokd audit [filters]` and `revokd audit verify`.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Result, anyhow};

use super::{block_on, open_store};
use crate::cli::{AuditArgs, AuditCommand, AuditQueryArgs, ListFormat};
use revokd::config::Config;
use revokd::store::{AuditEvent, AuditFilter, AuditFilterError, ChainStatus, Store, format_ms, now_ms};

/// Exit status of `audit verify` on a broken chain.
const EXIT_BROKEN: u8 = 1;

pub fn audit(config_path: Option<&Path>, args: AuditArgs) -> Result<u8> {
    let config = Config::load(config_path)?;
    block_on(async {
        let store = open_store(&config).await?;
        let code = match args.command {
            Some(AuditCommand::Verify) => verify(&store).await,
            None => search(&store, args.query).await,
        };
        store.close().await;
        code
    })
}

async fn verify(store: &Store) -> Result<u8> {
    match store.verify_audit().await? {
        ChainStatus::Intact { events, head } => {
            println!("audit chain intact: {events} event(s), head {}", head.as_deref().unwrap_or("(empty log)"));
            Ok(0)
        }
        ChainStatus::Broken { event_id, reason } => {
            println!("audit chain BROKEN at event {event_id}: {reason}");
            Ok(EXIT_BROKEN)
        }
    }
}

async fn search(store: &Store, args: AuditQueryArgs) -> Result<u8> {
    let filter = AuditFilter {
        id: args.id,
        event: args.event,
        actor: args.actor,
        team: args.team,
        key: args.key,
        q: args.grep,
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    let query = store.audit_query(&filter, now_ms()).await.map_err(|e| match e {
        AuditFilterError::BadTime { field, message } => anyhow!("--{field}: {message}"),
        AuditFilterError::Store(e) => e.into(),
    })?;
    let events = store.audit_events(&query).await?;
    let mut out = io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let list: Vec<_> = events.iter().map(AuditEvent::to_json).collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        ListFormat::Human => {
            for e in &events {
                let mut scope = String::new();
                if let Some(team) = &e.team {
                    scope.push_str(&format!(" team={team}"));
                }
                if let Some(key) = e.key_id {
                    scope.push_str(&format!(" key={key}"));
                }
                writeln!(
                    out,
                    "{:>6}  {}  {:<16} {}{scope}  {}",
                    e.id,
                    format_ms(e.at),
                    e.event,
                    e.actor,
                    e.description
                )?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}
