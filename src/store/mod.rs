//! The key store: teams, API keys (by hash only), leaks, the outbox and the audit log,
//! on SQLite or PostgreSQL through `sqlx`. All of revokd's SQL lives in this module.
//!
//! Both backends run the same statements (`$1`-style binds work on both) through the
//! [`Conn`] enum; only connecting, locking and migrations differ, and the batch
//! statements of a leak report: SQLite gets one statement built with a row of binds per
//! item ([`placeholders`]), PostgreSQL one cached statement with one array bind per
//! column (`= ANY($1)`, `UNNEST`), so each is one round trip under the write lock
//! instead of a parse-and-describe round trip plus an execute round trip.
//!
//! Concurrency: every write runs in a transaction opened by `Store::begin_write` (on
//! SQLite, after this process's writer turn) through [`Db::begin_write`], which
//! serialises writers — `BEGIN IMMEDIATE` on SQLite (across processes, waiting up to the
//! busy timeout), a transaction-scoped advisory lock on PostgreSQL (across replicas).
//! That lock is what keeps the audit log one linear hash chain; row constraints
//! (unique `key_hash`, `token_hash`, `dedupe_key`, conditional status updates) keep the
//! data right even without it. Reads take no lock.

mod audit;
mod audit_filter;
mod checkpoint;
mod deliveries;
mod keys;
mod leak_search;
mod leaks;
mod migrate;
mod nodelay;
mod notices;
mod outbox;
mod overview;
mod scan_jobs;
mod scanned_blobs;
mod teams;

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

pub use audit::{
    AuditEvent, AuditQuery, ChainBreak, ChainStatus, EventKind, GENESIS_HASH, NewEvent, canonical_encoding, chain_hash,
    event_hash,
};
pub use audit_filter::{AuditFilter, AuditFilterError};
pub use checkpoint::{WalCheckpointer, WalStep};
pub use keys::{KeyFilter, KeyOrigin, KeyRecord, KeyStatus, NewKey};
pub use leak_search::{LeakFilter, LeakRecord};
pub use leaks::{LeakOutcome, LeakReport, LeakedKey};
pub use nodelay::nodelay_to;
pub use notices::{ComposedMail, Notice, NoticeBatch, NoticeComposer, NoticeKind};
pub use outbox::{Delivery, OutboxBacklog, OutboxRow, OutboxStatus};
pub use overview::SourceCount;
pub use scan_jobs::{CancelOutcome, NewScanJob, ScanJob, status as scan_status};
pub use teams::{Member, Role, TeamSummary};

/// How long a SQLite writer waits for another process's write transaction before
/// failing with "database is locked". Long enough to ride out a burst of CLI commands
/// and a daemon; short enough that a stuck lock surfaces as an error.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite page cache per connection, as `PRAGMA cache_size` (negative: KiB): 32 MiB.
const SQLITE_CACHE_SIZE: &str = "-32768";

/// WAL pages after which a commit checkpoints (`PRAGMA wal_autocheckpoint`): 8,192
/// pages of 4 KiB, 32 MiB (SQLite's default is 1,000).
const SQLITE_WAL_AUTOCHECKPOINT: &str = "8192";

/// Result rows sqlx's SQLite thread may queue for the task that runs the statement
/// (sqlx's default is 50). A group commit's leak upsert and key disable return a row
/// per token, hundreds at a time; with 50 the database thread stopped every 50 rows,
/// under the write lock, until the Tokio task, queued behind the HTTP requests, took
/// them. Rows are small and each statement's are read to the end anyway.
const SQLITE_ROW_BUFFER: usize = 4096;

/// How long a PostgreSQL operation waits for a pooled connection. Connections are
/// held for milliseconds, so a longer wait means the server refuses or does not answer
/// new connections (sqlx retries a refused connect until this deadline): the alert then
/// gets its 503 (GitHub retries) after this bound, not after a 10 s one.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections per pool. SQLite serialises writers anyway (extra connections only serve
/// concurrent readers); PostgreSQL replicas each hold this many server connections.
const MAX_CONNECTIONS: u32 = 8;

/// Key of the PostgreSQL advisory lock that serialises writers (the audit chain head).
/// Any constant works as long as every replica uses the same one: b"revokd\0\x01".
const PG_CHAIN_LOCK: i64 = 0x7265_766f_6b64_0001;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (expected sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    #[error("team {0:?} already exists")]
    TeamExists(String),
    #[error("no team named {0:?}")]
    TeamNotFound(String),
    #[error("invalid team name {0:?} (1-64 characters: letters, digits, '.', '_', '-')")]
    InvalidTeamName(String),
    #[error("invalid email address {0:?}")]
    InvalidEmail(String),
    #[error("a team needs at least one admin")]
    NoAdmin,
    #[error("{email} is not a member of team {team}")]
    MemberNotFound { team: String, email: String },
    #[error("{email} is already {role} of team {team}")]
    MemberExists { team: String, email: String, role: Role },
    #[error("{email} is the last admin of team {team}; add another admin first")]
    LastAdmin { team: String, email: String },
    #[error("no key with id {0}")]
    KeyNotFound(i64),
    #[error("key {id} is {status}: cannot {action} it")]
    KeyState { id: i64, status: KeyStatus, action: &'static str },
    #[error("key #{position} of the batch is already stored (key id {existing})")]
    DuplicateKey { position: usize, existing: i64 },
    #[error("a reason is required")]
    EmptyReason,
    #[error("database holds an invalid value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the database could not be reached or answered in time: a retry later
    /// may succeed, and an HTTP caller should answer 503 (nothing was written).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::WorkerCrashed
            )
        ) || self.is_busy()
            || self.is_connection_lost()
    }

    /// PostgreSQL ended the session or refused it for now: SQLSTATE class 08 (connection
    /// exception), 57P01–57P03 (terminated by an administrator, crash or fast shutdown,
    /// server starting up) and 53300 (too many connections). The server said so in an
    /// error message before closing, so sqlx reports a database error, not an I/O one;
    /// the transaction was rolled back with the session.
    fn is_connection_lost(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some()
                    && e.code().is_some_and(|code| is_unavailable_sqlstate(&code))
            }
            _ => false,
        }
    }

    fn is_busy(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                // SQLITE_BUSY (5) / SQLITE_LOCKED (6), or one of their extended codes
                // (low byte), after the busy timeout ran out.
                let primary = e.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
                e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() && matches!(primary, Some(5 | 6))
            }
            _ => false,
        }
    }
}

/// SQLSTATEs (PostgreSQL) after which a retry may succeed: see
/// [`StoreError::is_unavailable`].
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Db {
    /// Reads go through `pool`; every write through `writer`, one connection, so the
    /// pages a write transaction touches stay in its cache for the next one (SQLite
    /// drops a connection's cache when another connection committed since it last ran,
    /// and a pool hands out its connections in turn). The same pool for `:memory:`.
    Sqlite {
        pool: SqlitePool,
        writer: SqlitePool,
    },
    Postgres(PgPool),
}

/// A transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// With this process's writer turn when [`Store::begin_write`] got it.
    Sqlite(Transaction<'static, Sqlite>, Option<WriterTurn>),
    Postgres(Transaction<'static, Postgres>),
}

/// This process's turn to write to a SQLite database (see [`Store::begin_write`]); the
/// next writer's turn starts when it is dropped.
pub type WriterTurn = tokio::sync::OwnedMutexGuard<()>;

/// A pooled connection on either backend (reads).
enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A borrowed connection: what every query function in this module runs on.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Tx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t, _) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            // The turn is dropped after the commit: the next writer finds the lock free.
            Tx::Sqlite(t, _turn) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

impl Pooled {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// Runs one statement with binds on a `&mut Conn`; evaluates to
/// `Result<u64 /* rows affected */, sqlx::Error>`.
macro_rules! execute {
    ($conn:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $conn {
            $crate::store::Conn::Sqlite(c) => sqlx::query($sql)$(.bind($bind))*
                .execute(&mut **c).await.map(|r| r.rows_affected()),
            $crate::store::Conn::Postgres(c) => sqlx::query($sql)$(.bind($bind))*
                .execute(&mut **c).await.map(|r| r.rows_affected()),
        }
    };
}

/// Runs a query on a `&mut Conn` and decodes rows into `$ty` (a `FromRow` type or a
/// tuple) with `$fetch` = `fetch_one`, `fetch_optional` or `fetch_all`.
macro_rules! fetch {
    ($conn:expr, $fetch:ident, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $conn {
            $crate::store::Conn::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*
                .$fetch(&mut **c).await,
            $crate::store::Conn::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*
                .$fetch(&mut **c).await,
        }
    };
}

pub(crate) use {execute, fetch};

/// A bind value of a statement built at run time (multi-row inserts, `IN` lists).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

/// Most bind variables one built statement takes: SQLite's default
/// `SQLITE_MAX_VARIABLE_NUMBER` (PostgreSQL allows 65,535). Longer batches are chunked.
pub(crate) const MAX_BINDS: usize = 32_766;

/// How many rows of `cols` binds fit in one statement beside `shared` fixed binds.
pub(crate) fn rows_per_statement(cols: usize, shared: usize) -> usize {
    ((MAX_BINDS - shared) / cols.max(1)).max(1)
}

/// `($first, …, $n<tail>), (…)`: `rows` groups of `cols` placeholders numbered from
/// `first`, each followed by `tail` (fixed SQL such as `, 'pending', $1`). Only
/// placeholders and the caller's constant text: never input.
pub(crate) fn placeholders(first: usize, rows: usize, cols: usize, tail: &str) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(rows * (cols * 7 + tail.len() + 4));
    let mut n = first;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..cols {
            if col > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${n}");
            n += 1;
        }
        sql.push_str(tail);
        sql.push(')');
    }
    sql
}

/// Rewrites a built statement's `$N` placeholders for SQLite: integers are written into
/// the text as literals (they cannot inject anything), text becomes an anonymous `?`
/// with its argument repeated in the order of use (one parameter per text placeholder,
/// so a statement within [`MAX_BINDS`] stays within it).
///
/// Why: SQLite resolves a *named or numbered* parameter (`$7`, `?7`) by scanning the
/// list of the statement's names, both when it prepares the statement and each time sqlx
/// asks a parameter's name to bind it, so a statement of n such parameters costs O(n²);
/// a group commit's insert has thousands. Anonymous `?` parameters are not in that list.
/// `$` inside a quoted literal is left alone (built statements only hold constant
/// literals, but the rewrite must not depend on that).
fn sqlite_positional<'a>(sql: &str, args: &[Arg<'a>]) -> Result<(String, Vec<Arg<'a>>), sqlx::Error> {
    use std::fmt::Write;
    let mut out = String::with_capacity(sql.len());
    let mut ordered = Vec::with_capacity(args.len());
    let mut chars = sql.char_indices().peekable();
    let mut quoted = false;
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '$' if !quoted && chars.peek().is_some_and(|(_, c)| c.is_ascii_digit()) => {
                let start = i + 1;
                let mut end = start;
                while let Some(&(j, c)) = chars.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    end = j + 1;
                    chars.next();
                }
                let arg = sql[start..end]
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| args.get(n))
                    .ok_or_else(|| {
                        sqlx::Error::Protocol(format!("placeholder ${} has no argument", &sql[start..end]))
                    })?;
                match *arg {
                    // Parenthesised: `x - $1` must not become the comment `x --1`.
                    Arg::Int(Some(v)) => {
                        let _ = write!(out, "({v})");
                    }
                    Arg::Int(None) => out.push_str("NULL"),
                    Arg::Text(_) => {
                        ordered.push(*arg);
                        out.push('?');
                    }
                }
            }
            _ => out.push(ch),
        }
    }
    Ok((out, ordered))
}

/// Binds `args` in order to a `Query`/`QueryAs` of either backend.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                $crate::store::Arg::Int(v) => query.bind(v),
                $crate::store::Arg::Text(v) => query.bind(v),
            };
        }
        query
    }};
}

/// Runs a statement built at run time (see [`placeholders`]) and decodes its rows. Not
/// kept in the statement cache: its text varies with the batch size.
pub(crate) async fn fetch_built<T>(c: &mut Conn<'_>, sql: String, args: &[Arg<'_>]) -> Result<Vec<T>, sqlx::Error>
where
    T: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    match c {
        Conn::Sqlite(c) => {
            let (sql, args) = sqlite_positional(&sql, args)?;
            bind_args!(sqlx::query_as::<Sqlite, T>(sqlx::AssertSqlSafe(sql)).persistent(false), &args)
                .fetch_all(&mut **c)
                .await
        }
        Conn::Postgres(c) => {
            bind_args!(sqlx::query_as::<Postgres, T>(sqlx::AssertSqlSafe(sql)).persistent(false), args)
                .fetch_all(&mut **c)
                .await
        }
    }
}

/// [`fetch_built`] for a statement without rows; returns the rows affected.
pub(crate) async fn execute_built(c: &mut Conn<'_>, sql: String, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
    match c {
        Conn::Sqlite(c) => {
            let (sql, args) = sqlite_positional(&sql, args)?;
            bind_args!(sqlx::query::<Sqlite>(sqlx::AssertSqlSafe(sql)).persistent(false), &args)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected())
        }
        Conn::Postgres(c) => bind_args!(sqlx::query::<Postgres>(sqlx::AssertSqlSafe(sql)).persistent(false), args)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()),
    }
}

impl Db {
    /// Opens a pool for `url`. SQLite files are created if missing and use WAL, a busy
    /// timeout, `synchronous = FULL` (a reported leak survives power loss) and foreign
    /// keys. Connects lazily-but-checked: one connection is opened now so a bad URL or
    /// an unreachable server fails here.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .row_buffer_size(SQLITE_ROW_BUFFER)
                // A group commit touches hundreds of pages: keep them in SQLite's cache
                // (the default 2 MB spills mid-transaction and re-reads through
                // syscalls), keep statement journals in memory rather than in temporary
                // files, and checkpoint the WAL less often, so a page written by many
                // commits is copied into the database once.
                .pragma("cache_size", SQLITE_CACHE_SIZE)
                .pragma("temp_store", "memory")
                .pragma("wal_autocheckpoint", SQLITE_WAL_AUTOCHECKPOINT);
            // Each connection to `sqlite::memory:` is its own database: use one.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool_of = |connections| {
                SqlitePoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(SQLITE_BUSY_TIMEOUT + Duration::from_secs(5))
                    .connect_with(options.clone())
            };
            if in_memory {
                let pool = pool_of(1).await?;
                return Ok(Db::Sqlite { writer: pool.clone(), pool });
            }
            let writer = pool_of(1).await?;
            Ok(Db::Sqlite { pool: pool_of(MAX_CONNECTIONS).await?, writer })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let server = (options.get_host().to_owned(), options.get_port());
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                .after_connect(move |_, _| {
                    let server = server.clone();
                    Box::pin(async move {
                        // A Unix socket path resolves to nothing: no TCP, no Nagle.
                        let addrs: Vec<_> =
                            tokio::net::lookup_host(server).await.map(|a| a.collect()).unwrap_or_default();
                        nodelay::set_nodelay_to(&addrs);
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
        }
    }

    /// Starts a write transaction holding the store's write lock (see the module doc).
    /// Cost: one `BEGIN` round trip, plus one lock round trip on PostgreSQL.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self {
            Db::Sqlite { writer, .. } => Ok(Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?, None)),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_CHAIN_LOCK).execute(&mut *tx).await?;
                Ok(Tx::Postgres(tx))
            }
        }
    }

    async fn acquire(&self) -> Result<Pooled, StoreError> {
        Ok(match self {
            Db::Sqlite { pool, .. } => Pooled::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Pooled::Postgres(pool.acquire().await?),
        })
    }

    /// A connection for a single writing statement outside [`Db::begin_write`]: on
    /// SQLite the writer connection (see [`Db::Sqlite`]).
    async fn acquire_writer(&self) -> Result<Pooled, StoreError> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Pooled::Sqlite(writer.acquire().await?),
            Db::Postgres(pool) => Pooled::Postgres(pool.acquire().await?),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { pool, writer } => {
                writer.close().await;
                pool.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// The store: every operation on teams, keys, leaks, the outbox and the audit log.
/// Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// Woken after a commit that wrote owner notices, so an in-process notification
    /// worker starts at once instead of at its next poll.
    notices_written: std::sync::Arc<tokio::sync::Notify>,
    /// Queues this process's SQLite writers (see [`Store::begin_write`]).
    sqlite_writers: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Connects to `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (for `revokd db migrate`, which reports what it did).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            db: Db::connect(url).await?,
            notices_written: Default::default(),
            sqlite_writers: Default::default(),
        })
    }

    /// [`Db::begin_write`], and on SQLite first this process's writer turn: writers of
    /// one process (the group commit, the notification worker, CLI-driven API calls)
    /// wait for each other in a FIFO queue and start the moment the previous one
    /// commits, instead of polling SQLite's lock through its busy handler, which sleeps
    /// up to 100 ms between tries (a group commit that lost the lock to the email worker
    /// stalled every request in it that long). Other processes still meet the busy
    /// timeout. A turn not had within that timeout is not waited for further: the
    /// transaction then starts as before, under the busy handler alone.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        let turn = self.writer_turn().await;
        let mut tx = self.db.begin_write().await?;
        if let Tx::Sqlite(_, slot) = &mut tx {
            *slot = turn;
        }
        Ok(tx)
    }

    /// This process's writer turn on SQLite (`None` on PostgreSQL, whose advisory lock
    /// queues writers itself, or after [`SQLITE_BUSY_TIMEOUT`]). For single statements
    /// that write outside [`Store::begin_write`].
    pub(crate) async fn writer_turn(&self) -> Option<WriterTurn> {
        match self.db {
            Db::Sqlite { .. } => {
                let turn = std::sync::Arc::clone(&self.sqlite_writers).lock_owned();
                tokio::time::timeout(SQLITE_BUSY_TIMEOUT, turn).await.ok()
            }
            Db::Postgres(_) => None,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Resolves after this handle (or a clone) commits owner notices; a commit made
    /// while nobody waits is remembered for the next waiter.
    pub async fn notices_written(&self) {
        self.notices_written.notified().await;
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Current time as UTC milliseconds since the Unix epoch (the stored time format).
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Formats stored milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-29T04:06:00.123Z`).
pub fn format_ms(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| format!("{ms}ms"))
}

/// Parses `2026-11-29T04:06:00Z` (RFC 3339) or a relative time in the past such as
/// `24h`, `30m`, `7d` (see [`crate::config::parse_duration`]) into stored milliseconds.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(t) = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    match crate::config::parse_duration(text) {
        Ok(ago) => Ok(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => {
            Err(format!("invalid time {text:?} (expected RFC 3339 like 2026-01-31T12:00:00Z, or an age like 24h)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(2, 2, 3, ", 'x', $1"), "($2, $3, $4, 'x', $1), ($5, $6, $7, 'x', $1)");
        assert_eq!(placeholders(1, 1, 3, ""), "($1, $2, $3)");
        assert_eq!(rows_per_statement(10, 1), 3276);
    }

    #[test]
    fn sqlite_positional_inlines_integers_and_orders_text() {
        let args = [Arg::Int(Some(10)), Arg::Text(Some("a")), Arg::Text(Some("b"))];
        let with_null = [args[0], args[1], args[2], Arg::Int(None)];
        let (sql, ordered) = sqlite_positional("VALUES ($2, '$1', $3, $1), ($1, $4, $3)", &with_null).unwrap();
        assert_eq!(sql, "VALUES (?, '$1', ?, (10)), ((10), NULL, ?)");
        let shown: Vec<String> = ordered.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(shown, ["Text(Some(\"a\"))", "Text(Some(\"b\"))", "Text(Some(\"b\"))"]);
        assert!(sqlite_positional("VALUES ($4)", &args).is_err());
        assert!(sqlite_positional("VALUES ($0)", &args).is_err());
    }

    #[test]
    fn lost_postgres_sessions_are_unavailable_and_constraint_errors_are_not() {
        for code in ["08006", "08003", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "57014", "XX000"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn time_round_trip() {
        let ms = 1_764_388_800_123;
        let text = format_ms(ms);
        assert_eq!(text, "2025-11-29T04:00:00.123Z");
        assert_eq!(parse_time(&text, 0).unwrap(), ms);
        assert_eq!(parse_time("24h", 100_000_000).unwrap(), 100_000_000 - 86_400_000);
        assert!(parse_time("yesterday", 0).is_err());
    }

    /// `.cargo/config.toml` builds the bundled SQLite without the global mutexes of its
    /// memory statistics and shared page cache; this fails if that stops applying.
    #[tokio::test]
    async fn bundled_sqlite_is_built_without_global_memory_mutexes() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let Db::Sqlite { pool, .. } = &store.db else { panic!("sqlite::memory: opened another backend") };
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options").fetch_all(pool).await.unwrap();
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    }

    #[tokio::test]
    async fn in_memory_sqlite_is_one_database() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        store.create_team("t", &["a@example.com".into()], &[], "test").await.unwrap();
        // Several reads would hit several connections if the pool had more than one.
        for _ in 0..3 {
            assert_eq!(store.teams().await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn unsupported_url_is_refused() {
        let err = Store::open("mysql://u:pw@h/db").await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(ref u) if !u.contains("pw")), "{err}");
    }
}
