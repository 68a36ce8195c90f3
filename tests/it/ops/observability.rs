//! Logs and metrics of a real revocation: JSON lines with a request id, no token or
//! pepper in any line; `/metrics` is valid Prometheus text and counts the revocation.

use super::prometheus::Exposition;
use super::{PEPPER, Served, Setup, xai};
use base64::Engine as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_counted_in_metrics_and_never_logged_in_clear() {
    let mut served = Served::start(Setup::default()).await;
    let token = xai("observability");
    served.add_key(&token, "xai_api_key").await;
    let unknown = xai("observability, never issued");
    let (status, body) = served.post_alert(&[&token, &unknown]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["label"], "true_positive");

    let response = reqwest::get(served.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let metrics = Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(metrics.value("revokd_keys_disabled_total", &[]), Some(1.0), "{text}");
    assert_eq!(metrics.value("revokd_leak_reports_total", &[("outcome", "disabled_now")]), Some(1.0));
    assert_eq!(metrics.value("revokd_leak_reports_total", &[("outcome", "unknown_token")]), Some(1.0));
    let route = [("route", "/github/secret-scanning"), ("method", "POST"), ("status", "200")];
    assert_eq!(metrics.value("revokd_http_requests_total", &route), Some(1.0), "{text}");
    assert_eq!(metrics.value("revokd_github_key_refreshes_total", &[("result", "ok")]), Some(1.0));
    assert_eq!(metrics.value("revokd_leak_to_disable_seconds_count", &[]), Some(1.0));
    // The SQLite WAL checkpointer runs in the daemon (its first step is at start).
    assert!(metrics.value("revokd_sqlite_wal_frames", &[]).is_some_and(|f| f >= 0.0), "{text}");
    assert_eq!(
        metrics.value("revokd_http_request_duration_seconds_count", &[("route", "/github/secret-scanning")]),
        Some(1.0)
    );

    served.signal("TERM");
    assert_eq!(served.wait_exit().code(), Some(0));
    let logs = served.stderr();
    let secrets = [
        token.clone(),
        unknown.clone(),
        String::from_utf8_lossy(PEPPER).into_owned(),
        hex::encode(PEPPER),
        base64::engine::general_purpose::STANDARD.encode(PEPPER),
    ];
    let mut request_ids = Vec::new();
    for line in logs.lines() {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "a log line holds a secret: {line}");
        }
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if event["fields"]["message"] == "key disabled" {
            assert_eq!(event["fields"]["token_hash"], revokd::secret::sha256_hex(token.as_bytes()), "{line}");
            request_ids.push(event["span"]["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(request_ids.len(), 1, "one `key disabled` line, inside the request span:\n{logs}");
    assert!(!request_ids[0].is_empty(), "the line carries the request id:\n{logs}");
}
