//! `revokd serve` and `revokd scan --revoke`: the two commands that run the revocation
//! core (the daemon's doors and the CLI door).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{actor, open_store};
use revokd::config::Config;
use revokd::daemon::reload::{self, ReloadSource};
use revokd::daemon::{Daemon, ServeOptions, logging};
use revokd::pepper::Pepper;
use revokd::revoke::{Door, LeakReport, Outcome, Revoker};
use revokd::scan::Scanner;
use revokd::scan::finding::Finding;

/// `revokd serve`: logging, migrations, rules, GitHub keys, HTTP listener; then
/// `READY=1` to systemd and serve until SIGTERM/Ctrl-C, reloading on SIGHUP.
pub fn serve(config_path: Option<&Path>, extra_pattern_dirs: Vec<PathBuf>) -> Result<u8> {
    let config = Config::load(config_path)?;
    let log = logging::init(&config.log);
    let mut dirs = config.patterns.dirs.clone();
    dirs.extend(extra_pattern_dirs.iter().cloned());
    let scanner = reload::compile_rules(&dirs)?;
    let options = ServeOptions::from_config(&config)?;
    let pepper = Pepper::load_or_create(&config.pepper_file())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let store = open_store(&config).await?;
        let daemon = Daemon::start(options, Arc::new(scanner), pepper, store.clone()).await?;
        if std::io::stderr().is_terminal() {
            eprintln!("revokd: listening on http://{}", daemon.local_addr());
        }
        let source = ReloadSource { config_path: config_path.map(Path::to_path_buf), extra_pattern_dirs, log };
        daemon.run_until_signalled(source, config).await?;
        store.close().await;
        Ok(0)
    })
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
