//! `revokd serve` and `revokd scan --revoke`: the two commands that run the revocation
//! core (the daemon's doors and the CLI door).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{actor, open_store};
use revokd::config::{Config, LogConfig, LogFormat, LogLevel};
use revokd::daemon::{Daemon, ServeOptions};
use revokd::pepper::Pepper;
use revokd::revoke::{Door, LeakReport, Outcome, Revoker};
use revokd::scan::Scanner;
use revokd::scan::finding::Finding;

/// `revokd serve`: migrations, GitHub keys, HTTP listener; runs until SIGTERM/Ctrl-C.
pub fn serve(config_path: Option<&Path>, scanner: Scanner) -> Result<u8> {
    let config = Config::load(config_path)?;
    init_logging(&config.log);
    let options = ServeOptions::from_config(&config)?;
    let pepper = Pepper::load_or_create(&config.pepper_file())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let store = open_store(&config).await?;
        let daemon = Daemon::start(options, Arc::new(scanner), pepper, store.clone()).await?;
        eprintln!("revokd: listening on http://{}", daemon.local_addr());
        daemon.run_until_signalled().await?;
        store.close().await;
        Ok(0)
    })
}

/// Daemon logs on stderr: `log.level`, JSON unless `log.format` says `text` (or `auto`
/// and stderr is a terminal). Log lines carry token hashes and row ids, never tokens.
fn init_logging(log: &LogConfig) {
    use std::io::IsTerminal;
    use tracing::level_filters::LevelFilter;
    let level = match log.level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    // A subscriber installed earlier (tests) wins; logging is never a reason to fail.
    let _ =
        if json { builder.json().try_init() } else { builder.with_ansi(std::io::stderr().is_terminal()).try_init() };
}

/// `revokd scan --revoke`: reports every revocable finding through the core (one
/// transaction for the whole scan) and prints, on stderr, what happened to each.
pub fn revoke_findings(config_path: Option<&Path>, scanner: Scanner, findings: &[Finding]) -> Result<()> {
    let revocable: Vec<&Finding> = findings.iter().filter(|f| f.revocable).collect();
    if revocable.is_empty() {
        return Ok(());
    }
    let config = Config::load(config_path)?;
    let pepper = Pepper::load_or_create(&config.pepper_file())?;
    super::block_on(async {
        let store = open_store(&config).await?;
        let revoker = Revoker::new(Arc::new(scanner), pepper, store.clone());
        let reporter = actor();
        let reports: Vec<LeakReport> = revocable
            .iter()
            .map(|f| LeakReport {
                token: f.secret.clone(),
                door: Door::Scan,
                location: format!("{}:{}", f.path, f.line),
                url: String::new(),
                reporter: reporter.clone(),
                received_at: Instant::now(),
            })
            .collect();
        let outcomes = revoker.report_leaked_tokens(&reports).await?;
        for (finding, outcome) in revocable.iter().zip(outcomes) {
            let what = match outcome {
                Outcome::DisabledNow { key_id } => format!("disabled key {key_id}"),
                Outcome::AlreadyDisabled { key_id } => format!("key {key_id} was already disabled"),
                Outcome::Deleted { key_id } => format!("key {key_id} was deleted"),
                Outcome::UnknownToken => "not a key of ours (recorded)".to_owned(),
                Outcome::NotOurFormat => "not a token we issue".to_owned(),
            };
            eprintln!("revokd: {} {} at {}:{}: {what}", finding.rule, finding.redacted, finding.path, finding.line);
        }
        store.close().await;
        Ok(())
    })
}
