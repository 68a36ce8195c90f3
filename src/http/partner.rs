//! `POST /github/secret-scanning`: GitHub's secret-scanning partner alerts.
//!
//! Order matters: read the raw body (bounded), verify GitHub's ECDSA signature over those
//! exact bytes with the key the request names, and only then parse the JSON and report
//! each token through the core use case. The endpoint is unauthenticated by design; the
//! signature is the only credential, so nothing is parsed, logged or stored before it
//! checks out.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, read_body, single_header};
use crate::github::signature::verify_partner_signature;
use crate::revoke::{Door, LeakReport};
use crate::secret::{Secret, sha256_hex};

pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// One element of GitHub's alert array. Unknown fields are ignored so that new ones do
/// not break parsing; `url` and `source` may be missing or empty.
#[derive(Debug, Deserialize)]
pub struct PartnerAlert {
    pub token: Secret,
    #[serde(rename = "type")]
    pub token_type: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub source: String,
}

/// GitHub's feedback label for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    TruePositive,
    FalsePositive,
}

/// One element of the response array: the token's SHA-256, never the token.
#[derive(Debug, Serialize)]
pub struct TokenFeedback {
    pub token_hash: String,
    pub token_type: String,
    pub label: Label,
}

/// `POST /github/secret-scanning`. 200 with one feedback entry per token; 401 for a
/// missing, repeated, malformed or wrong signature or an unknown key id; 400 for malformed JSON;
/// 413 over `server.max_body_bytes`; 503 when the store is down (GitHub retries; the
/// request's tokens are recorded in one transaction, so none of them was written).
/// GitHub Secret Scanning partner alerts.
#[utoipa::path(post, path = "/github/secret-scanning", tag = "github",
    request_body(content = String, content_type = "application/json",
        description = "JSON array of `{token, type, url, source}`, signed: `Github-Public-Key-Identifier`, `Github-Public-Key-Signature`"),
    responses(
        (status = 200, description = "token feedback: `[{token_hash, token_type, label}]`"),
        (status = 400, description = "malformed body"),
        (status = 401, description = "missing or bad signature, unknown key id"),
        (status = 413, description = "body larger than server.max_body_bytes"),
        (status = 503, description = "key store unavailable; GitHub redelivers"),
    ))]
pub async fn secret_scanning(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<TokenFeedback>>, ApiError> {
    let received_at = Instant::now();
    let body = read_body(body, state.max_body_bytes)?;
    let key_id = header(&headers, KEY_ID_HEADER)?;
    let signature = header(&headers, SIGNATURE_HEADER)?;
    let key = state.keys.get(key_id).await.ok_or(ApiError::UnknownKeyId)?;
    verify_partner_signature(&key, &body, signature)?;

    let alerts = parse_alerts(&body)?;
    let mut feedback = Vec::with_capacity(alerts.len());
    let mut reports = Vec::with_capacity(alerts.len());
    for alert in alerts {
        feedback.push(TokenFeedback {
            token_hash: sha256_hex(alert.token.expose().as_bytes()),
            token_type: alert.token_type,
            label: Label::FalsePositive,
        });
        reports.push(LeakReport {
            token: alert.token,
            door: Door::GitHubPartner,
            location: alert.source,
            url: alert.url,
            reporter: "github".to_owned(),
            received_at,
        });
    }
    // One call for the whole request: its tokens share one transaction.
    let outcomes = state.revoker.report_leaked_tokens(&reports).await?;
    for (entry, outcome) in feedback.iter_mut().zip(outcomes) {
        if outcome.is_our_key() {
            entry.label = Label::TruePositive;
        }
    }
    Ok(Json(feedback))
}

/// Parses a verified alert body: a JSON array of [`PartnerAlert`]. Any other shape
/// (invalid UTF-8, wrong types, nesting past serde_json's recursion limit) is
/// [`ApiError::MalformedBody`], whose message carries a position only. Cost: one pass
/// over the body; memory proportional to it (the body is bounded by
/// `server.max_body_bytes`).
pub fn parse_alerts(body: &[u8]) -> Result<Vec<PartnerAlert>, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::malformed(&e))
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, ApiError> {
    single_header(headers, name)?.ok_or(ApiError::MissingSignature(name))
}
