//! The database failing under a running replica: a PostgreSQL session killed in the
//! middle of a revocation, the server unreachable for a while, and a SQLite file whose
//! write lock another process holds. Alerts get 503 (GitHub redelivers), nothing is
//! half-written, and the replica recovers by itself. Also: the PostgreSQL sockets have
//! Nagle's algorithm off.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::{TcpProxy, add_key, audit_counts, eventually, leak_rows, pg_addr, spawn_alert, through};
use crate::ops::{Served, Setup, TEAM};
use crate::serve::token;
use crate::testdb::{Backend, TestDb};
use revokd::store::{ChainStatus, Db, KeyStatus, Store, nodelay_to};

/// A PostgreSQL test database with team `acme` and one key per token.
async fn postgres_with_keys(tokens: &[&str]) -> (TestDb, Store, Vec<i64>) {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    store.create_team(TEAM, &["owner@example.com".to_owned()], &[], "test").await.unwrap();
    let mut ids = Vec::new();
    for token in tokens {
        ids.push(add_key(&store, TEAM, token).await);
    }
    (db, store, ids)
}

/// Locks key `id`'s row from a session of the test's own: a revocation of that key
/// then waits in the middle of its transaction (its leak row written, the key update
/// blocked) until the returned connection rolls back.
pub async fn lock_key_row(url: &str, id: i64) -> PgConnection {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT id FROM api_keys WHERE id = $1 FOR UPDATE").bind(id).execute(&mut conn).await.unwrap();
    conn
}

/// Waits until some session of the database waits for a row lock. `conn` may be inside a
/// transaction (the blocker's), where PostgreSQL keeps the first `pg_stat_activity`
/// snapshot until the end: each poll clears it, or a first look taken before the
/// revocation blocked would be all it ever sees (a CI flake under load).
pub async fn wait_for_lock_waiter(conn: &mut PgConnection) {
    let deadline = Instant::now() + super::WAIT;
    loop {
        sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no revocation waited for the row lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that nothing of a report of key `id` was written.
async fn untouched(store: &Store, id: i64) {
    assert_eq!(store.key(id).await.unwrap().status, KeyStatus::Active);
    let counts = audit_counts(store, id).await;
    assert_eq!(counts.len(), 1, "only key.imported: {counts:?}");
    assert!(leak_rows(store).await.iter().all(|(key, _)| *key != Some(id)), "no leak row for key {id}");
    assert!(store.notices(None).await.unwrap().iter().all(|n| n.key_id != Some(id)), "no notice for key {id}");
}

async fn readyz(served: &Served) -> u16 {
    reqwest::get(served.url("/readyz")).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_session_killed_mid_revocation_gets_503_writes_nothing_and_recovers() {
    let leaked = token("terminated mid-transaction");
    let (db, store, ids) = postgres_with_keys(&[&leaked]).await;
    let served = Served::start(Setup { database_url: Some(db.url.clone()), ..Setup::default() }).await;

    let mut blocker = lock_key_row(&db.url, ids[0]).await;
    let alert = spawn_alert(&served, &[&leaked]);
    wait_for_lock_waiter(&mut blocker).await;
    // Every session of the replica, the one inside the revocation included.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut blocker)
    .await
    .unwrap();
    let (status, body) = alert.await.unwrap();
    assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let store = reconnect(store, &db.url).await;
    untouched(&store, ids[0]).await;

    // GitHub redelivers: the replica serves it on fresh connections, once.
    let (status, body) = served.post_alert(&[&leaked]).await;
    assert_eq!((status, body[0]["label"].as_str()), (200, Some("true_positive")), "{body}");
    assert_eq!(store.key(ids[0]).await.unwrap().status, KeyStatus::Disabled);
    assert_eq!(audit_counts(&store, ids[0]).await.get("key.disabled"), Some(&1));
    assert_eq!(readyz(&served).await, 200);
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    store.close().await;
}

/// The test's own pool was terminated with the rest; a fresh one.
/// Every pooled PostgreSQL connection has `TCP_NODELAY` (sqlx 0.9.0 leaves it off, and
/// a batch statement larger than a segment then waits 40 ms for a delayed ACK). The
/// store connects through a proxy so its sockets are the only ones with that peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_have_nodelay() {
    let db = TestDb::new(Backend::Postgres).await;
    db.store().await.close().await;
    let proxy = TcpProxy::start(pg_addr(&db.url)).await;
    let store = Store::open(&through(&proxy, &db.url)).await.unwrap();
    let Db::Postgres(pool) = store.db() else { panic!("a PostgreSQL store") };
    // Hold several connections at once so the pool opens more than one.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.unwrap());
    }
    let (all_nodelay, sockets) = nodelay_to(&[proxy.addr]);
    assert!(sockets >= 3, "{sockets} sockets to the proxy");
    assert!(all_nodelay, "a PostgreSQL socket without TCP_NODELAY");
    drop(held);
    store.close().await;
}

async fn reconnect(old: Store, url: &str) -> Store {
    old.close().await;
    Store::open(url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_for_a_while_gets_503_then_the_replica_recovers() {
    let (before, during, cut_mid) = (token("before the cut"), token("during the cut"), token("cut mid-transaction"));
    let (db, store, ids) = postgres_with_keys(&[&before, &during, &cut_mid]).await;
    let proxy = TcpProxy::start(pg_addr(&db.url)).await;
    let served = Served::start(Setup { database_url: Some(through(&proxy, &db.url)), ..Setup::default() }).await;
    assert_eq!(served.post_alert(&[&before]).await.0, 200);

    // The network fails in the middle of a revocation.
    let mut blocker = lock_key_row(&db.url, ids[2]).await;
    let alert = spawn_alert(&served, &[&cut_mid]);
    wait_for_lock_waiter(&mut blocker).await;
    proxy.cut();
    let (status, body) = alert.await.unwrap();
    assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Down for a while (connections refused): every alert gets 503 within the pool's
    // 3 s acquire timeout, the load balancer sees /readyz fail.
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(2) {
        let started = Instant::now();
        let (status, body) = served.post_alert(&[&during]).await;
        assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
        assert!(started.elapsed() < Duration::from_secs(5), "bounded by the pool's acquire timeout");
        assert_eq!(readyz(&served).await, 503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    untouched(&store, ids[1]).await;
    untouched(&store, ids[2]).await;
    assert!(!served.stderr().contains("panicked"), "{}", served.stderr());

    proxy.restore().await;
    eventually("the replica is ready again", || async { readyz(&served).await == 200 }).await;
    for (leaked, id) in [(&during, ids[1]), (&cut_mid, ids[2])] {
        let (status, body) = served.post_alert(&[leaked]).await;
        assert_eq!((status, body[0]["label"].as_str()), (200, Some("true_positive")), "{body}");
        let counts = audit_counts(&store, id).await;
        assert_eq!((counts.get("key.disabled"), counts.get("leak.reported")), (Some(&1), Some(&1)), "{counts:?}");
    }
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    store.close().await;
}

/// Another process holding SQLite's write lock (`BEGIN IMMEDIATE`), as a second
/// `revokd` or an operator's `sqlite3` shell would. Released on [`SqliteWriteLock::release`].
struct SqliteWriteLock(Child);

impl SqliteWriteLock {
    fn hold(db: &Path) -> SqliteWriteLock {
        const SCRIPT: &str = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
            c.execute('BEGIN IMMEDIATE')\n\
            print('locked', flush=True)\n\
            sys.stdin.read()\n\
            c.execute('ROLLBACK')\n";
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", SCRIPT])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        SqliteWriteLock(child)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for SqliteWriteLock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_waits_bounded_and_never_corrupts() {
    let served = Served::start(Setup::default()).await;
    let tokens: Vec<String> = (0..4).map(|i| token(&format!("sqlite lock {i}"))).collect();
    let mut ids = Vec::new();
    for t in &tokens {
        ids.push(served.add_key(t, "xai_api_key").await);
    }
    let file = served.dir.path().join("revokd.db");

    // A short hold: concurrent alerts wait for it, then all succeed.
    let lock = SqliteWriteLock::hold(&file);
    let mut waiting = Vec::new();
    for t in &tokens[..3] {
        waiting.push(spawn_alert(&served, &[t]));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(waiting.iter().all(|w| !w.is_finished()), "alerts wait while another process writes");
    lock.release();
    for alert in waiting {
        let (status, body) = alert.await.unwrap();
        assert_eq!((status, body[0]["label"].as_str()), (200, Some("true_positive")), "{body}");
    }

    // A hold past the busy timeout (10 s): 503 after a bounded wait, nothing written.
    let lock = SqliteWriteLock::hold(&file);
    let started = Instant::now();
    let (status, body) = served.post_alert(&[&tokens[3]]).await;
    let waited = started.elapsed();
    assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(25), "{waited:?}");
    lock.release();
    let store = served.store().await;
    untouched(&store, ids[3]).await;
    let (status, _) = served.post_alert(&[&tokens[3]]).await;
    assert_eq!(status, 200);

    for id in &ids {
        let counts = audit_counts(&store, *id).await;
        assert_eq!(counts.get("key.disabled"), Some(&1), "{counts:?}");
    }
    let Db::Sqlite { pool, .. } = store.db() else { unreachable!("a SQLite replica") };
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(pool).await.unwrap();
    assert_eq!(check, "ok");
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    store.close().await;
}
