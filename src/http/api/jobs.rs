//! `POST /v1/scans`, `GET /v1/scans`, `GET /v1/scans/{id}`, `DELETE /v1/scans/{id}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::V1Error;
use crate::access::Permission;
use crate::config::redact_url;
use crate::http::error::ApiError;
use crate::store::{CancelOutcome, ScanJob, format_ms};

/// Default and largest page of `GET /v1/scans`.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// The body of `POST /v1/scans`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// A local path under `api.allowed_roots`, or a URL with a scheme in
    /// `api.allowed_schemes`.
    pub repo: String,
    /// One ref or commit to scan from; default every ref (with `history: false`, HEAD).
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    /// `true` (default): every commit reachable from the ref(s). `false`: only the tree
    /// at `ref` (or HEAD), as a checkout of it holds; findings name that commit.
    #[serde(default = "yes")]
    pub history: bool,
    #[serde(default)]
    pub revoke: bool,
}

impl ScanRequest {
    /// Refuses refs that are not plain ref names or commit ids.
    pub fn validate(&self) -> Result<(), V1Error> {
        if let Some(r) = &self.git_ref
            && (r.is_empty()
                || r.len() > 256
                || r.starts_with('-')
                || r.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(V1Error::bad_request(
                "invalid_ref",
                "ref must be a ref name or commit id (1-256 characters, no spaces, not starting with '-')",
            ));
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/v1/scans", tag = "api", security(("bearer" = [])),
    request_body(content = ScanRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "`{\"id\", \"status\": \"queued\"}` and `Location`"),
        (status = 400, description = "`malformed_body`, `invalid_repo`, `invalid_ref`"),
        (status = 403, description = "`path_not_allowed`, `scheme_not_allowed`, `host_not_allowed`; `forbidden` when the token's role may not run scans"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
    ))]
/// `POST /v1/scans` → 202 `{"id", "status": "queued"}` (and `Location`).
pub async fn create(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, V1Error> {
    caller.require(Permission::RunScans)?;
    let limit = 64 * 1024;
    let body = crate::http::read_body(body, limit)?;
    let request: ScanRequest = serde_json::from_slice(&body).map_err(|e| ApiError::malformed(&e))?;
    let stored = api.queue_scan(request, &caller.name).await?;
    let location = format!("/v1/scans/{}", stored.id);
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(json!({ "id": stored.id, "status": stored.status })))
        .into_response())
}

#[utoipa::path(get, path = "/v1/scans/{id}", tag = "api", security(("bearer" = [])),
    params(("id" = String, Path, description = "job id")),
    responses(
        (status = 200, description = "`{id, status, repo, ref, history, revoke, requested_by, created_at, started_at, finished_at, attempts, findings, findings_count, stats, error}`"),
        (status = 404, description = "`scan_not_found`"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
    ))]
/// `GET /v1/scans/{id}` → the job with its redacted findings and stats.
pub async fn show(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, V1Error> {
    caller.require(Permission::ReadScans)?;
    match api.inner.store.scan_job(&id).await? {
        Some(job) => Ok(Json(job_json(&job, true))),
        None => Err(V1Error::ScanNotFound(id)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<i64>,
    /// The `next` of the previous page.
    before: Option<String>,
}

#[utoipa::path(get, path = "/v1/scans", tag = "api", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("before" = Option<String>, Query, description = "the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "`{\"scans\": [...], \"next\": ID|null}`, newest first"),
        (status = 400, description = "`bad_query`"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
    ))]
/// `GET /v1/scans?limit=&before=` → `{"scans": [...], "next": ID|null}`, newest first,
/// without findings (each has `findings_count`).
pub async fn list(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, V1Error> {
    caller.require(Permission::ReadScans)?;
    let Query(page) = page.map_err(|e| V1Error::bad_request("bad_query", e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(V1Error::bad_request("bad_query", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let jobs = api.inner.store.scan_jobs(limit, page.before.as_deref()).await?;
    let next = (jobs.len() as i64 == limit).then(|| jobs.last().map(|j| j.id.clone())).flatten();
    let list: Vec<_> = jobs.iter().map(|j| job_json(j, false)).collect();
    Ok(Json(json!({ "scans": list, "next": next })))
}

#[utoipa::path(delete, path = "/v1/scans/{id}", tag = "api", security(("bearer" = [])),
    params(("id" = String, Path, description = "job id")),
    responses(
        (status = 200, description = "`{\"id\", \"status\": \"cancelled\"}`"),
        (status = 404, description = "`scan_not_found`"),
        (status = 409, description = "`already_ended`"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
    ))]
/// `DELETE /v1/scans/{id}` → 200 `{"id", "status": "cancelled"}`; 409 when it ended.
pub async fn cancel(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, V1Error> {
    caller.require(Permission::RunScans)?;
    match api.inner.store.cancel_scan_job(&id).await? {
        CancelOutcome::Cancelled => {
            tracing::info!(%id, "scan job cancelled");
            Ok(Json(json!({ "id": id, "status": "cancelled" })))
        }
        CancelOutcome::NotFound => Err(V1Error::ScanNotFound(id)),
        CancelOutcome::AlreadyEnded(status) => Err(V1Error::AlreadyEnded { id, status }),
    }
}

/// A job as the API and `revokd scans` show it (the repository URL without credentials;
/// `findings` only when `with_findings`).
pub fn job_json(job: &ScanJob, with_findings: bool) -> Value {
    let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
    let findings = parse(&job.findings).unwrap_or_else(|| json!([]));
    let mut out = json!({
        "id": job.id,
        "status": job.status,
        "repo": redact_url(&job.repo),
        "ref": job.git_ref,
        "history": job.history,
        "revoke": job.revoke,
        "requested_by": job.requested_by,
        "created_at": format_ms(job.created_at),
        "started_at": job.started_at.map(format_ms),
        "finished_at": job.finished_at.map(format_ms),
        "attempts": job.attempts,
        "findings_count": findings.as_array().map_or(0, Vec::len),
        "stats": parse(&job.stats),
        "error": job.error,
    });
    if with_findings {
        out["findings"] = findings;
    }
    out
}
