//! The token roles on `/v1/*`: 403 `forbidden` when the role is not enough.

use serde_json::json;

use super::{ADMIN, AUDITOR, Console, SCANNER};
use crate::serve::{Backend, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_checks_the_token_role() {
    let c = Console::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{}{path}", c.h.base)).bearer_auth(token)
    };
    use reqwest::Method as M;
    // Audit: admin and auditor.
    for token in [ADMIN, AUDITOR] {
        assert_eq!(call(M::GET, "/v1/audit", token).send().await.unwrap().status(), 200);
    }
    let body = expect_error(call(M::GET, "/v1/audit", SCANNER).send().await.unwrap(), 403, "forbidden").await;
    assert!(body["error"].as_str().unwrap().contains("role scanner may not read the audit log"), "{body}");
    // Reading scans: everyone. Starting or cancelling: admin and scanner.
    for token in [ADMIN, AUDITOR, SCANNER] {
        assert_eq!(call(M::GET, "/v1/scans", token).send().await.unwrap().status(), 200);
    }
    let scan = json!({ "repo": c.root.path().display().to_string() });
    expect_error(call(M::POST, "/v1/scans", AUDITOR).json(&scan).send().await.unwrap(), 403, "forbidden").await;
    expect_error(call(M::POST, "/v1/scan", AUDITOR).body("x").send().await.unwrap(), 403, "forbidden").await;
    expect_error(call(M::DELETE, "/v1/scans/x", AUDITOR).send().await.unwrap(), 403, "forbidden").await;
    for token in [ADMIN, SCANNER] {
        assert_eq!(call(M::POST, "/v1/scan", token).body("x").send().await.unwrap().status(), 200);
        expect_error(call(M::DELETE, "/v1/scans/x", token).send().await.unwrap(), 404, "scan_not_found").await;
    }
    c.h.finish().await;
}
