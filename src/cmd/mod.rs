//! Handlers of the store subcommands (`check-config`, `db`, `teams`, `keys`, `audit`):
//! each loads the configuration, opens the store and calls one library function.

mod audit;
mod generate;
mod hook;
mod keys;
mod notify;
mod scan_changes;
mod scan_git;
mod scans;
mod serve;
mod teams;

use std::future::Future;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::DbCommand;
use revokd::config::{Config, redact_url};
use revokd::pepper::Pepper;
use revokd::store::Store;

pub use audit::audit;
pub use generate::{completions, man};
pub use hook::hook;
pub use keys::keys;
pub use notify::notify;
pub use scan_changes::{scan_changes, ways_out};
pub use scan_git::scan_git;
pub use scans::scans;
pub use serve::{revoke_findings, serve};
pub use teams::teams;

/// Runs `future` on a single-threaded Tokio runtime: CLI commands make a handful of
/// queries, so one thread is all they need.
fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// Opens the configured database and applies pending migrations.
async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.database.url)
        .await
        .with_context(|| format!("opening database {}", redact_url(&config.database.url)))
}

/// The audit actor of this command: `cli:$USER` (or `$LOGNAME`), else `cli:unknown`.
fn actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{user}")
}

/// `revokd check-config`: validates the configuration (and the pepper file's permissions
/// if it exists) and prints it with secrets redacted.
pub fn check_config(config_path: Option<&Path>) -> Result<u8> {
    let config = Config::load(config_path)?;
    let pepper = config.pepper_file();
    if pepper.exists() {
        Pepper::load(&pepper)?;
    }
    print!("{}", config.to_redacted_toml());
    Ok(0)
}

/// `revokd db migrate` and `revokd db purge`.
pub fn db(config_path: Option<&Path>, command: DbCommand) -> Result<u8> {
    let config = Config::load(config_path)?;
    block_on(async {
        let url = redact_url(&config.database.url);
        let store = Store::connect(&config.database.url).await.with_context(|| format!("opening database {url}"))?;
        match command {
            DbCommand::Migrate => {
                let applied = store.migrate().await?;
                let all = store.applied_migrations().await?;
                match applied.as_slice() {
                    [] => println!("{url}: schema up to date (version {})", all.last().copied().unwrap_or(0)),
                    versions => println!(
                        "{url}: applied {} migration(s): {}",
                        versions.len(),
                        versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
            DbCommand::Purge { days } => {
                store.migrate().await?;
                let days = days.unwrap_or(config.retention.days);
                anyhow::ensure!(days > 0, "--days must be at least 1");
                let deleted = store.purge_leaks(days, &actor()).await?;
                println!("purged {deleted} leak record(s) last seen more than {days} day(s) ago");
                let jobs = store.purge_scan_jobs(days).await?;
                println!("purged {jobs} API scan job(s) created more than {days} day(s) ago");
            }
        }
        store.close().await;
        Ok(0)
    })
}
