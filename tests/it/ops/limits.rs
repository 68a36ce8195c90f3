//! `[server]` limits over a real socket: header and body deadlines, the connection cap
//! and the request-concurrency cap (probes exempt).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{PartialRequest, read_response};
use crate::serve::{Backend, Harness};

fn partner_head(h: &Harness, body: &[u8]) -> Vec<u8> {
    format!(
        "POST /github/secret-scanning HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: {}\r\n\
         Github-Public-Key-Signature: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        h.key.id,
        h.key.sign(body),
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_dropped_and_slow_bodies_get_408() {
    let h = Harness::start_with(Backend::Sqlite, |o| {
        o.limits.header_read_timeout = Duration::from_millis(300);
        o.limits.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = h.daemon.local_addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await.unwrap().unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "closed only after the header deadline: {waited:?}");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"), "no response to incomplete headers");

    let body = crate::serve::alert_body(&[&crate::serve::token("slow body")]);
    let mut request = PartialRequest::send(addr, &partner_head(&h, &body), &body, 5).await;
    let (status, error) = read_response(request.stream()).await;
    assert_eq!(status, 408, "{error}");
    assert_eq!(error["code"], "body_timeout");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_concurrency_cap_get_503_but_probes_pass() {
    let h = Harness::start_with(Backend::Sqlite, |o| o.limits.max_concurrent_requests = 1).await;
    let addr = h.daemon.local_addr();
    let body = crate::serve::alert_body(&[&crate::serve::token("holds the permit")]);
    let mut holder = PartialRequest::send(addr, &partner_head(&h, &body), &body, 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = h.post_signed(&body).await;
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let error: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(error["code"], "overloaded");
    assert_eq!(h.get("/healthz").await.status(), 200, "probes bypass the cap");
    assert_eq!(h.get("/metrics").await.status(), 200, "scrapes bypass the cap");
    let (status, _) = holder.finish().await;
    assert_eq!(status, 200);
    assert_eq!(h.post_signed(&body).await.status(), 200, "the permit is released");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_idle_connections_make_room_and_busy_ones_do_not() {
    let h = Harness::start_with(Backend::Sqlite, |o| o.limits.max_connections = 2).await;
    let addr = h.daemon.local_addr();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(stream); // kept alive and idle
    }
    // A third client is served at once: the oldest idle connection is closed for it.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (status, _) = tokio::time::timeout(Duration::from_secs(2), read_response(&mut third)).await.unwrap();
    assert_eq!(status, 200);
    let mut buf = [0u8; 16];
    let oldest = tokio::time::timeout(Duration::from_secs(2), held[0].read(&mut buf)).await.unwrap();
    assert!(matches!(oldest, Ok(0) | Err(_)), "the oldest idle connection was closed: {oldest:?}");

    // Two requests in progress (bodies not yet complete) are never evicted: a third
    // client waits until one finishes.
    drop(held);
    let body = crate::serve::alert_body(&[&crate::serve::token("busy")]);
    let mut busy = Vec::new();
    for _ in 0..2 {
        busy.push(PartialRequest::send(addr, &partner_head(&h, &body), &body, 5).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "no slot while both connections are busy");
    for mut request in busy {
        assert_eq!(request.finish().await.0, 200, "busy requests complete");
    }
    let (status, _) = read_response(&mut waiting).await;
    assert_eq!(status, 200, "served once a slot is free");
    h.finish().await;
}
