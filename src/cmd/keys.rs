//! `revokd keys …`.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::{actor, block_on, open_store};
use crate::cli::{KeysCommand, ListFormat, StatusArg};
use revokd::config::Config;
use revokd::keygen::KeyFormats;
use revokd::patterns::RuleSet;
use revokd::pepper::Pepper;
use revokd::scan::Scanner;
use revokd::store::{KeyFilter, KeyOrigin, KeyRecord, KeyStatus, NewKey, StoreError, format_ms};

pub fn keys(config_path: Option<&Path>, command: KeysCommand) -> Result<u8> {
    let config = Config::load(config_path)?;
    match command {
        KeysCommand::Issue { team, key_type } => issue(&config, &team, &key_type),
        KeysCommand::Import { team, key_type } => import(&config, &team, &key_type),
        KeysCommand::List { team, status, format } => list(&config, team, status, format),
        KeysCommand::Disable { id, reason } => transition(&config, id, &reason, Change::Disable),
        KeysCommand::Restore { id, reason } => transition(&config, id, &reason, Change::Restore),
        KeysCommand::Delete { id, reason } => transition(&config, id, &reason, Change::Delete),
    }
}

/// The rule set of the configuration, as key formats.
fn key_formats(config: &Config) -> Result<KeyFormats> {
    let rules = RuleSet::load(&config.patterns.dirs)?;
    let scanner = Scanner::new(Arc::new(rules)).context("building the prefilter")?;
    Ok(KeyFormats::new(scanner))
}

fn pepper(config: &Config) -> Result<Pepper> {
    Ok(Pepper::load_or_create(&config.pepper_file())?)
}

fn issue(config: &Config, team: &str, key_type: &str) -> Result<u8> {
    let formats = key_formats(config)?;
    let token = formats.generate(key_type)?;
    let pepper = pepper(config)?;
    let key = NewKey { key_hash: pepper.key_hash(token.expose()), redacted: formats.redact(key_type, token.expose()) };
    let stored = block_on(async {
        let store = open_store(config).await?;
        let stored = store.add_keys(team, key_type, &[key], KeyOrigin::Issued, &actor()).await?;
        store.close().await;
        Ok(stored)
    })?;
    let mut out = io::stdout().lock();
    for k in &stored {
        writeln!(out, "issued {} key {} ({}) for team {}", k.key_type, k.id, k.redacted, k.team)?;
    }
    writeln!(out, "Copy the key now: it is shown only once (revokd stores only its hash).")?;
    writeln!(out, "{}", token.expose())?;
    out.flush()?;
    Ok(0)
}

fn import(config: &Config, team: &str, key_type: &str) -> Result<u8> {
    let formats = key_formats(config)?;
    formats.rule(key_type)?;
    let pepper = pepper(config)?;
    let mut keys = Vec::new();
    let mut lines_of_keys = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in io::stdin().lock().lines().enumerate() {
        let number = i + 1;
        let line = line.context("reading tokens from standard input")?;
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        formats.validate(key_type, token).with_context(|| format!("stdin line {number}"))?;
        let key_hash = pepper.key_hash(token);
        if let Some(first) = seen.insert(key_hash.clone(), number) {
            bail!("stdin line {number}: same token as line {first}");
        }
        keys.push(NewKey { key_hash, redacted: formats.redact(key_type, token) });
        lines_of_keys.push(number);
    }
    if keys.is_empty() {
        bail!("no tokens on standard input (one a line)");
    }
    let stored = block_on(async {
        let store = open_store(config).await?;
        let stored = store.add_keys(team, key_type, &keys, KeyOrigin::Imported, &actor()).await;
        store.close().await;
        match stored {
            Err(StoreError::DuplicateKey { position, existing }) => bail!(
                "stdin line {}: token already stored as key {existing}; nothing imported",
                lines_of_keys[position - 1]
            ),
            other => Ok(other?),
        }
    })?;
    let mut out = io::stdout().lock();
    for k in &stored {
        writeln!(out, "imported {} key {} ({}) for team {}", k.key_type, k.id, k.redacted, k.team)?;
    }
    writeln!(out, "{} key(s) imported", stored.len())?;
    Ok(0)
}

fn list(config: &Config, team: Option<String>, status: Option<StatusArg>, format: ListFormat) -> Result<u8> {
    let filter = KeyFilter {
        team,
        status: status.map(|s| match s {
            StatusArg::Active => KeyStatus::Active,
            StatusArg::Disabled => KeyStatus::Disabled,
            StatusArg::Deleted => KeyStatus::Deleted,
        }),
    };
    let keys = block_on(async {
        let store = open_store(config).await?;
        let keys = store.keys(&filter).await?;
        store.close().await;
        Ok(keys)
    })?;
    let mut out = io::stdout().lock();
    match format {
        ListFormat::Json => {
            let list: Vec<_> = keys.iter().map(KeyRecord::to_json).collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        ListFormat::Human => {
            writeln!(
                out,
                "{:>5}  {:<16} {:<14} {:<10} {:<8} {:<24}  REASON",
                "ID", "TEAM", "TYPE", "KEY", "STATUS", "CREATED"
            )?;
            for k in &keys {
                writeln!(
                    out,
                    "{:>5}  {:<16} {:<14} {:<10} {:<8} {:<24}  {}",
                    k.id,
                    k.team,
                    k.key_type,
                    k.redacted,
                    k.status,
                    format_ms(k.created_at),
                    k.disabled_reason.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

#[derive(Clone, Copy)]
enum Change {
    Disable,
    Restore,
    Delete,
}

fn transition(config: &Config, id: i64, reason: &str, change: Change) -> Result<u8> {
    let key = block_on(async {
        let store = open_store(config).await?;
        let actor = actor();
        let key = match change {
            Change::Disable => store.disable_key(id, reason, &actor).await,
            Change::Restore => store.restore_key(id, reason, &actor).await,
            Change::Delete => store.delete_key(id, reason, &actor).await,
        };
        store.close().await;
        Ok(key?)
    })?;
    println!("key {} ({}) of team {} is now {}", key.id, key.redacted, key.team, key.status);
    Ok(0)
}
