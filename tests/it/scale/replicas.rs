//! Three replicas on one PostgreSQL database, concurrent duplicate alerts spread over
//! them: one disable, one leak row, one email per leaked key, one audit chain.

use std::time::Duration;

use super::{WAIT, add_key, audit_counts, eventually, leak_rows, spawn_alert};
use crate::notify::SmtpSink;
use crate::ops::{Served, Setup};
use crate::serve::token;
use crate::testdb::{Backend, TestDb};
use revokd::store::{AuditQuery, ChainStatus, KeyStatus, NoticeKind, OutboxStatus};

const REPLICAS: usize = 3;
const TOKENS: usize = 5;
const REQUESTS_PER_TOKEN: usize = 20;

/// Settings every replica shares besides the database: the SMTP server and a worker
/// that composes at once and polls often (so any replica may send any email).
fn mail_config(sink: &SmtpSink) -> String {
    format!(
        "[smtp]\nurl = \"{}\"\nfrom = \"revokd@example.org\"\n\
         [notify]\nbatch_window = \"0s\"\npoll_interval = \"200ms\"\nretry_base = \"1s\"\n",
        sink.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_postgres_disable_and_email_each_leaked_key_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    let mut keys = Vec::new();
    for t in 0..TOKENS {
        let team = format!("team{t}");
        store.create_team(&team, &[format!("admin@team{t}.example.com")], &[], "test").await.unwrap();
        let leaked = token(&format!("replicated leak {t}"));
        keys.push((leaked.clone(), add_key(&store, &team, &leaked).await));
    }
    let sink = SmtpSink::start();
    let setup = || Setup { database_url: Some(db.url.clone()), extra_config: mail_config(&sink), ..Setup::default() };
    let (a, b, c) = tokio::join!(Served::start(setup()), Served::start(setup()), Served::start(setup()));
    let replicas = [a, b, c];

    // Every token 20 times, each request to the next replica in turn, all at once.
    let mut requests = Vec::new();
    for r in 0..REQUESTS_PER_TOKEN {
        for (t, (leaked, _)) in keys.iter().enumerate() {
            let replica = &replicas[(r * TOKENS + t) % REPLICAS];
            requests.push(spawn_alert(replica, &[leaked]));
        }
    }
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[0]["label"], "true_positive", "{body}");
    }

    for (_, id) in &keys {
        assert_eq!(store.key(*id).await.unwrap().status, KeyStatus::Disabled);
        let counts = audit_counts(&store, *id).await;
        assert_eq!(counts.get("key.disabled"), Some(&1), "key {id}: {counts:?}");
        assert_eq!(counts.get("leak.reported"), Some(&1), "key {id}: {counts:?}");
        assert_eq!(counts.get("leak.repeat"), Some(&(REQUESTS_PER_TOKEN - 1)), "key {id}: {counts:?}");
    }
    let mut leaks = leak_rows(&store).await;
    leaks.sort();
    let mut expected: Vec<_> = keys.iter().map(|(_, id)| (Some(*id), REQUESTS_PER_TOKEN as i64)).collect();
    expected.sort();
    assert_eq!(leaks, expected, "one leak row per token, every sighting counted");
    let notices = store.notices(None).await.unwrap();
    assert_eq!(notices.iter().filter(|n| n.kind == NoticeKind::Leak).count(), TOKENS, "{notices:?}");

    // One email per team, from whichever replica claimed it, each outbox row sent once.
    sink.wait_for(TOKENS, WAIT).await;
    eventually("every outbox row is sent", || async {
        let rows = store.outbox(None).await.unwrap();
        rows.len() == TOKENS && rows.iter().all(|r| r.status == OutboxStatus::Sent)
    })
    .await;
    // Several poll intervals: time for a duplicate to show up if a replica sent a row again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails = sink.messages();
    let mut recipients: Vec<_> = mails.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    recipients.sort();
    let expected: Vec<_> = (0..TOKENS).map(|t| format!("admin@team{t}.example.com")).collect();
    assert_eq!(recipients, expected, "exactly one email per team");
    for (_, id) in &keys {
        let about: Vec<_> = mails.iter().filter(|m| m.text.contains(&format!("Key {id}:"))).collect();
        assert_eq!(about.len(), 1, "key {id} is in one email");
    }
    let rows = store.outbox(None).await.unwrap();
    assert!(rows.iter().all(|r| r.attempts == 1 && r.sent_at.is_some()), "{rows:?}");
    let sent = AuditQuery { event: Some("notify.sent".into()), ..AuditQuery::default() };
    assert_eq!(store.audit_events(&sent).await.unwrap().len(), TOKENS);

    // One linear chain, as the store and the CLI see it.
    let status = store.verify_audit().await.unwrap();
    assert!(matches!(status, ChainStatus::Intact { .. }), "{status:?}");
    let verified = replicas[0].cli(&["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
    for replica in &replicas {
        assert!(!replica.stderr().contains("\"level\":\"ERROR\""), "{}", replica.stderr());
    }
    store.close().await;
}
