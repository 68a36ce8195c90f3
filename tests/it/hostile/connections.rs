//! Connection-level attacks over real sockets: thousands of idle connections, slowloris
//! headers, bodies over the limit. The daemon answers probes within 100 ms throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::{Backend, Harness, alert_body, token};

/// Idle connections the flood opens: 2,000, or fewer when the open-file limit would not
/// leave room for them twice (client and server ends live in this process) plus the
/// rest of the test suite.
fn flood_size() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1024);
    2000.min(soft.saturating_sub(512) / 2)
}

/// One `GET /healthz` on a fresh connection; returns (status, elapsed).
async fn probe(addr: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(15), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    })
    .await
    .expect("the probe is answered within 15 s");
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, started.elapsed())
}

/// The slowest of `count` probes.
async fn slowest_probe(addr: SocketAddr, count: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..count {
        let (status, elapsed) = probe(addr).await;
        assert_eq!(status, 200);
        slowest = slowest.max(elapsed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_within_100ms_during_an_idle_connection_flood() {
    // Default limits: 1,024 connections, 10 s to send headers.
    let h = Harness::start(Backend::Sqlite).await;
    let addr = h.daemon.local_addr();
    let size = flood_size();
    assert!(size >= 1100, "the open-file limit leaves room for only {size} idle connections");
    let mut idle = Vec::with_capacity(size);
    for _ in 0..size {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the accept loop take in what it will.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slowest = slowest_probe(addr, 10).await;
    assert!(slowest < Duration::from_millis(100), "slowest /healthz during a flood of {size}: {slowest:?}");
    // A signed alert still gets through.
    let body = alert_body(&[&token("during the flood")]);
    assert_eq!(h.post_signed(&body).await.status(), 200);
    drop(idle);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_dropped_and_probes_still_pass() {
    let h = Harness::start_with(Backend::Sqlite, |o| {
        o.limits.header_read_timeout = Duration::from_millis(800);
        o.limits.max_connections = 64;
    })
    .await;
    let addr = h.daemon.local_addr();
    // 200 clients (over three times the connection cap) each dribble one header byte
    // every 100 ms, for at most 5 s.
    let clients: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let started = Instant::now();
                let head = b"POST /github/secret-scanning HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                for byte in head.iter().chain(std::iter::repeat(&b'a')).take(50) {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return Some(started.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Still open after 5 s: find out whether the server closed its end.
                let mut buf = [0u8; 64];
                match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => Some(started.elapsed()),
                    _ => None,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slowest = slowest_probe(addr, 10).await;
    assert!(slowest < Duration::from_millis(100), "slowest /healthz during slowloris: {slowest:?}");
    for client in clients {
        let closed_after = client.await.unwrap();
        assert!(closed_after.is_some(), "a slowloris connection was still open after 5 s");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_however_they_are_framed() {
    let h = Harness::start_with(Backend::Sqlite, |o| o.max_body_bytes = 4096).await;
    let addr = h.daemon.local_addr();
    let head = format!(
        "POST /github/secret-scanning HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: {}\r\n\
         Github-Public-Key-Signature: AAAA\r\nConnection: close\r\n",
        h.key.id
    );
    // Announced: a 10 GB Content-Length is refused before any body byte is read.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("{head}Content-Length: 10000000000\r\n\r\n").as_bytes()).await.unwrap();
    let started = Instant::now();
    let (status, _) = crate::ops::read_response(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(5), "answered at once, not after the body deadline");
    assert_eq!(status, 413);
    // Chunked, no length: refused once the limit is crossed.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("{head}Transfer-Encoding: chunked\r\n\r\n").as_bytes()).await.unwrap();
    for _ in 0..8 {
        let chunk = format!("400\r\n{}\r\n", "a".repeat(0x400));
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let (status, error) = crate::ops::read_response(&mut stream).await;
    assert_eq!(status, 413, "{error}");
    // Both framings at once (request smuggling): refused outright.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.expect("answer or close");
    let text = String::from_utf8_lossy(&raw);
    assert!(raw.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    assert_eq!(probe(addr).await.0, 200);
    h.finish().await;
}
