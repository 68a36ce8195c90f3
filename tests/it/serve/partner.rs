//! `POST /github/secret-scanning`.

use serde_json::{Value, json};

use super::{Backend, Harness, TestKey, alert_body, expect_error, token};
use revokd::secret::sha256_hex;
use revokd::store::KeyStatus;

/// Runs `$case(backend)` as one test per backend.
macro_rules! on_both_backends {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$case(super::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

/// GitHub's published example (research/github-partner-protocol.md §7).
const GITHUB_BODY: &[u8] =
    br#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
const GITHUB_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const GITHUB_SIGNATURE: &str =
    "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
const GITHUB_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd
AjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==
-----END PUBLIC KEY-----
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_signed_example_is_accepted_and_any_change_is_refused() {
    let h = Harness::start(Backend::Sqlite).await;
    h.github
        .set_keys(vec![(GITHUB_KEY_ID.into(), GITHUB_KEY.into(), true), (h.key.id.clone(), h.key.pem.clone(), false)]);
    let response = h.post_partner(GITHUB_BODY, Some(GITHUB_KEY_ID), Some(GITHUB_SIGNATURE)).await;
    assert_eq!(response.status(), 200);
    let feedback: Value = response.json().await.unwrap();
    assert_eq!(
        feedback,
        json!([{"token_hash": sha256_hex(b"some_token"), "token_type": "some_type", "label": "false_positive"}])
    );

    let mut changed = GITHUB_BODY.to_vec();
    changed[30] = b'X';
    let mut newline = GITHUB_BODY.to_vec();
    newline.push(b'\n');
    for body in [&changed, &newline] {
        let response = h.post_partner(body, Some(GITHUB_KEY_ID), Some(GITHUB_SIGNATURE)).await;
        expect_error(response, 401, "bad_signature").await;
    }
    // Another listed key id: the signature does not verify with it.
    let response = h.post_partner(GITHUB_BODY, Some(&h.key.id), Some(GITHUB_SIGNATURE)).await;
    expect_error(response, 401, "bad_signature").await;
    let response = h.post_partner(GITHUB_BODY, Some(&"ab".repeat(32)), Some(GITHUB_SIGNATURE)).await;
    expect_error(response, 401, "unknown_key_id").await;
    let response = h.post_partner(GITHUB_BODY, None, None).await;
    expect_error(response, 401, "missing_signature").await;
    let response = h.post_partner(GITHUB_BODY, Some(GITHUB_KEY_ID), None).await;
    expect_error(response, 401, "missing_signature").await;
    let response = h.post_partner(GITHUB_BODY, Some(GITHUB_KEY_ID), Some("bm90IERFUg==")).await;
    expect_error(response, 401, "bad_signature").await;
    h.finish().await;
}

on_both_backends!(signed_alert_disables_our_key_once_and_labels_every_token);
async fn signed_alert_disables_our_key_once_and_labels_every_token(backend: Backend) {
    let h = Harness::start(backend).await;
    let ours = token("ours");
    let disabled = token("disabled before");
    let unknown = token("never issued");
    let ours_id = h.add_key(&ours).await;
    let disabled_id = h.add_key(&disabled).await;
    h.store.disable_key(disabled_id, "rotated", "test").await.unwrap();
    let body = alert_body(&[&ours, &disabled, &unknown, "ghp_not_a_type_we_issue"]);

    let response = h.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&ours) && !text.contains(&unknown), "raw tokens never appear in responses");
    let feedback: Value = serde_json::from_str(&text).unwrap();
    let labels: Vec<_> = feedback.as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["true_positive", "true_positive", "false_positive", "false_positive"]);
    assert_eq!(feedback[0]["token_hash"], sha256_hex(ours.as_bytes()));
    assert_eq!(feedback[0]["token_type"], "xai_api_key");

    assert_eq!(h.key_status(ours_id).await, KeyStatus::Disabled);
    let events: Vec<String> = h.audit_of(ours_id).await.into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["key.imported", "key.disabled", "leak.reported"]);
    // One owner notice for the key this alert disabled (and one for the first sighting
    // of the key disabled earlier, which its owners have not heard about).
    let notices = h.leak_notices().await;
    let mine: Vec<_> = notices.iter().filter(|n| n.key_id == Some(ours_id)).collect();
    assert_eq!(mine.len(), 1, "{notices:?}");
    assert!(!mine[0].details.contains(&ours), "the notice shows the key redacted");
    assert_eq!(notices.len(), 2);

    // GitHub retries: same answer, no second disable or email, a repeat sighting.
    let response = h.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), feedback);
    assert_eq!(h.leak_notices().await.len(), 2, "a retry enqueues no email");
    let events: Vec<String> = h.audit_of(ours_id).await.into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["key.imported", "key.disabled", "leak.reported", "leak.repeat"]);
    h.finish().await;
}

on_both_backends!(concurrent_alerts_for_one_token_disable_it_once);
async fn concurrent_alerts_for_one_token_disable_it_once(backend: Backend) {
    let h = Harness::start(backend).await;
    let ours = token("raced");
    let id = h.add_key(&ours).await;
    let body = alert_body(&[&ours, &token("raced, unknown")]);
    let tasks: Vec<_> = (0..16).map(|_| h.spawn_signed(&body)).collect();
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status(), 200);
        let feedback: Value = response.json().await.unwrap();
        assert_eq!(feedback[0]["label"], "true_positive");
    }
    assert_eq!(h.leak_notices().await.len(), 1);
    let events: Vec<String> = h.audit_of(id).await.into_iter().map(|e| e.event).collect();
    assert_eq!(events.iter().filter(|e| *e == "key.disabled").count(), 1);
    assert_eq!(events.iter().filter(|e| *e == "leak.repeat").count(), 15);
    h.finish().await;
}

on_both_backends!(error_statuses_have_json_bodies);
async fn error_statuses_have_json_bodies(backend: Backend) {
    let h = Harness::start_with(backend, |o| o.max_body_bytes = 4096).await;
    for body in [&b"[{\"token\": "[..], b"{\"token\":\"x\"}", b"[{\"type\":\"t\"}]", b""] {
        expect_error(h.post_signed(body).await, 400, "malformed_body").await;
    }
    // The 400 message never quotes the input (which holds tokens).
    let secret = token("quoted?");
    let response = h.post_signed(format!("[\"{secret}\"]").as_bytes()).await;
    let error = expect_error(response, 400, "malformed_body").await;
    assert!(!error.to_string().contains(&secret));

    let big = alert_body(&vec![token("big").as_str(); 64]);
    assert!(big.len() > 4096);
    expect_error(h.post_signed(&big).await, 413, "payload_too_large").await;

    // Database down: 503, and nothing of the request was written.
    let ours = token("during outage");
    let id = h.add_key(&ours).await;
    assert_eq!(h.get("/readyz").await.status(), 200);
    h.store.close().await;
    expect_error(h.post_signed(&alert_body(&[&ours])).await, 503, "store_unavailable").await;
    assert_eq!(h.get("/readyz").await.status(), 503);
    let reopened = revokd::store::Store::open(&h.db.url).await.unwrap();
    assert_eq!(reopened.key(id).await.unwrap().status, KeyStatus::Active);
    assert!(reopened.notices(None).await.unwrap().is_empty());
    reopened.close().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_id_refetches_the_keys_once_per_interval() {
    let h = Harness::start(Backend::Sqlite).await;
    let body = alert_body(&[&token("rotation")]);
    assert_eq!(h.post_signed(&body).await.status(), 200);

    // GitHub rotates: the new key is listed only now.
    let rotated = TestKey::generate("rotated key");
    h.github.set_keys(vec![(rotated.id.clone(), rotated.pem.clone(), true)]);
    let hits = h.github.keys_hits();
    let response = h.post_partner(&body, Some(&rotated.id), Some(&rotated.sign(&body))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(h.github.keys_hits(), hits + 1);
    // The old key is gone from the list: refused.
    expect_error(h.post_signed(&body).await, 401, "unknown_key_id").await;

    // Forged ids cannot make us hammer GitHub: no refetch within the interval.
    let hits = h.github.keys_hits();
    for n in 0..5 {
        let response = h.post_partner(&body, Some(&format!("{n:064x}")), Some(&rotated.sign(&body))).await;
        expect_error(response, 401, "unknown_key_id").await;
    }
    assert_eq!(h.github.keys_hits(), hits);
    // The API token is sent when fetching keys.
    let auth = h.github.state.lock().unwrap().keys_authorization.clone();
    assert!(auth.iter().all(|a| a.as_deref() == Some(&format!("Bearer {}", super::API_TOKEN)[..])), "{auth:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_keep_working_while_the_keys_endpoint_is_down() {
    let h = Harness::start_with(Backend::Sqlite, |o| o.keys.unknown_id_refetch_every = std::time::Duration::ZERO).await;
    let body = alert_body(&[&token("outage")]);
    assert_eq!(h.post_signed(&body).await.status(), 200);
    h.github.set_keys_down(Some(500));
    assert_eq!(h.post_signed(&body).await.status(), 200);
    let other = TestKey::generate("never listed");
    let response = h.post_partner(&body, Some(&other.id), Some(&other.sign(&body))).await;
    expect_error(response, 401, "unknown_key_id").await;
    assert_eq!(h.get("/readyz").await.status(), 200, "cached keys still count as loaded");

    // Up again but answering garbage: each refetch (an unknown id asks for one) fails,
    // the cached key keeps verifying, nothing crashes.
    h.github.set_keys_down(None);
    let bad_pem = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n";
    for garbage in [
        "not json at all".to_owned(),
        "{\"public_keys\": \"nope\"}".to_owned(),
        "{\"public_keys\": []}".to_owned(),
        serde_json::json!({"public_keys": [{"key_identifier": other.id, "key": bad_pem, "is_current": true}]})
            .to_string(),
        "\u{0}\u{1}\u{ff}".repeat(1000),
    ] {
        h.github.set_keys_body(Some(&garbage));
        let hits = h.github.keys_hits();
        let response = h.post_partner(&body, Some(&other.id), Some(&other.sign(&body))).await;
        expect_error(response, 401, "unknown_key_id").await;
        assert_eq!(h.github.keys_hits(), hits + 1, "the unknown id made a refetch");
        assert_eq!(h.post_signed(&body).await.status(), 200, "cached key after {garbage:.40}");
    }
    assert_eq!(h.get("/readyz").await.status(), 200);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let h = Harness::start(Backend::Sqlite).await;
    assert_eq!(h.get("/healthz").await.status(), 200);
    let ours = token("metrics");
    h.add_key(&ours).await;
    assert_eq!(h.post_signed(&alert_body(&[&ours])).await.status(), 200);
    let metrics = h.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("revokd_leak_to_disable_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("revokd_leak_reports_total"), "{metrics}");
    let base = h.base.clone();
    h.finish().await;
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "the listener is closed after shutdown");
}

/// `/readyz` fails while the outbox backlog reaches `notify.ready_max_pending`, and the
/// outbox gauges report the backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_backlog_gates_readiness_and_is_a_gauge() {
    let h = Harness::start_with(Backend::Sqlite, |o| o.ready_max_pending = 2).await;
    let ready: Value = h.get("/readyz").await.json().await.unwrap();
    assert_eq!((ready["ready"].as_bool(), ready["outbox_pending"].as_i64()), (Some(true), Some(0)));
    for (n, status) in [(1, "pending"), (2, "dead"), (3, "pending")] {
        crate::testdb::raw_sql(
            &h.store,
            &format!(
                "INSERT INTO outbox (kind, recipient, subject, body, dedupe_key, status, attempts, next_attempt_at, \
                 created_at) VALUES ('leak', 'owner@example.com', 's', 'b', 'backlog-{n}', '{status}', 0, 0, 0)"
            ),
        )
        .await;
    }
    let response = h.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let ready: Value = response.json().await.unwrap();
    assert_eq!((ready["outbox"].as_bool(), ready["outbox_pending"].as_i64()), (Some(false), Some(2)));
    assert_eq!(ready["database"].as_bool(), Some(true));
    let metrics = h.get("/metrics").await.text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "revokd_outbox_pending 2"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "revokd_outbox_dead 1"), "{metrics}");
    h.finish().await;
}
