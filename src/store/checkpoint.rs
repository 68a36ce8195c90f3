//! SQLite WAL checkpoints off the commit path.
//!
//! Left to itself, SQLite checkpoints inside the commit that makes the WAL pass
//! `wal_autocheckpoint` pages: that commit copies every page of the WAL into the database
//! file and `fsync`s it before it returns, and each request of its group commit waits
//! (tens of milliseconds under load: the p99 of the webhook benchmark). The daemon
//! instead runs [`WalCheckpointer::step`] every few milliseconds on its own connection:
//!
//! 1. `PRAGMA wal_checkpoint(PASSIVE)` copies what it can without waiting for, or
//!    blocking, any reader or writer.
//! 2. Once the WAL holds [`WalCheckpointer::restart_at_frames`] frames, it takes this
//!    process's writer turn and runs `wal_checkpoint(RESTART)`, which copies the few
//!    frames written since step 1 and lets the next writer start the WAL from its
//!    beginning, so the file stops growing. In-process writers wait only for that
//!    remainder; readers and other processes are waited for at most
//!    [`RESTART_BUSY_TIMEOUT`], then the restart is tried again next step.
//!
//! Writers keep `wal_autocheckpoint` as the backstop (the CLI has no checkpointer, and
//! a stalled one must not let the WAL grow without bound).

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::{Db, Store, StoreError};

/// How long the restart waits for readers and other processes' writers before it
/// gives up until the next step (in-process writers wait behind it meanwhile).
pub const RESTART_BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// The checkpointer's own connection to the store's SQLite database.
pub struct WalCheckpointer {
    store: Store,
    conn: SqliteConnection,
    /// WAL length (frames) from which a step restarts the log.
    pub restart_at_frames: i64,
}

/// What one step did, from SQLite's answer to the last checkpoint it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalStep {
    /// Frames in the WAL when the checkpoint ended.
    pub frames: i64,
    /// Frames of those copied into the database file.
    pub checkpointed: i64,
    /// Whether the step ran `wal_checkpoint(RESTART)` and it completed: the next
    /// write starts the WAL from its beginning.
    pub restarted: bool,
}

impl WalCheckpointer {
    /// Opens the checkpointer's connection, or `None` on PostgreSQL (which checkpoints
    /// by itself) and on SQLite without a WAL (in memory).
    pub async fn open(store: &Store, restart_at_frames: i64) -> Result<Option<WalCheckpointer>, StoreError> {
        let Db::Sqlite { pool, .. } = store.db() else { return Ok(None) };
        let options: SqliteConnectOptions = (*pool.connect_options()).clone();
        let mut conn = options.busy_timeout(RESTART_BUSY_TIMEOUT).connect().await?;
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut conn).await?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.close().await?;
            return Ok(None);
        }
        Ok(Some(WalCheckpointer { store: store.clone(), conn, restart_at_frames }))
    }

    /// Copies the WAL into the database file and, once it is long, restarts it (see the
    /// module doc).
    pub async fn step(&mut self) -> Result<WalStep, StoreError> {
        let (_, frames, checkpointed) = self.checkpoint("PRAGMA wal_checkpoint(PASSIVE)").await?;
        if frames < self.restart_at_frames {
            return Ok(WalStep { frames, checkpointed, restarted: false });
        }
        let _turn = self.store.writer_turn().await;
        let (busy, frames, checkpointed) = self.checkpoint("PRAGMA wal_checkpoint(RESTART)").await?;
        Ok(WalStep { frames, checkpointed, restarted: busy == 0 })
    }

    /// Runs one `PRAGMA wal_checkpoint(…)`: (busy, WAL frames, frames checkpointed).
    async fn checkpoint(&mut self, pragma: &'static str) -> Result<(i64, i64, i64), StoreError> {
        Ok(sqlx::query_as(pragma).fetch_one(&mut self.conn).await?)
    }
}
