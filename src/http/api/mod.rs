//! `/v1/*`: the scan API for security teams (SPEC §8), behind bearer tokens
//! ([`auth`]) and a per-token rate limit.
//!
//! - `POST /v1/scan`: scan a text body now → `{"findings": […]}` (redacted).
//! - `GET /v1/audit`: audit events, with the filters of `revokd audit`.
//! - `POST /v1/scans`, `GET /v1/scans[/{id}]`, `DELETE /v1/scans/{id}`: git scan jobs,
//!   queued in the database and run by [`worker`] on any replica ([`jobs`]).

pub mod auth;
pub mod error;
pub mod jobs;
pub mod policy;
pub mod worker;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::access::Permission;
use crate::config::ApiConfig;
use crate::revoke::Revoker;
use crate::scan::reader::{DEFAULT_CHUNK_SIZE, InputOutcome, ReadOptions, scan_reader};
use crate::scan::report::FindingJson;
use crate::store::{AuditEvent, AuditFilter, AuditFilterError, NewScanJob, ScanJob, Store, StoreError, now_ms};
use auth::{Caller, RateLimit, TokenSet};
use error::V1Error;
use policy::RepoPolicy;

/// `GET /v1/audit` returns at most this many events unless `limit` says otherwise.
pub const DEFAULT_AUDIT_LIMIT: i64 = 1000;
/// Largest `limit` of `GET /v1/audit`.
pub const MAX_AUDIT_LIMIT: i64 = 10_000;

/// The API's settings (from `[api]`).
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub tokens: TokenSet,
    pub rate_per_minute: NonZeroU32,
    pub max_scan_bytes: usize,
    pub policy: RepoPolicy,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    #[error(transparent)]
    Tokens(#[from] auth::TokenFileError),
    #[error(transparent)]
    Root(#[from] policy::RootError),
}

impl ApiOptions {
    /// The API's settings, or `None` when `api.tokens_file` is unset (API off).
    /// Reads the token file and resolves the allowed roots.
    pub fn from_config(api: &ApiConfig) -> Result<Option<ApiOptions>, ApiSetupError> {
        let Some(path) = &api.tokens_file else { return Ok(None) };
        Ok(Some(ApiOptions {
            tokens: TokenSet::load(path)?,
            rate_per_minute: NonZeroU32::new(api.rate_per_minute).unwrap_or(NonZeroU32::MIN),
            max_scan_bytes: usize::try_from(api.max_scan_bytes).unwrap_or(usize::MAX),
            policy: RepoPolicy::new(&api.allowed_roots, &api.allowed_schemes)?,
        }))
    }
}

/// What the API handlers and the job worker share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    options: ApiOptions,
    /// Replaced whole on SIGHUP ([`ApiState::replace_tokens`]).
    tokens: std::sync::RwLock<TokenSet>,
    rate: RateLimit,
    revoker: Revoker,
    store: Store,
    /// Wakes this replica's worker when a job is queued here.
    queued: Notify,
}

impl ApiState {
    /// Puts a re-read token file in effect for every request from now on (SIGHUP).
    pub fn replace_tokens(&self, tokens: TokenSet) {
        // A poisoned lock only means a writer panicked between two complete sets.
        *self.inner.tokens.write().unwrap_or_else(|e| e.into_inner()) = tokens;
    }

    /// The caller presenting the API token `presented`, if it is one in effect.
    pub fn caller(&self, presented: &str) -> Option<Caller> {
        self.inner.tokens.read().unwrap_or_else(|e| e.into_inner()).caller(presented)
    }

    /// The role and value fingerprint of token `name`, if it is in effect (see
    /// [`TokenSet::by_name`]).
    pub fn token_by_name(&self, name: &str) -> Option<(crate::access::OperatorRole, [u8; 8])> {
        self.inner.tokens.read().unwrap_or_else(|e| e.into_inner()).by_name(name)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Checks `request` against the repository policy and queues it as a job requested
    /// by `requested_by`; wakes this replica's worker. The one path `POST /v1/scans` and
    /// the console's scan form share.
    pub async fn queue_scan(&self, request: jobs::ScanRequest, requested_by: &str) -> Result<ScanJob, V1Error> {
        request.validate()?;
        let repo = self.inner.options.policy.check(&request.repo).await?;
        let job = NewScanJob {
            repo,
            git_ref: request.git_ref,
            history: request.history,
            revoke: request.revoke,
            requested_by: requested_by.to_owned(),
        };
        let stored = self.inner.store.create_scan_job(&job).await?;
        self.inner.queued.notify_one();
        tracing::info!(id = %stored.id, by = %stored.requested_by, "scan job queued");
        Ok(stored)
    }

    pub fn new(options: ApiOptions, revoker: Revoker, store: Store) -> ApiState {
        let inner = Inner {
            tokens: std::sync::RwLock::new(options.tokens.clone()),
            rate: RateLimit::per_minute(options.rate_per_minute),
            options,
            revoker,
            store,
            queued: Notify::new(),
        };
        ApiState { inner: Arc::new(inner) }
    }
}

/// The `/v1/*` routes; with `None` (no `api.tokens_file`) every `/v1/*` path answers
/// 404 `api_disabled`.
pub fn router<S: Clone + Send + Sync + 'static>(api: Option<ApiState>) -> Router<S> {
    let Some(api) = api else {
        return Router::new().route("/v1/{*rest}", any(disabled));
    };
    let max_scan = api.inner.options.max_scan_bytes;
    let announced_limit = axum::middleware::from_fn_with_state(max_scan, crate::http::refuse_announced_oversize);
    Router::new()
        .route("/v1/scan", post(scan_text).layer(DefaultBodyLimit::max(max_scan)).layer(announced_limit))
        .route("/v1/audit", get(audit))
        .route("/v1/scans", post(jobs::create).get(jobs::list))
        .route("/v1/scans/{id}", get(jobs::show).delete(jobs::cancel))
        .route_layer(axum::middleware::from_fn_with_state(api.clone(), auth::require_token))
        .with_state(api)
}

async fn disabled() -> V1Error {
    V1Error::Disabled
}

/// `POST /v1/scan`: scans the body (up to `api.max_scan_bytes`, else 413) with the
/// daemon's rules → 200 `{"findings": [...], "bytes": N}`; findings are redacted.
#[utoipa::path(post, path = "/v1/scan", tag = "api", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain", description = "text to scan, up to api.max_scan_bytes"),
    responses(
        (status = 200, description = "`{\"findings\": [...], \"bytes\": N}`, findings redacted"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
        (status = 403, description = "the token's role may not run scans (`forbidden`; roles admin, scanner may)"),
        (status = 413, description = "body larger than api.max_scan_bytes"),
    ))]
pub async fn scan_text(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, V1Error> {
    caller.require(Permission::RunScans)?;
    let body = crate::http::read_body(body, api.inner.options.max_scan_bytes)?;
    let scanner = api.inner.revoker.scanner().clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let read = ReadOptions { chunk_size: body.len().clamp(4096, DEFAULT_CHUNK_SIZE), scan_binary: true };
        scan_reader(&scanner, &body[..], "body", read, &mut Vec::new())
    })
    .await
    .map_err(|_| V1Error::Internal("the scanner stopped"))?
    .map_err(|_| V1Error::Internal("reading the body failed"))?;
    let (bytes, findings) = match outcome {
        InputOutcome::Scanned { bytes, findings } => (bytes, findings),
        InputOutcome::Binary { bytes } => (bytes, Vec::new()),
    };
    count_scanned("text", bytes, findings.len());
    let list: Vec<_> = findings.iter().map(|f| FindingJson::new(f, false)).collect();
    Ok(Json(json!({ "findings": list, "bytes": bytes })))
}

/// Counter of bytes the API's scans read (`kind`: `text` for `POST /v1/scan`, `job`
/// for scan jobs).
pub const SCAN_BYTES_METRIC: &str = "revokd_scan_bytes_total";
/// Counter of findings of the API's scans (`kind` as above).
pub const SCAN_FINDINGS_METRIC: &str = "revokd_scan_findings_total";

/// Adds one scan to the scan counters.
fn count_scanned(kind: &'static str, bytes: u64, findings: usize) {
    metrics::counter!(SCAN_BYTES_METRIC, "kind" => kind).increment(bytes);
    metrics::counter!(SCAN_FINDINGS_METRIC, "kind" => kind).increment(findings as u64);
}

/// `GET /v1/audit?since=&until=&event=&actor=&team=&key=&q=&id=&limit=`: the events
/// `revokd audit` would list (oldest first, at most `limit`, default 1000).
#[utoipa::path(get, path = "/v1/audit", tag = "api", security(("bearer" = [])),
    params(
        ("since" = Option<String>, Query, description = "RFC 3339 or an age such as 24h"),
        ("until" = Option<String>, Query, description = "RFC 3339 or an age"),
        ("event" = Option<String>, Query, description = "event name; * matches any run (key.*)"),
        ("actor" = Option<String>, Query, description = "audit actor"),
        ("team" = Option<String>, Query, description = "team name"),
        ("key" = Option<i64>, Query, description = "key id"),
        ("q" = Option<String>, Query, description = "case-insensitive substring of the description"),
        ("id" = Option<i64>, Query, description = "event id"),
        ("limit" = Option<i64>, Query, description = "1 to 10000, default 1000"),
    ),
    responses(
        (status = 200, description = "`{\"events\": [...]}`, oldest first"),
        (status = 400, description = "bad filter (`bad_query`, `unknown_team`)"),
        (status = 401, description = "missing or unknown bearer token (`missing_token`, `bad_token`)"), (status = 429, description = "per-token rate limit exceeded (`rate_limited`, `Retry-After`)"),
        (status = 403, description = "the token's role may not read the audit log (`forbidden`; roles admin, auditor may)"),
    ))]
pub async fn audit(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    filter: Result<Query<AuditFilter>, QueryRejection>,
) -> Result<Json<Value>, V1Error> {
    caller.require(Permission::ReadAudit)?;
    let Query(mut filter) = filter.map_err(|e| V1Error::bad_request("bad_query", e.body_text()))?;
    let limit = filter.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
        return Err(V1Error::bad_request("bad_query", format!("limit must be 1 to {MAX_AUDIT_LIMIT}")));
    }
    filter.limit = Some(limit);
    let store = &api.inner.store;
    let query = store.audit_query(&filter, now_ms()).await.map_err(|e| match e {
        AuditFilterError::BadTime { .. } => V1Error::bad_request("bad_query", e.to_string()),
        AuditFilterError::Store(StoreError::TeamNotFound(name)) => {
            V1Error::bad_request("unknown_team", format!("no team named {name:?}"))
        }
        AuditFilterError::Store(e) => e.into(),
    })?;
    let events = store.audit_events(&query).await?;
    let list: Vec<_> = events.iter().map(AuditEvent::to_json).collect();
    Ok(Json(json!({ "events": list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_config() {
        let mut config = ApiConfig::default();
        assert!(ApiOptions::from_config(&config).unwrap().is_none(), "no token file: the API is off");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("api.tokens");
        std::fs::write(&tokens, "secops:0123456789abcdef0123\n").unwrap();
        config.tokens_file = Some(tokens);
        config.allowed_roots = vec![dir.path().to_path_buf()];
        let options = ApiOptions::from_config(&config).unwrap().unwrap();
        assert_eq!(options.tokens.identify("0123456789abcdef0123"), Some("secops"));
        assert_eq!((options.max_scan_bytes, options.rate_per_minute.get()), (1 << 20, 600));
        config.allowed_roots = vec![dir.path().join("missing")];
        let err = ApiOptions::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("api.allowed_roots") && err.contains("missing"), "{err}");
        config.tokens_file = Some(dir.path().join("absent"));
        assert!(ApiOptions::from_config(&config).unwrap_err().to_string().contains("api.tokens_file"));
    }
}
