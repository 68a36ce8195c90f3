//! The audit log: hash chain verification, tamper detection, search, concurrency.

use revokd::store::{AuditQuery, ChainBreak, ChainStatus, EventKind, NewEvent, Store};
use serde_json::json;

use crate::both_backends;
use crate::store_keys::team_with_key;
use crate::testdb::{Backend, TestDb, drop_audit_triggers, raw_sql, try_raw_sql, xai_token};

both_backends!(
    tampering_with_any_column_breaks_the_chain,
    deleting_an_event_breaks_the_chain,
    audit_table_is_append_only,
    search_filters,
    concurrent_appends_keep_one_chain,
);

fn event(n: usize) -> NewEvent {
    NewEvent {
        event: EventKind::ScanStarted,
        actor: format!("test:{n}"),
        team_id: None,
        key_id: None,
        description: format!("event number {n}"),
        details: json!({ "n": n, "nested": { "b": 1, "a": [1, 2] } }),
    }
}

async fn intact(store: &Store) -> u64 {
    match store.verify_audit().await.unwrap() {
        ChainStatus::Intact { events, .. } => events,
        broken => panic!("chain should be intact: {broken:?}"),
    }
}

async fn tampering_with_any_column_breaks_the_chain(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team_with_key(&store, &xai_token()).await;
    for n in 0..3 {
        store.record(&event(n)).await.unwrap();
    }
    let total = intact(&store).await;
    assert!(total >= 8);
    drop_audit_triggers(&store).await;
    let target = 5; // key.issued (after team.created and 3 member.added): has team and key
    let original = store.audit_events(&AuditQuery { id: Some(target), ..Default::default() }).await.unwrap().remove(0);
    assert_eq!(original.event, "key.issued");
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let edits = [
        ("at", (original.at + 1).to_string(), original.at.to_string()),
        ("event", q("key.imported"), q(&original.event)),
        ("actor", q("cli:mallory"), q(&original.actor)),
        ("team_id", "NULL".into(), original.team_id.unwrap().to_string()),
        ("key_id", "999".into(), original.key_id.unwrap().to_string()),
        ("description", q("nothing happened"), q(&original.description)),
        ("details", q("{}"), q(&original.details)),
        ("prev_hash", q(&"0".repeat(64)), q(&original.prev_hash)),
        ("hash", q(&"f".repeat(64)), q(&original.hash)),
    ];
    for (column, bad, good) in edits {
        raw_sql(&store, &format!("UPDATE audit_events SET {column} = {bad} WHERE id = {target}")).await;
        match store.verify_audit().await.unwrap() {
            ChainStatus::Broken { event_id, .. } => {
                assert_eq!(event_id, target, "tampered {column}: wrong event named")
            }
            ChainStatus::Intact { .. } => panic!("tampering with {column} was not detected"),
        }
        raw_sql(&store, &format!("UPDATE audit_events SET {column} = {good} WHERE id = {target}")).await;
        assert_eq!(intact(&store).await, total, "restoring {column} repairs the chain");
    }
    // Renumbering an event (the id is chained too).
    raw_sql(&store, &format!("UPDATE audit_events SET id = 1000 WHERE id = {total}")).await;
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        ChainStatus::Broken { event_id: 1000, reason: ChainBreak::HashMismatch { .. } }
    ));
}

async fn deleting_an_event_breaks_the_chain(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for n in 0..5 {
        store.record(&event(n)).await.unwrap();
    }
    drop_audit_triggers(&store).await;
    raw_sql(&store, "DELETE FROM audit_events WHERE id = 3").await;
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        ChainStatus::Broken { event_id: 4, reason: ChainBreak::PrevHashMismatch { .. } }
    ));
    raw_sql(&store, "DELETE FROM audit_events WHERE id = 1").await;
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        ChainStatus::Broken { event_id: 2, reason: ChainBreak::PrevHashMismatch { .. } }
    ));
}

async fn audit_table_is_append_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.record(&event(1)).await.unwrap();
    for sql in ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"] {
        let err = try_raw_sql(&store, sql).await.unwrap_err();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(intact(&store).await, 1);
}

async fn search_filters(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let key = team_with_key(&store, &xai_token()).await;
    store.create_team("ops", &["ops@example.com".into()], &[], "cli:bob").await.unwrap();
    store.disable_key(key, "Rotation 100% done", "cli:carol").await.unwrap();
    let search = |q: AuditQuery| {
        let store = store.clone();
        async move { store.audit_events(&q).await.unwrap().into_iter().map(|e| e.event).collect::<Vec<_>>() }
    };
    assert_eq!(
        search(AuditQuery { event: Some("key.*".into()), ..Default::default() }).await,
        ["key.issued", "key.disabled"]
    );
    assert_eq!(
        search(AuditQuery { actor: Some("cli:bob".into()), ..Default::default() }).await,
        ["team.created", "member.added"]
    );
    let ops = store.team_id("ops").await.unwrap();
    assert_eq!(search(AuditQuery { team_id: Some(ops), ..Default::default() }).await, ["team.created", "member.added"]);
    assert_eq!(search(AuditQuery { key_id: Some(key), ..Default::default() }).await, ["key.issued", "key.disabled"]);
    // Case-insensitive, and LIKE wildcards in the text are literal.
    assert_eq!(search(AuditQuery { grep: Some("rotation 100%".into()), ..Default::default() }).await, ["key.disabled"]);
    assert!(search(AuditQuery { grep: Some("rotation 1_0".into()), ..Default::default() }).await.is_empty());
    assert_eq!(search(AuditQuery { id: Some(2), ..Default::default() }).await, ["member.added"]);
    assert_eq!(search(AuditQuery { limit: Some(1), ..Default::default() }).await, ["team.created"]);
    let all = store.audit_events(&AuditQuery::default()).await.unwrap();
    let last_at = all.last().unwrap().at;
    assert!(search(AuditQuery { since: Some(last_at + 1), ..Default::default() }).await.is_empty());
    // Events can share a millisecond: the bounds are inclusive, so expect exactly those at `last_at`.
    let at_last: Vec<String> = all.iter().filter(|e| e.at == last_at).map(|e| e.event.clone()).collect();
    assert_eq!(at_last.last().map(String::as_str), Some("key.disabled"));
    assert_eq!(search(AuditQuery { since: Some(last_at), until: Some(last_at), ..Default::default() }).await, at_last);
    assert_eq!(search(AuditQuery { until: Some(all[0].at - 1), ..Default::default() }).await, Vec::<String>::new());
    // The team name is joined for display.
    assert_eq!(all[0].team.as_deref(), Some("payments"));
    let json = all[0].to_json();
    assert_eq!(json["details"]["admins"], json!(["alice@example.com", "bob@example.com"]));
}

/// Many tasks on two pools append at once; the chain stays one line with ids 1..=N.
async fn concurrent_appends_keep_one_chain(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = Store::open(&db.url).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for n in 0..25 {
                    store.record(&event(t * 100 + n)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(intact(&a).await, 200);
    let ids: Vec<i64> = a.audit_events(&AuditQuery::default()).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
}
