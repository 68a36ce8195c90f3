//! The daemon's SQLite WAL checkpointer (`WalCheckpointer`): it restarts the log while
//! writers commit, never loses or corrupts a write, gives way to a reader it cannot wait
//! for, and is not started where there is no WAL.

use std::time::{Duration, Instant};

use revokd::secret::Secret;
use revokd::store::{ChainStatus, LeakReport, Store, WalCheckpointer};
use sqlx::{Connection, SqliteConnection};

use crate::testdb::{Backend, TestDb, pepper, xai_token};

/// Records `count` leaks of unknown tokens in one transaction (leak rows and audit
/// events: a few dozen WAL frames).
async fn write_leaks(store: &Store, count: usize) {
    let reports: Vec<LeakReport> = (0..count)
        .map(|_| {
            let token = Secret::new(xai_token());
            LeakReport::new(&token, &pepper(), "xai_api_key", "github_partner", None, "github")
        })
        .collect();
    store.report_leaks(&reports).await.unwrap();
}

/// A fresh SQLite store and a checkpointer that restarts the log from `restart_at_frames`.
async fn sqlite_with_checkpointer(restart_at_frames: i64) -> (TestDb, Store, WalCheckpointer) {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let checkpointer =
        WalCheckpointer::open(&store, restart_at_frames).await.unwrap().expect("a checkpointer on SQLite");
    (db, store, checkpointer)
}

async fn leak_count(store: &Store) -> usize {
    store.leaks(&Default::default(), 100_000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_the_log_while_writers_commit_and_loses_nothing() {
    let (db, store, mut checkpointer) = sqlite_with_checkpointer(64).await;

    write_leaks(&store, 400).await;
    let grown = checkpointer.step().await.unwrap();
    assert!(grown.frames >= 64, "the test must grow the WAL past the threshold: {grown:?}");
    assert!(grown.restarted && grown.checkpointed == grown.frames, "{grown:?}");
    // The next write starts the log from its beginning.
    write_leaks(&store, 1).await;
    let after = checkpointer.step().await.unwrap();
    assert!(after.frames < grown.frames, "WAL not restarted: {grown:?} then {after:?}");

    // Writers and checkpoints at once, bounded: every write is kept, the chain intact.
    let writers = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                write_leaks(&store, 50).await;
            }
        })
    };
    let mut restarts = 0;
    for _ in 0..200 {
        if checkpointer.step().await.unwrap().restarted {
            restarts += 1;
        }
        if writers.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writers.await.unwrap();
    assert!(restarts > 0, "no restart while the writers ran");
    assert_eq!(leak_count(&store).await, 400 + 1 + 40 * 50);
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_way_to_a_reader_and_restarts_once_it_is_done() {
    let (db, store, mut checkpointer) = sqlite_with_checkpointer(1).await;
    write_leaks(&store, 50).await;

    // A reader holding its snapshot (a console page, another process): the restart
    // cannot complete and must not wait for it beyond its busy timeout.
    let mut reader = SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT COUNT(*) FROM leaks;").execute(&mut reader).await.unwrap();
    write_leaks(&store, 50).await;
    let started = Instant::now();
    let blocked = checkpointer.step().await.unwrap();
    assert!(!blocked.restarted, "{blocked:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?} for the reader", started.elapsed());
    // Writers go on meanwhile.
    write_leaks(&store, 1).await;

    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    assert!(checkpointer.step().await.unwrap().restarted);
    assert_eq!(leak_count(&store).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_started_on_postgres_or_in_memory() {
    let db = TestDb::new(Backend::Postgres).await;
    assert!(WalCheckpointer::open(&db.store().await, 1).await.unwrap().is_none());
    let memory = Store::open("sqlite::memory:").await.unwrap();
    assert!(WalCheckpointer::open(&memory, 1).await.unwrap().is_none());
}
