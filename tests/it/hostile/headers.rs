//! Partner-alert signature headers: missing, repeated, oversized, not base64, not DER,
//! or a valid signature by a key other than the one named.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::{Backend, Harness, TestKey, alert_body, expect_error, token};

/// Sends a raw request with `headers` (name, value) and `body`; returns (status, raw
/// response), or `None` when the server closed the connection without answering.
async fn raw_post(h: &Harness, headers: &[(&str, &[u8])], body: &[u8]) -> Option<(u16, String)> {
    let mut request = b"POST /github/secret-scanning HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
    for (name, value) in headers {
        request.extend_from_slice(format!("{name}: ").as_bytes());
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    let mut stream = TcpStream::connect(h.daemon.local_addr()).await.unwrap();
    // The server may answer and close before reading everything (oversized headers).
    let _ = stream.write_all(&request).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let read = read.expect("the server answers or closes within 10 s");
    if read.is_err() || raw.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad response {text:?}"));
    Some((status, text))
}

fn code_of(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str::<serde_json::Value>(body).unwrap_or_default()["code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_headers_get_401() {
    let h = Harness::start(Backend::Sqlite).await;
    let ours = token("header games");
    let id = h.add_key(&ours).await;
    let body = alert_body(&[&ours]);
    let other = TestKey::generate("not GitHub");
    // A valid signature over this body, by a key GitHub does not list, under the id of
    // one it does.
    let response = h.post_partner(&body, Some(&h.key.id), Some(&other.sign(&body))).await;
    expect_error(response, 401, "bad_signature").await;
    // The same signature under its own (unlisted) id.
    let response = h.post_partner(&body, Some(&other.id), Some(&other.sign(&body))).await;
    expect_error(response, 401, "unknown_key_id").await;
    let der = BASE64.decode(h.key.sign(&body)).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("not base64", "%%%not*base64%%%".into()),
        ("URL-safe alphabet", h.key.sign(&body).replace('+', "-").replace('/', "_")),
        ("raw r||s instead of DER", BASE64.encode([7u8; 64])),
        ("DER with trailing bytes", BASE64.encode([&der[..], &[0u8]].concat())),
        ("truncated DER", BASE64.encode(&der[..der.len() - 1])),
        ("empty DER sequence", BASE64.encode([0x30, 0x00])),
        ("64 KiB of base64", "A".repeat(64 * 1024)),
    ];
    for (what, signature) in cases {
        let response = h.post_partner(&body, Some(&h.key.id), Some(&signature)).await;
        assert_eq!(response.status(), 401, "{what}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], "bad_signature", "{what}: {error}");
    }
    for key_id in ["", " ", &"f".repeat(10_000), "../../etc/passwd", "\u{202e}"] {
        let response = h.post_partner(&body, Some(key_id), Some(&h.key.sign(&body))).await;
        assert_eq!(response.status(), 401, "key id {key_id:?}");
    }
    assert_eq!(h.key_status(id).await, revokd::store::KeyStatus::Active, "no forged alert disabled the key");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_or_non_text_signature_headers_are_refused() {
    let h = Harness::start(Backend::Sqlite).await;
    let ours = token("repeated headers");
    let id = h.add_key(&ours).await;
    let body = alert_body(&[&ours]);
    let signature = h.key.sign(&body);
    let key_id = h.key.id.clone();
    let id_header = "Github-Public-Key-Identifier";
    let sig_header = "Github-Public-Key-Signature";
    // A signature header sent twice is ambiguous (a proxy and the daemon could read
    // different ones): refused even when one of the values is valid.
    for headers in [
        vec![(id_header, key_id.as_bytes()), (sig_header, signature.as_bytes()), (sig_header, b"AAAA".as_slice())],
        vec![(id_header, key_id.as_bytes()), (sig_header, b"AAAA".as_slice()), (sig_header, signature.as_bytes())],
        vec![(id_header, key_id.as_bytes()), (id_header, key_id.as_bytes()), (sig_header, signature.as_bytes())],
    ] {
        let (status, response) = raw_post(&h, &headers, &body).await.expect("an answer");
        assert_eq!(status, 401, "{response}");
        assert_eq!(code_of(&response), "repeated_header", "{response}");
    }
    // Bytes that are not visible ASCII in a header value.
    let (status, response) =
        raw_post(&h, &[(id_header, key_id.as_bytes()), (sig_header, b"\xff\xfe\x80")], &body).await.expect("an answer");
    assert_eq!((status, code_of(&response)), (401, "missing_signature".into()), "{response}");
    assert_eq!(h.key_status(id).await, revokd::store::KeyStatus::Active);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_or_a_closed_connection() {
    let h = Harness::start(Backend::Sqlite).await;
    let body = alert_body(&[&token("oversized")]);
    let huge = vec![b'A'; 1024 * 1024];
    for headers in [vec![("Github-Public-Key-Signature", huge.as_slice())], vec![("X-Padding", huge.as_slice())]] {
        match raw_post(&h, &headers, &body).await {
            None => {}
            Some((status, response)) => assert_eq!(status, 431, "{}", &response[..response.len().min(200)]),
        }
    }
    let many: Vec<(String, Vec<u8>)> = (0..2000).map(|n| (format!("X-Header-{n}"), b"v".to_vec())).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    match raw_post(&h, &many, &body).await {
        None => {}
        Some((status, response)) => assert_eq!(status, 431, "{}", &response[..response.len().min(200)]),
    }
    assert_eq!(h.get("/healthz").await.status(), 200);
    h.finish().await;
}
