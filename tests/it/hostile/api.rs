//! `/v1/*` requests an attacker (or a confused script) could send: odd bearer tokens,
//! malformed bodies and queries, hostile repository paths and ids. Each gets a 4xx with
//! a JSON error, never a 5xx, and nothing is queued.

use std::path::Path;

use revokd::http::api::ApiOptions;
use revokd::http::api::auth::TokenSet;
use revokd::http::api::policy::RepoPolicy;
use serde_json::Value;

use crate::serve::{Backend, Harness};

const TOKEN: &str = "secops-hostile-0123456789abcdef";

async fn start() -> (Harness, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let options = ApiOptions {
        tokens: TokenSet::parse(&format!("secops:{TOKEN}\n"), Path::new("tokens")).unwrap(),
        rate_per_minute: std::num::NonZeroU32::new(10_000).unwrap(),
        max_scan_bytes: 4096,
        policy: RepoPolicy::new(&[root.path().to_path_buf()], &["https".to_string()]).unwrap(),
    };
    (Harness::start_with(Backend::Sqlite, |o| o.api = Some(options)).await, root)
}

/// Asserts a 4xx with a JSON `{error, code}` body; returns the code.
async fn expect_4xx(response: reqwest::Response, what: &str) -> String {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!((400..500).contains(&status), "{what}: {status} {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
    body["code"].as_str().unwrap_or_else(|| panic!("{what}: no code: {body}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_bearer_tokens_get_401() {
    let (h, _root) = start().await;
    let url = format!("{}/v1/audit", h.base);
    let long = format!("Bearer {}", "t".repeat(64 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty bearer", b"Bearer ".to_vec()),
        ("basic auth", b"Basic c2Vjb3BzOnBhc3N3b3Jk".to_vec()),
        ("not ASCII", b"Bearer \xff\xfe".to_vec()),
        ("64 KiB token", long.into_bytes()),
        ("token with a NUL-like escape", format!("Bearer {TOKEN}%00").into_bytes()),
        ("token prefix", format!("Bearer {}", &TOKEN[..10]).into_bytes()),
    ];
    for (what, value) in cases {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        let response = h.client.get(&url).header("authorization", value).send().await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        expect_4xx(response, what).await;
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_api_requests_get_4xx_and_queue_nothing() {
    let (h, root) = start().await;
    std::fs::create_dir(root.path().join("inside")).unwrap();
    std::os::unix::fs::symlink("/etc", root.path().join("escape")).unwrap();
    let post =
        |path: &str, body: Vec<u8>| h.client.post(format!("{}{path}", h.base)).bearer_auth(TOKEN).body(body).send();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"repo=/etc".to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("number for repo", br#"{"repo": 5}"#.to_vec()),
        ("unknown field", br#"{"repo": "x", "shell": "rm -rf /"}"#.to_vec()),
        ("invalid UTF-8", b"{\"repo\": \"\xff\"}".to_vec()),
        ("duplicate repo key", br#"{"repo": "a", "repo": "b"}"#.to_vec()),
        ("over 64 KiB", format!("{{\"repo\": \"{}\"}}", "a".repeat(70 * 1024)).into_bytes()),
        ("path outside the roots", br#"{"repo": "/etc"}"#.to_vec()),
        ("dot-dot out of a root", format!("{{\"repo\": \"{}/inside/../../..\"}}", root.path().display()).into_bytes()),
        ("symlink out of a root", format!("{{\"repo\": \"{}/escape\"}}", root.path().display()).into_bytes()),
        ("NUL in the path", format!("{{\"repo\": \"{}/inside\\u0000x\"}}", root.path().display()).into_bytes()),
        ("file URL", br#"{"repo": "file:///etc"}"#.to_vec()),
        ("ssh URL", br#"{"repo": "ssh://git@example.com/x.git"}"#.to_vec()),
        (
            "option injection as ref",
            br#"{"repo": "https://example.com/x.git", "ref": "--upload-pack=touch /tmp/x"}"#.to_vec(),
        ),
        ("control character in ref", br#"{"repo": "https://example.com/x.git", "ref": "main\u0007"}"#.to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, body) in bodies {
        expect_4xx(post("/v1/scans", body).await.unwrap(), what).await;
    }
    expect_4xx(post("/v1/scan", vec![b'a'; 5000]).await.unwrap(), "scan body over max_scan_bytes").await;
    let get = |path: String| h.client.get(format!("{}{path}", h.base)).bearer_auth(TOKEN).send();
    for path in [
        "/v1/scans?limit=-1",
        "/v1/scans?limit=99999999999999999999",
        "/v1/scans?limit=abc",
        "/v1/audit?since=yesterday",
        "/v1/audit?limit=0",
        "/v1/audit?key=1e99",
        "/v1/audit?since=9999999999999999999d",
        "/v1/scans/..%2F..%2Fetc%2Fpasswd",
        "/v1/scans/%00",
        &format!("/v1/scans/{}", "9".repeat(10_000)),
    ] {
        expect_4xx(get(path.to_string()).await.unwrap(), path).await;
    }
    // A cursor that is no job's: an empty page, like one past the last job.
    let page: Value = get("/v1/scans?before=%ff%fe".into()).await.unwrap().json().await.unwrap();
    assert_eq!(page["scans"], serde_json::json!([]), "{page}");
    let list: Value = get("/v1/scans".into()).await.unwrap().json().await.unwrap();
    assert_eq!(list["scans"].as_array().map(Vec::len), Some(0), "nothing was queued: {list}");
    h.finish().await;
}
