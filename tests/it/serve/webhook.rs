//! `POST /github/webhook`.

use serde_json::{Value, json};

use super::partner::on_both_backends;
use super::{Backend, Harness, WEBHOOK_SECRET, expect_error, token};
use revokd::github::signature::WebhookSecret;
use revokd::store::KeyStatus;

impl Harness {
    async fn post_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/github/webhook", self.base))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send().await.unwrap()
    }

    async fn post_signed_webhook(&self, event: &str, delivery: &str, body: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(body).unwrap();
        let signature = WebhookSecret::new(WEBHOOK_SECRET).sign(&body);
        self.post_webhook(event, delivery, &body, Some(signature)).await
    }
}

fn alert_event(action: &str, number: u64, secret_type: &str) -> Value {
    json!({
        "action": action,
        "alert": {"number": number, "secret_type": secret_type, "html_url": "https://github.com/octo/app/security/secret-scanning/1"},
        "repository": {"name": "app", "full_name": "octo/app", "owner": {"login": "octo"}},
        "sender": {"login": "someone"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_signature_checks() {
    let h = Harness::start(Backend::Sqlite).await;
    let response = h.post_signed_webhook("ping", "d-ping", &json!({"zen": "Keep it simple."})).await;
    assert_eq!(response.status(), 200);
    let body = br#"{"zen":"x"}"#;
    expect_error(h.post_webhook("ping", "d-1", body, None).await, 401, "missing_signature").await;
    let wrong = WebhookSecret::new(b"another secret").sign(body);
    expect_error(h.post_webhook("ping", "d-2", body, Some(wrong)).await, 401, "bad_signature").await;
    expect_error(h.post_webhook("ping", "d-3", body, Some("sha256=nothex".into())).await, 401, "bad_signature").await;
}

on_both_backends!(alert_for_our_type_fetches_the_secret_and_disables_the_key_once);
async fn alert_for_our_type_fetches_the_secret_and_disables_the_key_once(backend: Backend) {
    let h = Harness::start(backend).await;
    let ours = token("repo alert");
    let id = h.add_key(&ours).await;
    h.github.add_alert(
        "octo",
        "app",
        7,
        json!({"number": 7, "secret_type": "xai_api_key", "secret": ours, "html_url": "https://github.com/octo/app/security/secret-scanning/7"}),
    );
    let response =
        h.post_signed_webhook("secret_scanning_alert", "d-alert", &alert_event("created", 7, "xai_api_key")).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["outcome"], "disabled_now");
    let auth = h.github.state.lock().unwrap().alert_authorization.clone();
    assert_eq!(auth, [Some(format!("Bearer {}", super::API_TOKEN))]);

    // The same delivery again is a replay: ignored, no second fetch.
    let response =
        h.post_signed_webhook("secret_scanning_alert", "d-alert", &alert_event("created", 7, "xai_api_key")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "duplicate_delivery");
    assert_eq!(h.github.state.lock().unwrap().alert_authorization.len(), 1);

    // A new delivery (reopened) reports again: already disabled, no second email.
    let response =
        h.post_signed_webhook("secret_scanning_alert", "d-reopen", &alert_event("reopened", 7, "xai_api_key")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["outcome"], "already_disabled");
    assert_eq!(h.key_status(id).await, KeyStatus::Disabled);
    assert_eq!(h.leak_notices().await.len(), 1);
    let audit = h.audit_of(id).await;
    let disabled = audit.iter().find(|e| e.event == "key.disabled").unwrap();
    assert!(disabled.description.contains("https://github.com/octo/app/security/secret-scanning/7"), "{disabled:?}");
    assert_eq!(disabled.actor, "github");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_accepted_and_recorded() {
    let h = Harness::start(Backend::Sqlite).await;
    let cases = [
        ("push", json!({"ref": "refs/heads/main"})),
        ("secret_scanning_alert", alert_event("resolved", 8, "xai_api_key")),
        ("secret_scanning_alert", alert_event("created", 9, "github_personal_access_token")),
    ];
    for (n, (event, body)) in cases.iter().enumerate() {
        let response = h.post_signed_webhook(event, &format!("d-other-{n}"), body).await;
        assert_eq!(response.status(), 202, "{event} {body}");
    }
    for n in 0..3 {
        assert!(h.store.delivery_seen(&format!("d-other-{n}")).await.unwrap());
    }
    assert!(h.github.state.lock().unwrap().alert_authorization.is_empty(), "no API call for events we ignore");
    let response = h.post_signed_webhook("secret_scanning_alert", "d-bad", &json!({"action": "created"})).await;
    expect_error(response, 400, "malformed_body").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_github_api_call_can_be_redelivered() {
    let h = Harness::start(Backend::Sqlite).await;
    let ours = token("late alert");
    h.add_key(&ours).await;
    let event = alert_event("publicly_leaked", 11, "xai_api_key");
    let response = h.post_signed_webhook("secret_scanning_alert", "d-retry", &event).await;
    expect_error(response, 502, "github_api_failed").await;
    h.github.add_alert("octo", "app", 11, json!({"number": 11, "secret_type": "xai_api_key", "secret": ours}));
    let response = h.post_signed_webhook("secret_scanning_alert", "d-retry", &event).await;
    assert_eq!(response.json::<Value>().await.unwrap()["outcome"], "disabled_now");
    h.finish().await;
}
