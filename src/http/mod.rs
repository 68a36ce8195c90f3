//! The HTTP surface of `revokd serve` (axum): routes and shared state.
//!
//! Handlers are thin: read → verify → call one use case → map the outcome; errors
//! become status + JSON in [`error`] only.

pub mod api;
pub mod error;
pub mod health;
pub mod openapi;
pub mod partner;
pub mod webhook;

use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::github::api::GitHubApi;
use crate::github::keys::PublicKeys;
use crate::github::signature::WebhookSecret;
use crate::revoke::Revoker;
use crate::store::Store;
use error::ApiError;

/// Default `server.max_body_bytes`: 1 MiB holds thousands of partner alerts (GitHub
/// publishes no batch limit) while bounding the memory one request can pin.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Everything a handler may use. Cloned per request (a few `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub revoker: Revoker,
    pub store: Store,
    pub keys: PublicKeys,
    pub github: GitHubApi,
    /// `None` when `github.webhook_secret_file` is not configured: `/github/webhook`
    /// then answers 404.
    pub webhook_secret: Option<WebhookSecret>,
    pub max_body_bytes: usize,
    /// `/readyz` fails while more emails than this wait in the outbox.
    pub ready_max_pending: u64,
    pub metrics: PrometheusHandle,
    /// `None` when `api.tokens_file` is not configured: `/v1/*` then answers 404.
    pub api: Option<api::ApiState>,
    /// The web console; `None` (no `api.tokens_file`): `/console/*` answers 404.
    pub console: Option<crate::console::ConsoleState>,
}

/// The router with every route of the daemon.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/github/secret-scanning", post(partner::secret_scanning))
        .route("/github/webhook", post(webhook::webhook))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(api::router(state.api.clone()))
        .merge(crate::console::router(state.console.clone()))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(limit, refuse_announced_oversize))
        .with_state(state)
}

/// The request body, or 413 beyond `limit` (axum enforces the limit while reading, and
/// answers before reading anything when `Content-Length` already exceeds it).
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
        _ if timed_out(&rejection) => ApiError::BodyTimeout,
        _ => ApiError::UnreadableBody,
    })
}

/// Answers 413 at once when `Content-Length` announces more than `limit` bytes. The
/// body extractor alone would wait for the announced bytes (a client can announce 10 GB
/// and send nothing) until `server.body_read_timeout`, holding a request permit.
pub(crate) async fn refuse_announced_oversize(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let announced =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    next.run(request).await
}

/// The one value of header `name` as text; `None` when it is absent, empty or not
/// visible ASCII. A header sent twice is [`ApiError::RepeatedHeader`].
pub(crate) fn single_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::RepeatedHeader(name));
    }
    Ok(first.and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()))
}

/// True when the body stopped because `server.body_read_timeout` passed.
fn timed_out(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The process-wide Prometheus recorder, installed on first use (a process has one
/// global `metrics` recorder; tests start several daemons in one process).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Fine buckets (1–2.5 ms apart) up to 20 ms around the 10 ms disable-latency
            // target, so the histogram resolves p50 and p99 there; coarser above. Each
            // bucket costs one atomic counter per labelled series.
            let buckets = [
                0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.0175,
                0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(crate::revoke::DISABLE_LATENCY_METRIC.to_owned()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(crate::daemon::observe::REQUEST_DURATION_METRIC.to_owned()),
                        &buckets,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}
