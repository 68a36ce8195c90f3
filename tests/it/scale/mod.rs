//! Scale-out and faults: several real `revokd serve` processes on one database, and the
//! database, the mail server or the process itself failing under them. Every check is
//! on what was stored and what a real SMTP server received.

mod crash;
mod database_faults;
mod mail_outage;
mod replicas;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ops::{PEPPER, PartialRequest, Served};
use revokd::pepper::Pepper;
use revokd::secret::redact;
use revokd::store::{AuditQuery, Db, KeyOrigin, NewKey, Store};

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

/// Stores `token` as an active `xai_api_key` of `team` (hashed with the daemons'
/// pepper); returns its id.
pub async fn add_key(store: &Store, team: &str, token: &str) -> i64 {
    let key = NewKey { key_hash: Pepper::from_bytes(PEPPER).key_hash(token), redacted: redact(token, &[]) };
    store.add_keys(team, "xai_api_key", &[key], KeyOrigin::Imported, "test").await.unwrap()[0].id
}

/// Sends a signed alert for `tokens` to `replica` from a task of its own; resolves to
/// the status and JSON body.
pub fn spawn_alert(replica: &Served, tokens: &[&str]) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let (head, body) = replica.partner_request(tokens);
    let addr = replica.addr;
    tokio::spawn(async move {
        let mut request = PartialRequest::send(addr, &head, &body, body.len()).await;
        request.finish().await
    })
}

/// Event name → how many audit events of key `id` have it.
pub async fn audit_counts(store: &Store, id: i64) -> HashMap<String, usize> {
    let events = store.audit_events(&AuditQuery { key_id: Some(id), ..AuditQuery::default() }).await.unwrap();
    let mut counts = HashMap::new();
    for event in events {
        *counts.entry(event.event).or_insert(0) += 1;
    }
    counts
}

/// `(key_id, sightings)` of every leak row, oldest first.
pub async fn leak_rows(store: &Store) -> Vec<(Option<i64>, i64)> {
    const SQL: &str = "SELECT key_id, sightings FROM leaks ORDER BY id";
    match store.db() {
        Db::Sqlite { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    }
    .unwrap()
}

/// Polls `check` every 50 ms until it holds; panics with `what` after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy on loopback in front of `upstream` (PostgreSQL) that the test can cut:
/// [`TcpProxy::cut`] resets every open connection and closes the listening port, so new
/// connections are refused, until [`TcpProxy::restore`] listens on the same port again,
/// as a database host going away and coming back would.
pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    cuts: watch::Sender<u64>,
    accept: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0u64);
        let accept = std::sync::Mutex::new(Some(Self::forward(listener, upstream, cuts.clone())));
        TcpProxy { addr, upstream, cuts, accept }
    }

    /// Forwards every connection `listener` accepts to `upstream` until a cut.
    fn forward(listener: TcpListener, upstream: SocketAddr, cuts: watch::Sender<u64>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        })
    }

    /// Closes every connection through the proxy and the listening port.
    pub fn cut(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
        }
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Listens on the same port again.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        *self.accept.lock().unwrap() = Some(Self::forward(listener, self.upstream, self.cuts.clone()));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// `postgres://…` URL of `url`'s database reached through `proxy` instead.
pub fn through(proxy: &TcpProxy, url: &str) -> String {
    let (_, database) = url.rsplit_once('/').unwrap();
    format!("postgres://postgres@{}/{database}", proxy.addr)
}

/// The PostgreSQL server the tests use (host:port of `REVOKD_TEST_PG`).
pub fn pg_addr(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").unwrap().1;
    let host_port = rest.split('/').next().unwrap();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host_port = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    host_port.to_socket_addrs().unwrap().next().unwrap()
}
