//! The HTTP/1.1 accept loop: a bounded number of connections, a deadline for request
//! headers, and a graceful drain bounded by `server.shutdown_timeout`.
//!
//! `axum::serve` offers neither a header deadline nor a connection cap, so connections
//! are served with hyper directly. HTTP/1.1 only: GitHub delivers webhooks over it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
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
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            let next = async {
                // Waiting for a permit before `accept` leaves extra clients in the kernel's
                // backlog instead of holding their sockets open here.
                let permit = connections.clone().acquire_owned().await;
                (permit, listener.accept().await)
            };
            let (permit, accepted) = tokio::select! {
                biased;
                _ = &mut stop => break,
                next = next => next,
            };
            let Ok(permit) = permit else { break };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // The peer address reaches handlers as `ConnectInfo` (the console's sign-in
            // rate limit is per client address).
            let service = Extension(ConnectInfo(peer)).layer(app.clone());
            let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        match tokio::time::timeout(drain_timeout, graceful.shutdown()).await {
            Ok(()) => Drain::Complete,
            Err(_) => Drain::TimedOut,
        }
    })
}
