//! The daemon's SQLite WAL checkpoint task (see [`WalCheckpointer`]): keeps checkpoint
//! copies and `fsync`s out of the group commits that answer alerts.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::{Store, WalCheckpointer};

/// Gauge: frames in the SQLite WAL after the last checkpoint step (4 KiB each; it
/// should stay near [`RESTART_AT_FRAMES`] or below).
pub const WAL_FRAMES_METRIC: &str = "revokd_sqlite_wal_frames";
/// Counter: times the WAL was restarted (the next write starts it from its beginning).
pub const WAL_RESTARTS_METRIC: &str = "revokd_sqlite_wal_restarts_total";

/// How often the task checkpoints. Under load the WAL grows by a few MiB in this time.
const STEP_EVERY: Duration = Duration::from_millis(100);

/// WAL length from which the task restarts the log: 4,096 frames, 16 MiB of 4 KiB
/// pages (the writers' own `wal_autocheckpoint` backstop is 8,192).
const RESTART_AT_FRAMES: i64 = 4096;

/// Starts the task on SQLite; `None` on PostgreSQL or an in-memory database. A failing
/// step is logged once and retried every step; the writers' backstop checkpoints
/// meanwhile.
pub async fn spawn(store: &Store) -> Option<JoinHandle<()>> {
    let mut checkpointer = match WalCheckpointer::open(store, RESTART_AT_FRAMES).await {
        Ok(checkpointer) => checkpointer?,
        Err(error) => {
            tracing::warn!(%error, "WAL checkpointer not started; commits checkpoint by themselves");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let mut steps = tokio::time::interval(STEP_EVERY);
        steps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            steps.tick().await;
            match checkpointer.step().await {
                Ok(step) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("WAL checkpoints work again");
                    }
                    metrics::gauge!(WAL_FRAMES_METRIC).set(step.frames as f64);
                    if step.restarted {
                        metrics::counter!(WAL_RESTARTS_METRIC).increment(1);
                    }
                    tracing::trace!(?step, "WAL checkpoint");
                }
                // Once per outage, not every step.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "WAL checkpoint failed; retrying every step");
                }
                Err(_) => {}
            }
        }
    }))
}
