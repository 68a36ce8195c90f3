//! The HTTP/1.1 accept loop: a bounded number of connections, a deadline for request
//! headers, idle connections evicted when the cap is reached, and a graceful drain
//! bounded by `server.shutdown_timeout`.
//!
//! `axum::serve` offers neither a header deadline nor a connection cap, so connections
//! are served with hyper directly. HTTP/1.1 only: GitHub delivers webhooks over it.
//!
//! At the cap, a new client is not left waiting behind connections that do nothing: the
//! loop accepts it and asks the oldest *idle* connection (no request in the handlers:
//! connected but silent, dribbling headers, or kept alive between requests) to close.
//! An idle-connection or slowloris flood therefore cannot lock out health probes or
//! GitHub; it only churns through its own sockets. Requests in progress are never cut:
//! a connection asked to close finishes its current response first. Cost: one map
//! insert and remove per connection, and a scan of the open connections per eviction.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tower::Layer as _;

use super::limits::Limits;

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight request completed and every connection closed.
    Complete,
    /// `server.shutdown_timeout` passed first; the remaining connections were dropped.
    TimedOut,
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so that the loop does not
/// spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` fires (or its sender is dropped), then stops
/// accepting, lets in-flight requests finish (keep-alive connections close after their
/// current response) and returns once all are done or `drain_timeout` passed.
pub fn spawn(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    drain_timeout: Duration,
    stop: oneshot::Receiver<()>,
) -> JoinHandle<Drain> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let open = Arc::new(OpenConnections::default());
    let (draining, drain_signal) = watch::channel(false);
    tokio::spawn(async move {
        let mut stop = std::pin::pin!(stop);
        loop {
            let next = admit(&listener, &connections, &open);
            let (permit, stream, peer) = tokio::select! {
                biased;
                _ = &mut stop => break,
                next = next => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let _ = stream.set_nodelay(true);
            let slot = open.insert();
            // The peer address reaches handlers as `ConnectInfo` (the console's sign-in
            // rate limit is per client address).
            let app = Extension(ConnectInfo(peer)).layer(app.clone());
            let service = Tracked { inner: TowerToHyperService::new(app), slot: Arc::clone(&slot) };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let open = Arc::clone(&open);
            let mut drain_signal = drain_signal.clone();
            tokio::spawn(async move {
                let mut connection = std::pin::pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    _ = slot.evict.notified() => {
                        // The connection is not being polled here, so no request can
                        // start meanwhile: idle now means idle until dropped.
                        if slot.in_flight.load(Ordering::Acquire) == 0 {
                            Ok(()) // dropping the connection closes the socket
                        } else {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    }
                    _ = drain_signal.changed() => {
                        // Closes at once when idle, after the current response otherwise.
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                open.remove(slot.id);
                drop(permit);
            });
        }
        drop(listener);
        let _ = draining.send(true);
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        match tokio::time::timeout(drain_timeout, connections.acquire_many(all)).await {
            Ok(_) => Drain::Complete,
            Err(_) => Drain::TimedOut,
        }
    })
}

/// Waits for a connection slot and a client. Below the cap a free slot comes first, so
/// extra clients wait in the kernel's backlog rather than holding sockets here; at the
/// cap a waiting client is accepted and the oldest idle connection is asked to close to
/// make room. `None` when the semaphore was closed.
async fn admit(
    listener: &TcpListener,
    connections: &Arc<Semaphore>,
    open: &OpenConnections,
) -> Option<(OwnedSemaphorePermit, TcpStream, SocketAddr)> {
    loop {
        let (permit, stream) = match Arc::clone(connections).try_acquire_owned() {
            Ok(permit) => (permit, accept(listener).await),
            Err(tokio::sync::TryAcquireError::Closed) => return None,
            Err(tokio::sync::TryAcquireError::NoPermits) => tokio::select! {
                permit = Arc::clone(connections).acquire_owned() => (permit.ok()?, accept(listener).await),
                stream = accept(listener) => {
                    open.evict_oldest_idle();
                    (Arc::clone(connections).acquire_owned().await.ok()?, stream)
                }
            },
        };
        match stream {
            Some((stream, peer)) => return Some((permit, stream, peer)),
            None => drop(permit),
        }
    }
}

/// One `accept`; `None` (after a short pause) when it failed.
async fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(accepted) => Some(accepted),
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            None
        }
    }
}

/// One open connection as the accept loop tracks it.
pub struct Slot {
    id: u64,
    /// Requests of this connection inside the handlers now (HTTP/1.1: 0 or 1).
    in_flight: AtomicUsize,
    /// Woken to ask the connection to close (eviction).
    evict: Notify,
}

/// The open connections, in accept order (ids increase).
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl OpenConnections {
    fn insert(&self) -> Arc<Slot> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot { id, in_flight: AtomicUsize::new(0), evict: Notify::new() });
        self.lock().insert(id, Arc::clone(&slot));
        slot
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the longest-open connection with no request in the handlers to close, and
    /// forgets it (so that the next eviction picks another). No idle one: nothing happens,
    /// and the new client waits for a request to finish.
    fn evict_oldest_idle(&self) {
        let mut slots = self.lock();
        let oldest = slots.values().filter(|s| s.in_flight.load(Ordering::Acquire) == 0).map(|s| s.id).min();
        if let Some(slot) = oldest.and_then(|id| slots.remove(&id)) {
            // `notify_one` stores the wake-up if the task is not waiting yet.
            slot.evict.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        // A poisoned map only means a task panicked between two complete updates.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The per-connection service: counts the connection's requests in the handlers, so that
/// eviction only picks connections with none.
struct Tracked<S> {
    inner: S,
    slot: Arc<Slot>,
}

impl<S, R, B> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R, Response = hyper::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = hyper::Response<Guarded<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        let in_flight = InFlight::enter(Arc::clone(&self.slot));
        let response = self.inner.call(request);
        // The request counts until its response body is written (hyper drops the body
        // then), so eviction never cuts a response short.
        Box::pin(async move { Ok(response.await?.map(|body| Guarded { body, _in_flight: in_flight })) })
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub struct Guarded<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// One request of a connection in the handlers, until dropped.
pub struct InFlight(Arc<Slot>);

impl InFlight {
    fn enter(slot: Arc<Slot>) -> InFlight {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(slot)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
