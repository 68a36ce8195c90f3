//! The mail server down for several retry periods under a running daemon (minutes in
//! production, `notify.retry_base = 200ms` here): the email goes out once it is back,
//! exactly once.

use super::{WAIT, eventually};
use crate::notify::{SmtpSink, free_port};
use crate::ops::{Served, Setup};
use crate::serve::token;
use revokd::store::{AuditQuery, OutboxStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_for_several_retries_then_up_delivers_once() {
    let port = free_port();
    let served = Served::start(Setup {
        extra_config: format!(
            "[smtp]\nurl = \"smtp://127.0.0.1:{port}\"\n\
             [notify]\nbatch_window = \"0s\"\nretry_base = \"200ms\"\npoll_interval = \"100ms\"\n"
        ),
        ..Setup::default()
    })
    .await;
    let leaked = token("mail outage");
    let id = served.add_key(&leaked, "xai_api_key").await;
    assert_eq!(served.post_alert(&[&leaked]).await.0, 200);
    let store = served.store().await;
    let failed = || async {
        let query = AuditQuery { event: Some("notify.failed".into()), ..AuditQuery::default() };
        store.audit_events(&query).await.unwrap().len()
    };
    eventually("three failed attempts", || async { failed().await >= 3 }).await;
    let ready: serde_json::Value = reqwest::get(served.url("/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!((ready["ready"].as_bool(), ready["outbox_pending"].as_i64()), (Some(true), Some(1)), "{ready}");

    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.contains(&format!("Key {id}:")), "{}", mails[0].text);
    eventually("the row is recorded as sent", || async {
        store.outbox(None).await.unwrap().iter().all(|r| r.status == OutboxStatus::Sent)
    })
    .await;
    // Several retry periods more: nothing is sent again.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(sink.messages().len(), 1, "delivered once");
    let rows = store.outbox(None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, i64::try_from(failed().await).unwrap() + 1, "every failure then one success");
    store.close().await;
}
