//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// `GET /healthz`: the process is alive and serving. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers, GitHub's public keys are loaded and the
/// outbox backlog is below `notify.ready_max_pending`; 503 otherwise, saying which part
/// is missing. Cost: one count over an index.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "database reachable, GitHub keys loaded, outbox backlog below `notify.ready_max_pending`"),
    (status = 503, description = "not ready: `{ready, database, github_keys, outbox, outbox_pending}`"),
))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backlog = state.store.outbox_backlog().await.ok();
    let database = backlog.is_some();
    let github_keys = state.keys.is_loaded();
    let pending = backlog.map(|b| b.pending);
    let outbox = pending.is_some_and(|p| u64::try_from(p).unwrap_or(0) < state.ready_max_pending);
    let ready = database && github_keys && outbox;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "ready": ready,
            "database": database,
            "github_keys": github_keys,
            "outbox": outbox,
            "outbox_pending": pending,
        })),
    )
}

/// Gauge of emails waiting in the outbox (`pending`), set at each scrape.
pub const OUTBOX_PENDING_METRIC: &str = "revokd_outbox_pending";
/// Gauge of emails given up (`dead`), set at each scrape.
pub const OUTBOX_DEAD_METRIC: &str = "revokd_outbox_dead";

/// `GET /metrics`: Prometheus text format. The outbox gauges are read from the
/// database at each scrape (shared by replicas, so every replica reports the same
/// totals); when the database is down they keep their last values.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> String {
    if let Ok(backlog) = state.store.outbox_backlog().await {
        metrics::gauge!(OUTBOX_PENDING_METRIC).set(backlog.pending as f64);
        metrics::gauge!(OUTBOX_DEAD_METRIC).set(backlog.dead as f64);
    }
    state.metrics.run_upkeep();
    state.metrics.render()
}
