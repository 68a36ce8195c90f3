//! Resource limits of the HTTP server (`[server]` keys): connections, header and body
//! deadlines, and a global cap on requests handled at once.
//!
//! The cap answers 503 `overloaded` (with `Retry-After: 1`) rather than queueing: GitHub
//! retries failed deliveries, and a bounded queue keeps latency bounded for the requests
//! that are admitted. `/healthz`, `/readyz` and `/metrics` bypass it so that an
//! overloaded daemon can still be probed and scraped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::ServerConfig;

/// The limits in effect (see `ServerConfig` for each default and why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_concurrent_requests: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from_config(&ServerConfig::default())
    }
}

impl Limits {
    pub fn from_config(server: &ServerConfig) -> Limits {
        Limits {
            max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
            max_concurrent_requests: usize::try_from(server.max_concurrent_requests).unwrap_or(usize::MAX),
            header_read_timeout: server.header_read_timeout.0,
            body_read_timeout: server.body_read_timeout.0,
        }
    }
}

/// Routes that are never shed: probes and scrapes must work under overload.
const UNLIMITED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Adds the body deadline and the concurrency cap to every route of `router`.
pub fn apply(router: Router, limits: &Limits) -> Router {
    let permits = Arc::new(Semaphore::new(limits.max_concurrent_requests));
    router
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(axum::middleware::from_fn_with_state(permits, admit))
}

/// Takes one of the global permits for the whole request (until its response is
/// produced), or answers 503 at once when none is free.
async fn admit(State(permits): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    if UNLIMITED_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = permits.try_acquire() else {
        return overloaded();
    };
    next.run(request).await
}

fn overloaded() -> Response {
    let body = serde_json::json!({ "error": "too many requests in progress; retry shortly", "code": "overloaded" });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
