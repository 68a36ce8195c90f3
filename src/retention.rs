//! The daemon's retention task: once a day, deletes leak records older than
//! `retention.days` (see [`Store::purge_leaks`]); every hour, scan-API jobs older than
//! that ([`Store::purge_scan_jobs`]). Replicas sharing a database purge leaks once a day
//! between them: the store skips a purge when one was audited within the last day.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::Store;

/// The audit actor of purges the daemon runs.
pub const RETENTION_ACTOR: &str = "revokd:retention";

/// How often the task asks the store whether a purge is due.
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// At most one purge per this interval, across replicas.
const PURGE_EVERY_MS: i64 = 86_400_000;

/// Starts the task: a first check at once, then hourly. Errors (database down) are
/// logged and retried at the next check.
pub fn spawn(store: Store, days: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut checks = tokio::time::interval(CHECK_EVERY);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            checks.tick().await;
            match store.purge_leaks_unless_purged_within(days, RETENTION_ACTOR, PURGE_EVERY_MS).await {
                Ok(Some(deleted)) => tracing::info!(deleted, retention_days = days, "old leak records purged"),
                Ok(None) => tracing::debug!("leak purge not due: one ran within the last day"),
                Err(error) => tracing::warn!(%error, "leak retention purge failed; retrying in an hour"),
            }
            match store.purge_scan_jobs(days).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "old scan jobs purged"),
                Err(error) => tracing::warn!(%error, "scan job purge failed; retrying in an hour"),
            }
        }
    })
}
