//! Signed partner-alert bodies that are not what GitHub sends: the signature is valid
//! (signed with the harness key), so these reach the JSON parser and the use case.

use serde_json::Value;

use crate::serve::{Backend, Harness, alert_body, expect_error, token};

/// Posts `body` signed, expects `status` (and the error code for 4xx), and checks that
/// the daemon still answers afterwards.
async fn expect(h: &Harness, body: &[u8], status: u16, code: Option<&str>) -> Option<Value> {
    let response = h.post_signed(body).await;
    let result = match code {
        Some(code) => Some(expect_error(response, status, code).await),
        None => {
            assert_eq!(response.status().as_u16(), status);
            Some(response.json().await.unwrap())
        }
    };
    assert_eq!(h.get("/healthz").await.status(), 200);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_and_never_echo_the_input() {
    let h = Harness::start(Backend::Sqlite).await;
    let secret = token("hostile body");
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let objects = format!("{}{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let numbers = format!("[{}1]", "1,".repeat(300_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"hello, revokd".to_vec()),
        ("deep array nesting", nested.into_bytes()),
        ("deep object nesting", objects.into_bytes()),
        ("huge array of numbers", numbers.into_bytes()),
        ("an object, not an array", format!("{{\"token\":\"{secret}\",\"type\":\"xai_api_key\"}}").into_bytes()),
        ("a number where the token belongs", br#"[{"token":12345,"type":"xai_api_key"}]"#.to_vec()),
        ("a number where the type belongs", format!("[{{\"token\":\"{secret}\",\"type\":7}}]").into_bytes()),
        ("null token", br#"[{"token":null,"type":"xai_api_key"}]"#.to_vec()),
        ("duplicate token key", format!("[{{\"token\":\"{secret}\",\"token\":\"x\",\"type\":\"t\"}}]").into_bytes()),
        ("invalid UTF-8 in a string", [&b"[{\"token\":\"xai-\xff\xfe\",\"type\":\"t\"}]"[..]].concat()),
        ("raw NUL in a string", b"[{\"token\":\"a\0b\",\"type\":\"t\"}]".to_vec()),
        ("raw control characters", b"[{\"token\":\"a\x01\x1b[31m\",\"type\":\"t\"}]".to_vec()),
        ("trailing garbage", format!("[{{\"token\":\"{secret}\",\"type\":\"t\"}}] trailing").into_bytes()),
        ("lone surrogate escape", br#"[{"token":"\ud800","type":"t"}]"#.to_vec()),
        ("UTF-16 body", "[{\"token\":\"x\",\"type\":\"t\"}]".encode_utf16().flat_map(u16::to_le_bytes).collect()),
        ("truncated", format!("[{{\"token\":\"{secret}").into_bytes()),
    ];
    for (what, body) in cases {
        let error = expect(&h, &body, 400, Some("malformed_body")).await.unwrap();
        assert!(!error.to_string().contains(&secret[..20]), "{what}: the error quotes the input: {error}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_valid_json_is_labelled_and_writes_nothing() {
    let h = Harness::start(Backend::Sqlite).await;
    let ours = token("odd but valid");
    let id = h.add_key(&ours).await;
    // Strings of almost a megabyte, escaped NUL and control characters, unknown fields,
    // an empty array, thousands of alerts: 200, each alert labelled, nothing disabled.
    let long = "A".repeat(900 * 1024);
    let body = serde_json::to_vec(&serde_json::json!([
        {"token": long, "type": "xai_api_key", "url": "", "source": ""},
        {"token": "a\u{0}b\u{1}\u{7f}", "type": "\u{0}", "url": "\u{202e}", "source": "\n"},
        {"token": format!("{ours}\u{0}"), "type": "xai_api_key", "extra": {"nested": [1, 2, 3]}},
    ]))
    .unwrap();
    let feedback = expect(&h, &body, 200, None).await.unwrap();
    let labels: Vec<_> = feedback.as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["false_positive"; 3]);
    assert_eq!(expect(&h, b"[]", 200, None).await.unwrap(), serde_json::json!([]));

    let many: Vec<String> = (0..5000).map(|n| format!("not-a-token-{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let feedback = expect(&h, &alert_body(&many), 200, None).await.unwrap();
    assert_eq!(feedback.as_array().unwrap().len(), 5000);

    assert_eq!(h.key_status(id).await, revokd::store::KeyStatus::Active, "a token with a NUL appended is not our key");
    assert!(h.leak_notices().await.is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_hostile_bodies_are_refused_before_parsing() {
    let h = Harness::start(Backend::Sqlite).await;
    for body in [&b"\xff\xfe\0garbage"[..], b"[", &"[".repeat(100_000).into_bytes()] {
        let response = h.post_partner(body, Some(&h.key.id), Some(&h.key.sign(b"another body"))).await;
        expect_error(response, 401, "bad_signature").await;
    }
    h.finish().await;
}
