//! `GET|POST /console/sign-in`, `POST /console/sign-out`.
//!
//! Sign-in takes an API token, rate-limited per client address
//! (`console.sign_in_attempts_per_minute`); an unknown token is audited
//! (`console.sign_in_failed`, with the client address, never the token) and answered
//! 401 with the form again.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use crate::console::csrf::{self, SIGN_IN_COOKIE};
use crate::console::error::ConsoleError;
use crate::console::session::{self, SESSION_COOKIE, Session};
use crate::console::{ConsoleState, Operator, client_addr, over_tls, render};
use crate::secret::Secret;
use crate::store::{EventKind, NewEvent, now_ms};

/// The client address of a request (see [`client_addr`]).
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddr, Infallible> {
        Ok(ClientAddr(client_addr(&parts.extensions)))
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    signed_out: Option<String>,
}

/// How long the sign-in form's CSRF cookie lives: one hour to fill in the form.
const SIGN_IN_COOKIE_SECS: u64 = 3600;

/// `GET /console/sign-in`: the form (or the overview when already signed in).
pub async fn form(
    headers: HeaderMap,
    operator: Result<Operator, ConsoleError>,
    query: Result<Query<SignInQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    if operator.is_ok() {
        return Ok(super::see_other("/console/").into_response());
    }
    let signed_out = query.ok().is_some_and(|Query(q)| q.signed_out.is_some());
    sign_in_page(&headers, StatusCode::OK, None, signed_out)
}

/// The sign-in form with a fresh double-submit CSRF token (cookie and field).
fn sign_in_page(
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    signed_out: bool,
) -> Result<Response, ConsoleError> {
    let token = csrf::sign_in_token().map_err(|_| ConsoleError::Internal("no random bytes for a CSRF token"))?;
    let html = render::render("sign_in.html", context! { csrf => token.as_str(), error => error, signed_out })?;
    let cookie = session::set_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_COOKIE_SECS, over_tls(headers));
    Ok((status, [(SET_COOKIE, cookie)], Html(html)).into_response())
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    token: Secret,
}

/// `POST /console/sign-in` → 303 to the overview with a session cookie; 401 and the
/// form again for an unknown token; 403 without the form's CSRF token; 429 past the
/// rate limit.
pub async fn submit(
    State(console): State<ConsoleState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    console.sign_in_allowed(client)?;
    let form = super::form(body)?;
    let cookies = headers.get(COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !csrf::verify_sign_in_token(session::cookie(cookies, SIGN_IN_COOKIE), &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let Some(caller) = console.api().caller(form.token.expose().trim()) else {
        console
            .store()
            .record(&NewEvent {
                event: EventKind::ConsoleSignInFailed,
                actor: "console".into(),
                team_id: None,
                key_id: None,
                description: format!("console sign-in with an unknown token from {client}"),
                details: json!({ "client": client.to_string() }),
            })
            .await?;
        tracing::warn!(%client, "console sign-in with an unknown token");
        let message = "The token is not one of api.tokens_file's tokens.";
        return sign_in_page(&headers, StatusCode::UNAUTHORIZED, Some(message), false);
    };
    let Some((role, fingerprint)) = console.api().token_by_name(&caller.name) else {
        return Err(ConsoleError::Internal("the token file changed during sign-in; try again"));
    };
    let ttl = console.inner.options.session_ttl;
    let expires = now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let session = Session::new(&caller.name, fingerprint, expires)
        .map_err(|_| ConsoleError::Internal("no random bytes for a session id"))?;
    console
        .store()
        .record(&NewEvent {
            event: EventKind::ConsoleSignIn,
            actor: format!("console:{}", caller.name),
            team_id: None,
            key_id: None,
            description: format!("{} ({role}) signed in to the console from {client}", caller.name),
            details: json!({ "client": client.to_string(), "role": role.as_str() }),
        })
        .await?;
    let tls = over_tls(&headers);
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/console/")]).into_response();
    let session_cookie = session::set_cookie(SESSION_COOKIE, &session.encode(&console.inner.key), ttl.as_secs(), tls);
    append_cookie(&mut response, &session_cookie);
    append_cookie(&mut response, &session::set_cookie(SIGN_IN_COOKIE, "", 0, tls));
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sign-out` → 303 to the sign-in page; the session is over on this
/// replica at once (see [`session`]).
pub async fn sign_out(
    State(console): State<ConsoleState>,
    operator: Operator,
    headers: HeaderMap,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    operator.check_csrf(&super::form(body)?.csrf)?;
    console.inner.signed_out.insert(&operator.session, now_ms());
    console
        .store()
        .record(&NewEvent {
            event: EventKind::ConsoleSignOut,
            actor: operator.actor(),
            team_id: None,
            key_id: None,
            description: format!("{} signed out of the console", operator.name),
            details: json!({}),
        })
        .await?;
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/console/sign-in?signed_out=1")]).into_response();
    append_cookie(&mut response, &session::set_cookie(SESSION_COOKIE, "", 0, over_tls(&headers)));
    Ok(response)
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}
