//! The one place where errors become HTTP statuses and JSON bodies
//! (`{"error": "...", "code": "..."}`). Messages never contain a token.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::github::signature::SignatureError;
use crate::revoke::StoreFailure;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body")]
    UnreadableBody,
    #[error("the request body did not arrive within server.body_read_timeout")]
    BodyTimeout,
    #[error("missing header {0}")]
    MissingSignature(&'static str),
    /// A signature header sent more than once is ambiguous: a proxy and the daemon could
    /// each read a different value.
    #[error("header {0} sent more than once")]
    RepeatedHeader(&'static str),
    #[error("unknown public key id")]
    UnknownKeyId,
    #[error("{0}")]
    BadSignature(#[from] SignatureError),
    #[error("the repository webhook is not configured (github.webhook_secret_file)")]
    WebhookNotConfigured,
    /// The message carries a position only: serde's text can quote input, and the input
    /// holds tokens.
    #[error("malformed JSON body at line {line} column {column}")]
    MalformedBody { line: usize, column: usize },
    #[error("{}", match .0 { StoreFailure::Unavailable(_) => "key store unavailable; retry later", _ => "key store error" })]
    Store(#[from] StoreFailure),
    #[error("fetching the alert from the GitHub API failed; redeliver later")]
    GitHubApi(#[from] crate::github::api::ApiError),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> ApiError {
        ApiError::Store(err.into())
    }
}

impl ApiError {
    pub fn malformed(err: &serde_json::Error) -> ApiError {
        ApiError::MalformedBody { line: err.line(), column: err.column() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnreadableBody => (StatusCode::BAD_REQUEST, "unreadable_body"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::MissingSignature(_) => (StatusCode::UNAUTHORIZED, "missing_signature"),
            ApiError::RepeatedHeader(_) => (StatusCode::UNAUTHORIZED, "repeated_header"),
            ApiError::UnknownKeyId => (StatusCode::UNAUTHORIZED, "unknown_key_id"),
            ApiError::BadSignature(SignatureError::Missing) => (StatusCode::UNAUTHORIZED, "missing_signature"),
            ApiError::BadSignature(_) => (StatusCode::UNAUTHORIZED, "bad_signature"),
            ApiError::WebhookNotConfigured => (StatusCode::NOT_FOUND, "webhook_not_configured"),
            ApiError::MalformedBody { .. } => (StatusCode::BAD_REQUEST, "malformed_body"),
            ApiError::Store(StoreFailure::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::Store(StoreFailure::Failed(_) | StoreFailure::WriterStopped) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "store_error")
            }
            ApiError::GitHubApi(_) => (StatusCode::BAD_GATEWAY, "github_api_failed"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Store(err) => tracing::error!(error = %err, "request failed: key store"),
            ApiError::GitHubApi(err) => tracing::warn!(error = %err, "request failed: GitHub API"),
            other => tracing::debug!(error = %other, code, "request refused"),
        }
        (status, Json(serde_json::json!({ "error": self.to_string(), "code": code }))).into_response()
    }
}
