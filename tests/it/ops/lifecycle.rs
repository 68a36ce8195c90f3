//! Start (READY=1 once serving), stop (STOPPING=1, drain, exit 0).

use std::time::Duration;

use super::{PartialRequest, Served, Setup, xai};
use revokd::store::KeyStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_sent_once_serving_and_sigterm_exits_cleanly() {
    let mut served = Served::start(Setup::default()).await;
    // READY=1 has arrived: the socket must answer at once, with keys and database ready.
    let client = reqwest::Client::new();
    let health = client.get(served.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = client.get(served.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(served.github.keys_hits(), 1, "the first key fetch happened before READY=1");
    let first = &served.notices[0];
    assert!(first.contains("STATUS=listening on") && first.contains("1 GitHub keys"), "{first}");

    served.signal("TERM");
    served.wait_notice("STOPPING=1").await;
    let status = served.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", served.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_sent_when_the_first_key_fetch_fails() {
    // GitHub answers 503: the fetch fails, READY=1 still comes, /readyz says why.
    let mut served = Served::start(Setup { keys_down: true, ..Setup::default() }).await;
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["github_keys"], false, "{body}");
    assert!(served.notices[0].contains("GitHub keys not loaded yet"), "{:?}", served.notices);
    served.signal("TERM");
    assert_eq!(served.wait_exit().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_completes_every_in_flight_request_then_exits_zero() {
    let mut served = Served::start(Setup::default()).await;
    let mut in_flight = Vec::new();
    let mut keys = Vec::new();
    for i in 0..20 {
        let token = xai(&format!("in flight {i}"));
        keys.push(served.add_key(&token, "xai_api_key").await);
        let (head, body) = served.partner_request(&[&token]);
        // Half the body: the handler is waiting for the rest when SIGTERM arrives.
        in_flight.push(PartialRequest::send(served.addr, &head, &body, body.len() / 2).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.signal("TERM");
    served.wait_notice("STOPPING=1").await;
    // New connections are refused once the drain has begun.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(served.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener is closed during the drain");
    assert!(served.child.try_wait().unwrap().is_none(), "revokd waits for the in-flight requests");
    for request in &mut in_flight {
        let (status, body) = request.finish().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[0]["label"], "true_positive", "{body}");
    }
    assert_eq!(served.wait_exit().code(), Some(0), "{}", served.stderr());
    let store = served.store().await;
    for id in keys {
        assert_eq!(store.key(id).await.unwrap().status, KeyStatus::Disabled);
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_pings_come_at_half_the_interval_systemd_asked_for() {
    let mut served = Served::start(Setup { watchdog_usec: Some(200_000), ..Setup::default() }).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        served.wait_notice("WATCHDOG=1").await;
    }
    // Three pings at 100 ms intervals (the first may come right after start).
    assert!(started.elapsed() >= Duration::from_millis(150), "pings are paced: {:?}", started.elapsed());
    served.signal("TERM");
    assert_eq!(served.wait_exit().code(), Some(0));
}
