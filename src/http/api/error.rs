//! Errors of `/v1/*` as status + JSON `{"error", "code"}` (the same shape as the
//! rest of the daemon; request-body and store errors are delegated to
//! [`crate::http::error::ApiError`]).

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::policy::RepoRejection;
use crate::access::{OperatorRole, Permission};
use crate::http::error::ApiError;
use crate::store::StoreError;

/// Every way a `/v1/*` request can fail.
#[derive(Debug, thiserror::Error)]
pub enum V1Error {
    #[error("missing or malformed Authorization header (expected: Bearer TOKEN)")]
    MissingToken,
    #[error("unknown API token")]
    BadToken,
    #[error("a token with role {role} may not {}", permission.describe())]
    Forbidden { role: OperatorRole, permission: Permission },
    #[error("rate limit exceeded; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error(transparent)]
    Repo(#[from] RepoRejection),
    #[error("the API is off (api.tokens_file is not set)")]
    Disabled,
    #[error("no scan job with id {0:?}")]
    ScanNotFound(String),
    #[error("scan job {id} already ended ({status})")]
    AlreadyEnded { id: String, status: String },
    #[error("the scan could not run: {0}")]
    Internal(&'static str),
    #[error(transparent)]
    Http(#[from] ApiError),
}

impl From<StoreError> for V1Error {
    fn from(err: StoreError) -> V1Error {
        V1Error::Http(err.into())
    }
}

impl V1Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> V1Error {
        V1Error::BadRequest { code, message: message.into() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            V1Error::MissingToken => (StatusCode::UNAUTHORIZED, "missing_token"),
            V1Error::BadToken => (StatusCode::UNAUTHORIZED, "bad_token"),
            V1Error::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            V1Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            V1Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            V1Error::Repo(RepoRejection::Invalid(_)) => (StatusCode::BAD_REQUEST, "invalid_repo"),
            V1Error::Repo(RepoRejection::Scheme(_)) => (StatusCode::FORBIDDEN, "scheme_not_allowed"),
            V1Error::Repo(RepoRejection::Path) => (StatusCode::FORBIDDEN, "path_not_allowed"),
            V1Error::Repo(RepoRejection::Host(_)) => (StatusCode::FORBIDDEN, "host_not_allowed"),
            V1Error::Repo(RepoRejection::Unresolved(_)) => (StatusCode::BAD_REQUEST, "invalid_repo"),
            V1Error::Disabled => (StatusCode::NOT_FOUND, "api_disabled"),
            V1Error::ScanNotFound(_) => (StatusCode::NOT_FOUND, "scan_not_found"),
            V1Error::AlreadyEnded { .. } => (StatusCode::CONFLICT, "already_ended"),
            V1Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            V1Error::Http(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            V1Error::Http(inner) => return inner.into_response(),
            ref other => other.status_and_code(),
        };
        tracing::debug!(error = %self, code, "API request refused");
        let mut response =
            (status, Json(serde_json::json!({ "error": self.to_string(), "code": code }))).into_response();
        let headers = response.headers_mut();
        match self {
            V1Error::MissingToken | V1Error::BadToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            V1Error::RateLimited { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}
