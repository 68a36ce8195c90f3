//! Console errors as HTML pages with the right status (the console's counterpart of
//! `http/error.rs`). Messages never contain a token.

use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::response::{Html, IntoResponse, Response};

use crate::access::{OperatorRole, Permission};
use crate::http::api::error::V1Error;
use crate::store::{AuditFilterError, StoreError};

/// Every way a console request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: the browser is sent to the sign-in page.
    #[error("sign in first")]
    SignedOut,
    #[error("your role ({role}) may not {}", permission.describe())]
    Forbidden { role: OperatorRole, permission: Permission },
    #[error("this form has expired or did not come from the console; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many sign-in attempts; wait {0} s")]
    RateLimited(u64),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the page could not be rendered")]
    Render(#[from] minijinja::Error),
    #[error("{0}")]
    Internal(&'static str),
}

impl From<AuditFilterError> for ConsoleError {
    fn from(err: AuditFilterError) -> ConsoleError {
        match err {
            AuditFilterError::BadTime { .. } => ConsoleError::BadRequest(err.to_string()),
            AuditFilterError::Store(e) => e.into(),
        }
    }
}

impl From<V1Error> for ConsoleError {
    fn from(err: V1Error) -> ConsoleError {
        match err {
            V1Error::Http(inner) => ConsoleError::BadRequest(inner.to_string()),
            V1Error::Internal(what) => ConsoleError::Internal(what),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::SignedOut => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden { .. } | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Store(StoreError::KeyNotFound(_) | StoreError::TeamNotFound(_)) => StatusCode::NOT_FOUND,
            ConsoleError::Store(
                StoreError::KeyState { .. }
                | StoreError::EmptyReason
                | StoreError::InvalidEmail(_)
                | StoreError::MemberExists { .. }
                | StoreError::MemberNotFound { .. }
                | StoreError::LastAdmin { .. },
            ) => StatusCode::CONFLICT,
            ConsoleError::Store(_) | ConsoleError::Render(_) | ConsoleError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The message shown: store failures other than refusals stay generic.
    fn message(&self) -> String {
        match self {
            ConsoleError::Store(e) if self.status().is_server_error() => {
                tracing::error!(error = %e, "console request failed: key store");
                "the key store is unavailable or failed; try again later".into()
            }
            ConsoleError::Render(e) => {
                tracing::error!(error = %e, "console page failed to render");
                self.to_string()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::SignedOut = self {
            return (StatusCode::SEE_OTHER, [(LOCATION, "/console/sign-in")]).into_response();
        }
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let ctx = minijinja::context! { status => status.as_u16(), title => title, message => self.message() };
        let body = super::render::render("error.html", ctx).unwrap_or_else(|_| format!("{status}: {title}"));
        (status, [(CACHE_CONTROL, "no-store")], Html(body)).into_response()
    }
}
