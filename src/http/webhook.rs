//! `POST /github/webhook`: repository/organisation webhooks.
//!
//! Verify `X-Hub-Signature-256` (HMAC-SHA256 with `github.webhook_secret_file`, constant
//! time) on the raw body, skip deliveries already handled (`X-GitHub-Delivery`, kept in
//! the store), then: `ping` → 200; `secret_scanning_alert` (`created`, `reopened`,
//! `publicly_leaked`) for a token type we issue → fetch the alert's secret from the
//! GitHub REST API and report it through the core use case → 200; anything else → 202.
//!
//! A delivery is recorded only once it was handled, so a delivery that failed (GitHub
//! API or store down) can be redelivered; a replay of a handled one is ignored.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, read_body, single_header};
use crate::revoke::{Door, LeakReport};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// Alert actions that mean "this secret is (still) exposed".
const LEAK_ACTIONS: [&str; 3] = ["created", "reopened", "publicly_leaked"];

#[derive(Deserialize)]
struct AlertEvent {
    action: String,
    alert: EventAlert,
    repository: Repository,
}

#[derive(Deserialize)]
struct EventAlert {
    number: u64,
    secret_type: String,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
    owner: Owner,
}

#[derive(Deserialize)]
struct Owner {
    login: String,
}

/// `POST /github/webhook`. 401 on a missing or wrong signature, 400 on a malformed
/// alert event, 413 over the body limit, 502 when the GitHub API fails, 503 when the
/// store is down; 200 for `ping`, handled alerts and replays; 202 for ignored events.
/// Repository and organisation webhook (`secret_scanning_alert`, `ping`).
#[utoipa::path(post, path = "/github/webhook", tag = "github",
    request_body(content = String, content_type = "application/json", description = "GitHub webhook payload, signed with `X-Hub-Signature-256`"),
    responses(
        (status = 200, description = "handled (or `ping`)"),
        (status = 202, description = "accepted and ignored (other events, replays)"),
        (status = 401, description = "missing or bad signature"),
        (status = 404, description = "github.webhook_secret_file is not configured"),
        (status = 502, description = "the alert could not be fetched from the GitHub API"),
    ))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let received_at = Instant::now();
    let body = read_body(body, state.max_body_bytes)?;
    let secret = state.webhook_secret.as_ref().ok_or(ApiError::WebhookNotConfigured)?;
    secret.verify(&body, single_header(&headers, SIGNATURE_HEADER)?)?;

    let event = text(&headers, EVENT_HEADER).unwrap_or("");
    let delivery = text(&headers, DELIVERY_HEADER);
    if let Some(id) = delivery
        && state.store.delivery_seen(id).await?
    {
        return Ok((StatusCode::OK, Json(json!({ "status": "duplicate_delivery" }))));
    }
    let (status, answer) = match event {
        "ping" => (StatusCode::OK, json!({ "status": "pong" })),
        "secret_scanning_alert" => secret_scanning_alert(&state, &body, received_at).await?,
        _ => (StatusCode::ACCEPTED, json!({ "status": "ignored" })),
    };
    if let Some(id) = delivery {
        let action = answer.get("action").and_then(Value::as_str).unwrap_or("");
        state.store.record_delivery(id, event, action).await?;
    }
    Ok((status, Json(answer)))
}

async fn secret_scanning_alert(
    state: &AppState,
    body: &[u8],
    received_at: Instant,
) -> Result<(StatusCode, Value), ApiError> {
    let event: AlertEvent = serde_json::from_slice(body).map_err(|e| ApiError::malformed(&e))?;
    let ours = state.revoker.scanner().rules().find(&event.alert.secret_type).is_some_and(|rule| rule.revocable);
    if !ours || !LEAK_ACTIONS.contains(&event.action.as_str()) {
        return Ok((StatusCode::ACCEPTED, json!({ "status": "ignored", "action": event.action })));
    }
    let repo = &event.repository;
    let alert = state.github.secret_scanning_alert(&repo.owner.login, &repo.name, event.alert.number).await?;
    let Some(token) = alert.secret() else {
        return Err(crate::github::api::ApiError::NoSecret.into());
    };
    let report = LeakReport {
        token,
        door: Door::GitHubWebhook,
        location: format!("{}/{}", repo.owner.login, repo.name),
        url: alert.html_url.or(event.alert.html_url).unwrap_or_default(),
        reporter: "github".to_owned(),
        received_at,
    };
    let outcome = state.revoker.report_leaked_token(&report).await?;
    Ok((StatusCode::OK, json!({ "status": "handled", "action": event.action, "outcome": outcome.as_str() })))
}

fn text<'h>(headers: &'h HeaderMap, name: &'static str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty())
}
