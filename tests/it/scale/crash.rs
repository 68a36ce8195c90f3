//! SIGKILL in the middle of revocations: after a restart every revocation is whole or
//! absent (key, leak row, audit events and owner notice together), every request that
//! was answered 200 is durable, and the owner emails still go out, once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::database_faults::{lock_key_row, wait_for_lock_waiter};
use super::{WAIT, add_key, audit_counts, eventually, leak_rows};
use crate::both_backends;
use crate::notify::SmtpSink;
use crate::ops::{Served, Setup, TEAM};
use crate::serve::token;
use crate::testdb::{Backend, TestDb};
use revokd::store::{ChainStatus, KeyStatus, NoticeKind, OutboxStatus, Store};

const OWNER: &str = "owner@example.com";
const KEYS: usize = 100;

both_backends!(sigkill_under_load_leaves_each_revocation_whole_and_the_emails_still_go_out);

/// Mail settings: the first process holds notices for an hour (so none is sent before
/// the kill), the restarted one sends at once.
fn mail_config(sink: &SmtpSink, batch_window: &str) -> String {
    format!(
        "[smtp]\nurl = \"{}\"\n[notify]\nbatch_window = \"{batch_window}\"\npoll_interval = \"200ms\"\n",
        sink.url()
    )
}

/// Sends one raw request; `None` when the connection fails or closes without an
/// answer (the server was killed).
async fn try_alert(addr: SocketAddr, head: Vec<u8>, body: Vec<u8>) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(&head).await.ok()?;
    stream.write_all(&body).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.ok()?.ok()?;
    String::from_utf8_lossy(&raw).split(' ').nth(1)?.parse().ok()
}

async fn sigkill_under_load_leaves_each_revocation_whole_and_the_emails_still_go_out(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_team(TEAM, &[OWNER.to_owned()], &[], "test").await.unwrap();
    let mut keys = Vec::new();
    for i in 0..KEYS {
        let leaked = token(&format!("killed {i}"));
        keys.push((add_key(&store, TEAM, &leaked).await, leaked));
    }
    let sink = SmtpSink::start();
    let setup = |window: &str| Setup {
        database_url: Some(db.url.clone()),
        extra_config: mail_config(&sink, window),
        ..Setup::default()
    };
    let mut first = Served::start(setup("1h")).await;

    // Every key in an alert of its own, one every 5 ms (500 ms in all: a daemon that
    // commits fast must not have answered them all before the kill); SIGKILL as soon as
    // the first answer or commit is seen, while later ones are queued, being committed or
    // not yet sent.
    let mut alerts = Vec::new();
    for (i, (_, leaked)) in keys.iter().enumerate() {
        let (head, body) = first.partner_request(&[leaked]);
        let (addr, delay) = (first.addr, Duration::from_millis(5 * i as u64));
        alerts.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            try_alert(addr, head, body).await
        }));
    }
    eventually("a first revocation committed", || async {
        alerts.iter().any(|a| a.is_finished()) || !leak_rows(&store).await.is_empty()
    })
    .await;
    first.kill();
    let mut answered = Vec::new();
    for alert in alerts {
        answered.push(alert.await.unwrap());
    }
    assert!(answered.iter().flatten().all(|status| *status == 200), "{answered:?}");

    // After the crash: each key's revocation is all there or not at all.
    let notices = store.notices(None).await.unwrap();
    let leaks: HashMap<Option<i64>, i64> = leak_rows(&store).await.into_iter().collect();
    let mut disabled = 0;
    for ((id, _), answer) in keys.iter().zip(&answered) {
        let counts = audit_counts(&store, *id).await;
        let is_disabled = store.key(*id).await.unwrap().status == KeyStatus::Disabled;
        let parts = [
            is_disabled,
            counts.get("key.disabled") == Some(&1),
            counts.get("leak.reported") == Some(&1),
            leaks.get(&Some(*id)) == Some(&1),
            notices.iter().filter(|n| n.kind == NoticeKind::Leak && n.key_id == Some(*id)).count() == 1,
        ];
        assert!(parts.iter().all(|p| *p == is_disabled), "key {id}: half a revocation {parts:?} {counts:?}");
        if *answer == Some(200) {
            assert!(is_disabled, "key {id} was answered 200, so its revocation is durable");
        }
        disabled += usize::from(is_disabled);
    }
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    assert!(answered.iter().any(Option::is_none), "the kill came before every alert was answered");
    assert!(disabled < KEYS, "some revocations were cut off: {disabled} of {KEYS} committed");

    // Restarted, GitHub redelivers what failed: every key is disabled once, and every
    // notice, from before the crash or after, becomes one email.
    let second = Served::start(setup("0s")).await;
    for ((_, leaked), answer) in keys.iter().zip(&answered) {
        if *answer != Some(200) {
            let (status, body) = second.post_alert(&[leaked]).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    eventually("every email is sent", || async {
        let rows = store.outbox(None).await.unwrap();
        !rows.is_empty()
            && rows.iter().all(|r| r.status == OutboxStatus::Sent)
            && store.notices(Some(false)).await.unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = store.outbox(None).await.unwrap();
    assert_eq!(sink.messages().len(), rows.len(), "each outbox row sent once");
    let mut mailed: Vec<i64> = rows
        .iter()
        .flat_map(|r| serde_json::from_str::<Vec<i64>>(r.key_ids.as_deref().unwrap_or("[]")).unwrap())
        .collect();
    mailed.sort();
    let all: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    assert_eq!(mailed, all, "every key in exactly one email");
    for (id, _) in &keys {
        assert_eq!(audit_counts(&store, *id).await.get("key.disabled"), Some(&1));
    }
    assert!(matches!(store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    store.close().await;
}

/// Deterministic: the process dies while its transaction is open (the leak row written,
/// the key update waiting for a row lock the test holds). PostgreSQL rolls it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_inside_a_postgres_transaction_writes_nothing_then_the_redelivery_emails() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    store.create_team(TEAM, &[OWNER.to_owned()], &[], "test").await.unwrap();
    let leaked = token("killed inside the transaction");
    let id = add_key(&store, TEAM, &leaked).await;
    let sink = SmtpSink::start();
    let setup =
        || Setup { database_url: Some(db.url.clone()), extra_config: mail_config(&sink, "0s"), ..Setup::default() };
    let mut first = Served::start(setup()).await;
    let mut blocker = lock_key_row(&db.url, id).await;
    let (head, body) = first.partner_request(&[&leaked]);
    let alert = tokio::spawn(try_alert(first.addr, head, body));
    wait_for_lock_waiter(&mut blocker).await;
    first.kill();
    assert_eq!(alert.await.unwrap(), None, "killed before answering");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    nothing_written(&store, id).await;

    let second = Served::start(setup()).await;
    let (status, body) = second.post_alert(&[&leaked]).await;
    assert_eq!((status, body[0]["label"].as_str()), (200, Some("true_positive")), "{body}");
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.contains(&format!("Key {id}:")), "{}", mails[0].text);
    assert_eq!(audit_counts(&store, id).await.get("key.disabled"), Some(&1));
    store.close().await;
}

/// The killed session's transaction is gone (PostgreSQL may take a moment to notice the
/// closed socket; until then its writes are uncommitted and invisible anyway).
async fn nothing_written(store: &Store, id: i64) {
    eventually("the killed transaction is rolled back", || async {
        store.key(id).await.unwrap().status == KeyStatus::Active && leak_rows(store).await.is_empty()
    })
    .await;
    let counts = audit_counts(store, id).await;
    assert_eq!(counts.len(), 1, "only key.imported: {counts:?}");
    assert!(store.notices(None).await.unwrap().is_empty());
}
