//! Bearer tokens for `/v1/*`: the token file, hashed tokens, the per-token rate limit
//! and the middleware that checks both.
//!
//! Tokens live in memory only as SHA-256 hashes; a presented token is hashed and
//! compared with every stored hash in constant time, so neither the comparison nor the
//! number of tokens checked depends on where a guess first differs.

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::error::V1Error;

/// Shortest token accepted in the token file: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// The caller of a request: the name of the token it presented (audit actor `api:NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

struct HashedToken {
    name: String,
    sha256: [u8; 32],
}

/// The API tokens, by name and SHA-256 hash.
#[derive(Clone)]
pub struct TokenSet(std::sync::Arc<Vec<HashedToken>>);

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|t| &t.name)).finish()
    }
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading api.tokens_file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("api.tokens_file {path} line {line}: {message}")]
    Line { path: PathBuf, line: usize, message: String },
    #[error("api.tokens_file {path} holds no token")]
    Empty { path: PathBuf },
}

impl TokenSet {
    /// Reads the token file (see [`TokenSet::parse`]).
    pub fn load(path: &Path) -> Result<TokenSet, TokenFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenFileError::Read { path: path.to_owned(), source })?;
        TokenSet::parse(&text, path)
    }

    /// One token a line, `token` or `name:token` (name: letters, digits, `.`, `_`,
    /// `-`); blank lines and lines starting with `#` are skipped. An unnamed token is
    /// called `token-LINE`. Error messages never quote a token.
    pub fn parse(text: &str, path: &Path) -> Result<TokenSet, TokenFileError> {
        let mut tokens: Vec<HashedToken> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let error = |message: &str| TokenFileError::Line { path: path.to_owned(), line, message: message.into() };
            let (name, token) = match entry.split_once(':') {
                Some((name, token)) if is_token_name(name) => (name.to_string(), token.trim()),
                _ => (format!("token-{line}"), entry),
            };
            if token.len() < MIN_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(error(&format!("a token needs at least {MIN_TOKEN_LEN} characters and no spaces")));
            }
            if tokens.iter().any(|t| t.name == name) {
                return Err(error(&format!("token name {name:?} is used twice")));
            }
            tokens.push(HashedToken { name, sha256: sha256(token) });
        }
        if tokens.is_empty() {
            return Err(TokenFileError::Empty { path: path.to_owned() });
        }
        Ok(TokenSet(std::sync::Arc::new(tokens)))
    }

    /// The name of the token `presented`, if it is one of ours.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        let digest = sha256(presented);
        let mut found = None;
        for token in self.0.iter() {
            if constant_time_eq(&token.sha256, &digest) {
                found = Some(token.name.as_str());
            }
        }
        found
    }
}

fn is_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn sha256(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(text.as_bytes()));
    out
}

/// Compares without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Requests per minute per token (governor's GCRA: bursts up to the same number).
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimit {
    pub fn per_minute(rate: NonZeroU32) -> RateLimit {
        RateLimit { limiter: RateLimiter::keyed(Quota::per_minute(rate)), clock: DefaultClock::default() }
    }

    /// Takes one request from `caller`'s allowance, or says how many seconds to wait.
    pub fn check(&self, caller: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&caller.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

/// The bearer token in `headers`, if well formed.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Middleware for `/v1/*`: 401 without a known token, 429 beyond its rate; otherwise
/// the request continues with a [`Caller`] extension.
pub async fn require_token(State(api): State<ApiState>, mut request: Request, next: Next) -> Response {
    let Some(presented) = bearer(request.headers()) else {
        return V1Error::MissingToken.into_response();
    };
    let Some(name) = api.identify(presented) else {
        return V1Error::BadToken.into_response();
    };
    if let Err(retry_after) = api.inner.rate.check(&name) {
        return V1Error::RateLimited { retry_after }.into_response();
    }
    request.extensions_mut().insert(Caller(name));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines() {
        let path = Path::new("tokens");
        let set =
            TokenSet::parse("# team tokens\n\nsecops:0123456789abcdef0123\n  fedcba9876543210fedc  \n", path).unwrap();
        assert_eq!(set.identify("0123456789abcdef0123"), Some("secops"));
        assert_eq!(set.identify("fedcba9876543210fedc"), Some("token-4"));
        assert_eq!(set.identify("0123456789abcdef012"), None);
        assert_eq!(set.identify("secops:0123456789abcdef0123"), None);
        assert_eq!(format!("{set:?}"), r#"["secops", "token-4"]"#);
        let err = TokenSet::parse("a:short\n", path).unwrap_err().to_string();
        assert!(err.contains("line 1") && !err.contains("short"), "{err}");
        let err = TokenSet::parse("a:0123456789abcdef0123\na:0123456789abcdef0124\n", path).unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        assert!(matches!(TokenSet::parse("# none\n", path), Err(TokenFileError::Empty { .. })));
    }

    #[test]
    fn rate_limit_is_per_token() {
        let rate = RateLimit::per_minute(NonZeroU32::new(2).unwrap());
        assert!(rate.check("a").is_ok() && rate.check("a").is_ok());
        assert!(rate.check("a").unwrap_err() >= 1);
        assert!(rate.check("b").is_ok());
    }
}
