//! One tracing span per request, carrying a request id (returned as `X-Request-Id`),
//! and the request metrics (count and duration by route and status).
//!
//! The span holds the method, the *route template* (`/github/webhook`, never a raw
//! path or query) and the id; log lines written while handling the request carry them.
//! Headers and bodies are never logged: they hold signatures and tokens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Counter of requests by `route`, `method` and `status`.
pub const REQUESTS_METRIC: &str = "revokd_http_requests_total";
/// Histogram of request durations in seconds, by `route`.
pub const REQUEST_DURATION_METRIC: &str = "revokd_http_request_duration_seconds";
/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps every route of `router` (the outermost layer: the span covers the limits too).
pub fn apply(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(observe))
}

async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request finished"));
    metrics::counter!(REQUESTS_METRIC, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(REQUEST_DURATION_METRIC, "route" => route).record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// A process-unique id: a random 32-bit prefix (ids from restarts or replicas differ)
/// and a sequence number. Ids are never taken from the client.
fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| getrandom::u32().unwrap_or(0));
    format!("{prefix:08x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
