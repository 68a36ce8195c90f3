//! `Store::report_leak`, the one revocation transaction, and the retention purge.

use std::sync::Arc;

use revokd::secret::Secret;
use revokd::store::{AuditQuery, ChainStatus, KeyOrigin, KeyStatus, LeakOutcome, LeakReport, NoticeKind, Store};

use crate::both_backends;
use crate::store_keys::{new_key, team_with_key};
use crate::testdb::{Backend, TestDb, pepper, raw_sql, xai_token};

both_backends!(
    leak_of_an_active_key_disables_it_once,
    leak_outcomes_for_disabled_deleted_and_unknown_keys,
    concurrent_reports_disable_once_and_enqueue_once,
    purge_removes_only_old_leaks_and_is_audited,
    retention_task_purges_once_a_day_across_replicas,
    keys_never_stored_in_clear,
    a_batch_records_what_one_by_one_reports_record,
);

fn report(token: &str, url: &str) -> LeakReport {
    LeakReport::new(&Secret::new(token), &pepper(), "xai_api_key", "github_partner", Some(url.to_string()), "github")
}

/// Leak notices written so far.
async fn leak_notices(store: &Store) -> usize {
    store.notices(None).await.unwrap().iter().filter(|n| n.kind == NoticeKind::Leak).count()
}

fn events(list: &[revokd::store::AuditEvent]) -> Vec<&str> {
    list.iter().map(|e| e.event.as_str()).collect()
}

async fn leak_of_an_active_key_disables_it_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let token = xai_token();
    let id = team_with_key(&store, &token).await;
    let before = store.audit_events(&AuditQuery::default()).await.unwrap().len();

    let outcome = store.report_leak(&report(&token, "https://github.com/o/r/blob/x")).await.unwrap();
    let LeakOutcome::DisabledNow(leaked) = &outcome else {
        panic!("expected DisabledNow, got {outcome:?}");
    };
    assert!(outcome.is_our_key());
    assert_eq!((leaked.key.id, leaked.key.status, leaked.sightings), (id, KeyStatus::Disabled, 1));
    assert!(leaked.key.disabled_reason.as_deref().unwrap().contains("https://github.com/o/r/blob/x"));

    // One owner notice for the key (the worker addresses and batches it).
    let notices = store.notices(None).await.unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].kind == NoticeKind::Leak && notices[0].key_id == Some(id) && notices[0].batched_at.is_none());
    assert!(notices[0].details.contains("https://github.com/o/r/blob/x"));
    assert!(!notices[0].details.contains(&token[4..]), "the notice must not carry the token");

    let log = store.audit_events(&AuditQuery::default()).await.unwrap();
    assert_eq!(events(&log[before..]), ["key.disabled", "leak.reported"]);
    assert_eq!(log[before].actor, "github");
    assert!(!log.iter().any(|e| e.details.contains(&token[4..])), "no token in the audit log");

    // The same token again: a repeat sighting, nothing new disabled or sent.
    let again = store.report_leak(&report(&token, "https://gist.github.com/y")).await.unwrap();
    let LeakOutcome::AlreadyDisabled(leaked) = &again else {
        panic!("expected AlreadyDisabled, got {again:?}");
    };
    assert_eq!(leaked.sightings, 2);
    assert_eq!(leak_notices(&store).await, 1);
    let log = store.audit_events(&AuditQuery::default()).await.unwrap();
    assert_eq!(events(&log[before..]), ["key.disabled", "leak.reported", "leak.repeat"]);
    assert!(log.last().unwrap().details.contains("gist.github.com"));

    // Restored by its owner and leaked again: disabled again, owners told again.
    store.restore_key(id, "false positive", "cli:alice").await.unwrap();
    let third = store.report_leak(&report(&token, "https://github.com/o/r2")).await.unwrap();
    assert!(matches!(third, LeakOutcome::DisabledNow(ref l) if l.sightings == 3), "{third:?}");
    assert_eq!(leak_notices(&store).await, 2);
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
}

async fn leak_outcomes_for_disabled_deleted_and_unknown_keys(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let disabled = xai_token();
    let id = team_with_key(&store, &disabled).await;
    store.disable_key(id, "rotated", "t").await.unwrap();
    let deleted = xai_token();
    let del_id =
        store.add_keys("payments", "xai_api_key", &[new_key(&deleted)], KeyOrigin::Imported, "t").await.unwrap()[0].id;
    store.delete_key(del_id, "gone", "t").await.unwrap();

    // Disabled by hand, then leaked: the owners still hear about the leak, once.
    let outcome = store.report_leak(&report(&disabled, "https://x/1")).await.unwrap();
    assert!(matches!(outcome, LeakOutcome::AlreadyDisabled(ref l) if l.sightings == 1), "{outcome:?}");
    assert_eq!(leak_notices(&store).await, 1);
    let key = store.key(id).await.unwrap();
    assert_eq!(key.disabled_reason.as_deref(), Some("rotated"), "reason kept");

    let outcome = store.report_leak(&report(&deleted, "https://x/2")).await.unwrap();
    assert!(matches!(outcome, LeakOutcome::Deleted(ref l) if l.key.id == del_id), "{outcome:?}");
    assert_eq!(leak_notices(&store).await, 1, "no email for a deleted key");

    let unknown = xai_token();
    let outcome = store.report_leak(&report(&unknown, "https://x/3")).await.unwrap();
    assert!(matches!(outcome, LeakOutcome::UnknownToken { sightings: 1, .. }), "{outcome:?}");
    assert!(!outcome.is_our_key());
    let outcome = store.report_leak(&report(&unknown, "https://x/3")).await.unwrap();
    assert!(matches!(outcome, LeakOutcome::UnknownToken { sightings: 2, .. }), "{outcome:?}");
    let last = store.audit_events(&AuditQuery::default()).await.unwrap();
    let last = last.last().unwrap();
    assert_eq!((last.event.as_str(), last.key_id, last.team_id), ("leak.repeat", None, None));
    assert!(last.details.contains(&revokd::secret::sha256_hex(unknown.as_bytes())));
}

/// Reports the same token from many tasks on two independent stores (two pools, as two
/// replicas would have) at once.
async fn concurrent_reports_disable_once_and_enqueue_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = db.store().await;
    let second = Store::open(&db.url).await.unwrap();
    let token = xai_token();
    let id = team_with_key(&first, &token).await;
    let report = Arc::new(report(&token, "https://github.com/o/r"));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { first.clone() } else { second.clone() };
            let report = Arc::clone(&report);
            tokio::spawn(async move { store.report_leak(&report).await })
        })
        .collect();
    let mut disabled_now = 0;
    let mut sightings = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            LeakOutcome::DisabledNow(l) => {
                disabled_now += 1;
                sightings.push(l.sightings);
            }
            LeakOutcome::AlreadyDisabled(l) => sightings.push(l.sightings),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(disabled_now, 1);
    sightings.sort_unstable();
    assert_eq!(sightings, (1..=16).collect::<Vec<_>>());
    assert_eq!(leak_notices(&first).await, 1, "one notice");
    let log = first.audit_events(&AuditQuery { key_id: Some(id), ..Default::default() }).await.unwrap();
    let count = |name| log.iter().filter(|e| e.event == name).count();
    assert_eq!((count("key.disabled"), count("leak.reported"), count("leak.repeat")), (1, 1, 15));
    assert!(matches!(first.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
}

async fn purge_removes_only_old_leaks_and_is_audited(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let old = xai_token();
    team_with_key(&store, &old).await;
    store.report_leak(&report(&old, "https://old")).await.unwrap();
    store.report_leak(&report(&xai_token(), "https://recent")).await.unwrap();
    let forty_days_ago = revokd::store::now_ms() - 40 * 86_400_000;
    raw_sql(
        &store,
        &format!(
            "UPDATE leaks SET first_seen = {forty_days_ago}, last_seen = {forty_days_ago} WHERE url = 'https://old'"
        ),
    )
    .await;

    assert_eq!(store.purge_leaks(30, "cli:t").await.unwrap(), 1);
    assert_eq!(store.purge_leaks(30, "cli:t").await.unwrap(), 0);
    let purges =
        store.audit_events(&AuditQuery { event: Some("leaks.purged".into()), ..Default::default() }).await.unwrap();
    assert_eq!(purges.len(), 2);
    assert!(purges[0].description.starts_with("1 leak record(s)"), "{}", purges[0].description);
    // The audit trail of the purged leak is kept.
    let reported =
        store.audit_events(&AuditQuery { grep: Some("https://old".into()), ..Default::default() }).await.unwrap();
    assert_eq!(events(&reported), ["key.disabled", "leak.reported"]);
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
}

/// The daemon's retention task purges old leaks at start; a second replica's task on
/// the same database finds a purge within the day and writes nothing.
async fn retention_task_purges_once_a_day_across_replicas(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.report_leak(&report(&xai_token(), "https://old")).await.unwrap();
    let forty_days_ago = revokd::store::now_ms() - 40 * 86_400_000;
    raw_sql(&store, &format!("UPDATE leaks SET first_seen = {forty_days_ago}, last_seen = {forty_days_ago}")).await;
    let purges = || async {
        store.audit_events(&AuditQuery { event: Some("leaks.purged".into()), ..Default::default() }).await.unwrap()
    };

    let first = revokd::retention::spawn(store.clone(), 30);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while purges().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no purge within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.abort();
    let done = purges().await;
    assert_eq!(
        (done[0].actor.as_str(), done[0].description.starts_with("1 leak record(s)")),
        ("revokd:retention", true)
    );

    // The second replica's first check runs at once and must skip.
    assert_eq!(store.purge_leaks_unless_purged_within(30, "replica-2", 86_400_000).await.unwrap(), None);
    let second = revokd::retention::spawn(store.clone(), 30);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    second.abort();
    assert_eq!(purges().await.len(), 1);
}

/// Neither the database file (SQLite, with its WAL) nor any row (PostgreSQL) holds a key
/// in clear, and the stored hash is the peppered HMAC, not a plain SHA-256.
async fn keys_never_stored_in_clear(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let token = xai_token();
    team_with_key(&store, &token).await;
    store.report_leak(&report(&token, "https://leak")).await.unwrap();
    let body = &token[4..];
    let plain_sha = revokd::secret::sha256_hex(token.as_bytes());
    match db.sqlite_file() {
        Some(file) => {
            let mut bytes = std::fs::read(&file).unwrap();
            if let Ok(wal) = std::fs::read(file.with_extension("db-wal")) {
                bytes.extend(wal);
            }
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(body), "token body found in the SQLite file");
            assert!(text.contains(&pepper().key_hash(&token)), "the HMAC is what is stored");
        }
        None => {
            let rows: Vec<(String,)> = match store.db() {
                revokd::store::Db::Postgres(pool) => sqlx::query_as(
                    "SELECT row_to_json(t)::text FROM api_keys t UNION ALL SELECT row_to_json(t)::text FROM leaks t \
                     UNION ALL SELECT row_to_json(t)::text FROM audit_events t UNION ALL SELECT row_to_json(t)::text FROM outbox t",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
                revokd::store::Db::Sqlite { .. } => unreachable!("sqlite has a file"),
            };
            let all: String = rows.into_iter().map(|(r,)| r).collect();
            assert!(!all.contains(body), "token body found in a row");
            assert!(all.contains(&pepper().key_hash(&token)));
        }
    }
    let key = store.find_key_by_hash(&plain_sha).await.unwrap();
    assert!(key.is_none(), "a plain SHA-256 of the token must not find the key");
}

/// `report_leaks` on a batch (repeated tokens, several teams, every key state) leaves the
/// same outcomes, rows, mails and audit events as `report_leak` once per report, in order.
async fn a_batch_records_what_one_by_one_reports_record(backend: Backend) {
    let tokens: Vec<String> = (0..5).map(|_| xai_token()).collect();
    let [k1, k2, k3, k4, unknown] = [0, 1, 2, 3, 4].map(|i| tokens[i].as_str());
    let reports = [
        report(k1, "https://x/1"),
        report(k1, "https://x/2"),
        report(unknown, "https://x/3"),
        report(k2, "https://x/4"),
        report(k3, "https://x/5"),
        report(k3, "https://x/6"),
        report(unknown, "https://x/7"),
        report(k4, "https://x/8"),
        report(k1, "https://x/9"),
        report(k2, "https://x/10"),
    ];
    let mut results = Vec::new();
    for batched in [true, false] {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        team_with_key(&store, k1).await;
        store.create_team("search", &["dave@example.com".into()], &[], "test").await.unwrap();
        let add = |team: &'static str, token: &str| {
            let store = store.clone();
            let key = new_key(token);
            async move { store.add_keys(team, "xai_api_key", &[key], KeyOrigin::Issued, "test").await.unwrap()[0].id }
        };
        add("search", k2).await;
        let id3 = add("search", k3).await;
        store.disable_key(id3, "rotated", "t").await.unwrap();
        let id4 = add("payments", k4).await;
        store.delete_key(id4, "gone", "t").await.unwrap();
        // A repeat sighting of a token reported before the batch.
        store.report_leak(&report(k3, "https://x/0")).await.unwrap();

        let outcomes = if batched {
            store.report_leaks(&reports).await.unwrap()
        } else {
            let mut outcomes = Vec::new();
            for r in &reports {
                outcomes.push(store.report_leak(r).await.unwrap());
            }
            outcomes
        };
        // Leak ids may differ (PostgreSQL spends identity values on conflicts): compare
        // their order of first appearance instead.
        let mut leak_ids = Vec::new();
        let mut rank = |id: i64| match leak_ids.iter().position(|&x| x == id) {
            Some(i) => i,
            None => {
                leak_ids.push(id);
                leak_ids.len() - 1
            }
        };
        let outcomes: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                LeakOutcome::DisabledNow(l) | LeakOutcome::AlreadyDisabled(l) | LeakOutcome::Deleted(l) => format!(
                    "{} key {} {} {:?} leak {} sighting {}",
                    if matches!(o, LeakOutcome::DisabledNow(_)) { "now" } else { "before" },
                    l.key.id,
                    l.key.status,
                    l.key.disabled_reason,
                    rank(l.leak_id),
                    l.sightings
                ),
                LeakOutcome::UnknownToken { leak_id, sightings } => {
                    format!("unknown leak {} sighting {sightings}", rank(*leak_id))
                }
            })
            .collect();
        let mails: Vec<_> = store
            .notices(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.kind == NoticeKind::Leak)
            .map(|n| format!("{:?} {:?} {:?}", n.kind, n.team_id, n.key_id))
            .collect();
        let log: Vec<_> = store
            .audit_events(&AuditQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {} {:?} {:?} {}", e.event, e.actor, e.team_id, e.key_id, e.description))
            .collect();
        let leaks = raw_leaks(&store).await;
        assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
        results.push((outcomes, mails, log, leaks));
    }
    assert_eq!(results[0].0, results[1].0, "outcomes");
    assert_eq!(results[0].1, results[1].1, "notices");
    assert_eq!(results[0].2, results[1].2, "audit log");
    assert_eq!(results[0].3, results[1].3, "leak rows");
    assert_eq!(results[0].1.len(), 3, "k1 and k2 newly disabled; k3's first sighting came before the batch");
}

/// `(key_id, token_type, source, url, reporter, sightings)` of every leak row, by url.
async fn raw_leaks(store: &Store) -> Vec<(Option<i64>, String, String, Option<String>, String, i64)> {
    const SQL: &str = "SELECT key_id, token_type, source, url, reporter, sightings FROM leaks ORDER BY url";
    match store.db() {
        revokd::store::Db::Sqlite { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
        revokd::store::Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
    }
}
