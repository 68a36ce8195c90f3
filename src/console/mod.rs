//! `/console/`: the web console for security teams, served by `revokd serve` beside
//! the API, signed in with the API's tokens and their roles (see [`crate::access`]).
//!
//! Server-rendered HTML (minijinja, [`render`]) that needs no JavaScript; the one
//! stylesheet is embedded ([`assets`]). Sessions are signed cookies ([`session`]); every
//! form carries a CSRF token ([`csrf`]). Handlers live in [`pages`], one file per page;
//! they read through the store and act through the same store functions as the CLI
//! (key restore/delete, team members) and the API (scan jobs), so the audit trail and
//! the owner emails are the same whichever door was used.

pub mod assets;
pub mod csrf;
pub mod error;
pub mod pages;
pub mod render;
pub mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::response::{Html, Redirect};
use axum::routing::{any, get, post};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use minijinja::context;

use crate::access::{OperatorRole, Permission};
use crate::config::ConsoleConfig;
use crate::http::api::ApiState;
use crate::secret::constant_time_eq;
use crate::store::{ChainStatus, Store, now_ms};
use error::ConsoleError;
use session::{SESSION_COOKIE, Session, SessionKey, SignedOut};

/// The console's settings (from `[console]`).
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// `console.session_ttl`: how long a sign-in lasts. Default 8 h.
    pub session_ttl: Duration,
    /// `console.sign_in_attempts_per_minute`: sign-in attempts per client address and
    /// minute (bursts up to the same number); more get 429. Default 10.
    pub sign_in_per_minute: NonZeroU32,
}

impl Default for ConsoleOptions {
    fn default() -> ConsoleOptions {
        ConsoleOptions::from_config(&ConsoleConfig::default())
    }
}

impl ConsoleOptions {
    pub fn from_config(config: &ConsoleConfig) -> ConsoleOptions {
        ConsoleOptions {
            session_ttl: config.session_ttl.0,
            sign_in_per_minute: NonZeroU32::new(config.sign_in_attempts_per_minute).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// What the console's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ConsoleState {
    inner: Arc<Inner>,
}

struct Inner {
    api: ApiState,
    options: ConsoleOptions,
    key: SessionKey,
    signed_out: SignedOut,
    sign_in_limit: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    /// The last chain verification: when (UTC ms) and its result.
    chain: tokio::sync::Mutex<Option<(i64, ChainStatus)>>,
}

/// How long a chain verification is reused by the audit page: verifying reads the
/// whole log (about a second per million events), too much for every page view.
const CHAIN_STATUS_MAX_AGE_MS: i64 = 60_000;

impl ConsoleState {
    /// The console over the API's tokens and store; sessions are signed with `key`
    /// (see [`SessionKey::from_pepper`]).
    pub fn new(api: ApiState, options: ConsoleOptions, key: SessionKey) -> ConsoleState {
        let inner = Inner {
            api,
            sign_in_limit: RateLimiter::keyed(Quota::per_minute(options.sign_in_per_minute)),
            options,
            key,
            signed_out: SignedOut::default(),
            clock: DefaultClock::default(),
            chain: tokio::sync::Mutex::new(None),
        };
        ConsoleState { inner: Arc::new(inner) }
    }

    pub fn store(&self) -> &Store {
        self.inner.api.store()
    }

    pub fn api(&self) -> &ApiState {
        &self.inner.api
    }

    /// The audit chain's verification status and when it was computed (UTC ms):
    /// reused for [`CHAIN_STATUS_MAX_AGE_MS`], then recomputed by one caller while
    /// the others wait.
    pub async fn chain_status(&self) -> Result<(i64, ChainStatus), ConsoleError> {
        let mut cached = self.inner.chain.lock().await;
        let now = now_ms();
        if let Some((at, status)) = cached.as_ref()
            && now - at < CHAIN_STATUS_MAX_AGE_MS
        {
            return Ok((*at, status.clone()));
        }
        let status = self.store().verify_audit().await?;
        *cached = Some((now, status.clone()));
        Ok((now, status))
    }

    /// Takes one sign-in attempt from `client`'s allowance, or says how many seconds
    /// to wait.
    fn sign_in_allowed(&self, client: IpAddr) -> Result<(), ConsoleError> {
        self.inner.sign_in_limit.check_key(&client).map_err(|not_until| {
            ConsoleError::RateLimited(not_until.wait_time_from(self.inner.clock.now()).as_secs().max(1))
        })
    }
}

/// The `/console` routes; with `None` (no `api.tokens_file`) every console path answers
/// 404 with a page saying how to turn it on.
pub fn router<S: Clone + Send + Sync + 'static>(console: Option<ConsoleState>) -> Router<S> {
    let Some(console) = console else {
        return Router::new()
            .route("/console", any(disabled))
            .route("/console/", any(disabled))
            .route("/console/{*rest}", any(disabled));
    };
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(pages::overview::show))
        .route("/console/assets/console.css", get(assets::stylesheet))
        .route("/console/sign-in", get(pages::sign_in::form).post(pages::sign_in::submit))
        .route("/console/sign-out", post(pages::sign_in::sign_out))
        .route("/console/leaks", get(pages::leaks::list))
        .route("/console/keys", get(pages::keys::list))
        .route("/console/keys/{id}", get(pages::keys::show))
        .route("/console/keys/{id}/restore", post(pages::keys::restore))
        .route("/console/keys/{id}/delete", post(pages::keys::delete))
        .route("/console/scans", get(pages::scans::list).post(pages::scans::start))
        .route("/console/scans/{id}", get(pages::scans::show))
        .route("/console/audit", get(pages::audit::search))
        .route("/console/audit/export.jsonl", get(pages::audit::export_jsonl))
        .route("/console/audit/export.csv", get(pages::audit::export_csv))
        .route("/console/teams", get(pages::teams::list))
        .route("/console/teams/{name}", get(pages::teams::show))
        .route("/console/teams/{name}/members", post(pages::teams::add_member))
        .route("/console/teams/{name}/members/remove", post(pages::teams::remove_member))
        .fallback(|| async { ConsoleError::NotFound("no such console page".into()) })
        .with_state(console)
}

async fn disabled() -> ConsoleError {
    ConsoleError::NotFound("the console is off: set api.tokens_file (see README, \"Console\")".into())
}

/// The signed-in caller of a console request: the API token's name and its current
/// role (from the token file, not the cookie), and the session's CSRF token.
/// Extracting it fails with [`ConsoleError::SignedOut`] (a redirect to the sign-in
/// page) unless the session cookie verifies, has not expired or been signed out, and
/// its token is still in effect with the same value.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub role: OperatorRole,
    session: Session,
    csrf: String,
}

impl FromRequestParts<ConsoleState> for Operator {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Operator, ConsoleError> {
        let header = parts.headers.get(COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let value = session::cookie(header, SESSION_COOKIE).ok_or(ConsoleError::SignedOut)?;
        let session = Session::decode(value, &state.inner.key, now_ms()).ok_or(ConsoleError::SignedOut)?;
        if state.inner.signed_out.contains(&session.id) {
            return Err(ConsoleError::SignedOut);
        }
        let (role, fingerprint) = state.inner.api.token_by_name(&session.name).ok_or(ConsoleError::SignedOut)?;
        if !constant_time_eq(&fingerprint, &session.fingerprint) {
            return Err(ConsoleError::SignedOut);
        }
        let csrf = csrf::session_token(&state.inner.key, &session.id);
        Ok(Operator { name: session.name.clone(), role, session, csrf })
    }
}

impl Operator {
    /// `Ok` when the operator's role grants `permission`, else 403.
    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.role.allows(permission) { Ok(()) } else { Err(ConsoleError::Forbidden { role: self.role, permission }) }
    }

    /// `Ok` when `presented` is this session's CSRF token (constant-time comparison).
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        if constant_time_eq(self.csrf.as_bytes(), presented.as_bytes()) { Ok(()) } else { Err(ConsoleError::Csrf) }
    }

    /// The audit actor of the operator's actions: `console:NAME`.
    pub fn actor(&self) -> String {
        format!("console:{}", self.name)
    }

    /// What every page shows of the operator: name, role, CSRF token, permissions.
    fn view(&self) -> minijinja::Value {
        context! {
            name => self.name.as_str(),
            role => self.role.as_str(),
            csrf => self.csrf.as_str(),
            can => context! {
                read_leaks => self.role.allows(Permission::ReadLeaks),
                read_audit => self.role.allows(Permission::ReadAudit),
                read_scans => self.role.allows(Permission::ReadScans),
                run_scans => self.role.allows(Permission::RunScans),
                manage_keys => self.role.allows(Permission::ManageKeys),
                manage_teams => self.role.allows(Permission::ManageTeams),
            },
        }
    }
}

/// Renders page `template` for `operator`, `active` naming the navigation entry.
pub fn page(
    operator: &Operator,
    active: &str,
    template: &str,
    ctx: minijinja::Value,
) -> Result<Html<String>, ConsoleError> {
    Ok(Html(render::render(template, context! { me => operator.view(), active => active, ..ctx })?))
}

/// The client address for the sign-in rate limit (the peer of the connection; behind a
/// reverse proxy that is the proxy, so the limit applies to all clients together).
fn client_addr(parts: &axum::http::Extensions) -> IpAddr {
    parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// True when the browser reached the console over TLS (a reverse proxy in front of
/// revokd says so with `X-Forwarded-Proto: https`): cookies then get `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}
