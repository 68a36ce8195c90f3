//! Bearer tokens for `/v1/*`: the token file, hashed tokens, the per-token rate limit
//! and the middleware that checks both.
//!
//! Tokens live in memory only as SHA-256 hashes; a presented token is hashed and
//! compared with every stored hash in constant time, so neither the comparison nor the
//! number of tokens checked depends on where a guess first differs. Each token carries
//! an [`OperatorRole`]; handlers check it with [`Caller::require`].

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
use crate::access::{OperatorRole, Permission};
use crate::secret::constant_time_eq;

/// Shortest token accepted in the token file: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// The caller of a request: the name of the token it presented (audit actor `api:NAME`)
/// and the token's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: OperatorRole,
}

impl Caller {
    /// `Ok` when the caller's role grants `permission`, else 403 `forbidden`.
    pub fn require(&self, permission: Permission) -> Result<(), V1Error> {
        if self.role.allows(permission) { Ok(()) } else { Err(V1Error::Forbidden { role: self.role, permission }) }
    }
}

struct HashedToken {
    name: String,
    role: OperatorRole,
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

    /// One token a line, `name:role:token`, `name:token` or `token` (name: letters,
    /// digits, `.`, `_`, `-`; role: `admin`, `auditor` or `scanner`); blank lines and
    /// lines starting with `#` are skipped. A line without a role is `admin` (the access
    /// every token had before roles existed); an unnamed token is called `token-LINE`.
    /// Error messages never quote a token.
    pub fn parse(text: &str, path: &Path) -> Result<TokenSet, TokenFileError> {
        let mut tokens: Vec<HashedToken> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let error = |message: &str| TokenFileError::Line { path: path.to_owned(), line, message: message.into() };
            let (name, rest) = match entry.split_once(':') {
                Some((name, rest)) if is_token_name(name) => (name.to_string(), rest.trim()),
                _ => (format!("token-{line}"), entry),
            };
            let (role, token) = match rest.split_once(':') {
                Some((role, token)) if role.parse::<OperatorRole>().is_ok() => {
                    (role.parse().unwrap_or(OperatorRole::Admin), token.trim())
                }
                Some((role, _)) if is_token_name(role) && role.len() < MIN_TOKEN_LEN => {
                    return Err(error("unknown role (expected admin, auditor or scanner)"));
                }
                _ => (OperatorRole::Admin, rest),
            };
            if token.len() < MIN_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(error(&format!("a token needs at least {MIN_TOKEN_LEN} characters and no spaces")));
            }
            if tokens.iter().any(|t| t.name == name) {
                return Err(error(&format!("token name {name:?} is used twice")));
            }
            tokens.push(HashedToken { name, role, sha256: sha256(token) });
        }
        if tokens.is_empty() {
            return Err(TokenFileError::Empty { path: path.to_owned() });
        }
        Ok(TokenSet(std::sync::Arc::new(tokens)))
    }

    /// The name of the token `presented`, if it is one of ours.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        self.find(presented).map(|t| t.name.as_str())
    }

    /// The caller presenting `presented` (name and role), if it is one of our tokens.
    pub fn caller(&self, presented: &str) -> Option<Caller> {
        self.find(presented).map(|t| Caller { name: t.name.clone(), role: t.role })
    }

    /// The role of token `name` and a fingerprint of its value (the first 8 bytes of its
    /// SHA-256), if a token of that name is in the set. Console sessions carry the
    /// fingerprint, so replacing a token's value ends the sessions signed in with it.
    pub fn by_name(&self, name: &str) -> Option<(OperatorRole, [u8; 8])> {
        let token = self.0.iter().find(|t| t.name == name)?;
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&token.sha256[..8]);
        Some((token.role, fingerprint))
    }

    /// Checks every token (no early exit) and returns the last match.
    fn find(&self, presented: &str) -> Option<&HashedToken> {
        let digest = sha256(presented);
        let mut found = None;
        for token in self.0.iter() {
            if constant_time_eq(&token.sha256, &digest) {
                found = Some(token);
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
    let Some(caller) = api.caller(presented) else {
        return V1Error::BadToken.into_response();
    };
    if let Err(retry_after) = api.inner.rate.check(&caller.name) {
        return V1Error::RateLimited { retry_after }.into_response();
    }
    request.extensions_mut().insert(caller);
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
    fn token_file_roles() {
        let path = Path::new("tokens");
        let text = "boss:0123456789abcdef0123\nread:auditor:1123456789abcdef0123\n\
                    ci:scanner:2123456789abcdef0123\nodd:3123456789abcdef:0123\n";
        let set = TokenSet::parse(text, path).unwrap();
        let role = |t: &str| set.caller(t).map(|c| (c.name, c.role));
        assert_eq!(role("0123456789abcdef0123"), Some(("boss".into(), OperatorRole::Admin)));
        assert_eq!(role("1123456789abcdef0123"), Some(("read".into(), OperatorRole::Auditor)));
        assert_eq!(role("2123456789abcdef0123"), Some(("ci".into(), OperatorRole::Scanner)));
        // A colon inside a token that does not start with a role stays part of the token.
        assert_eq!(role("3123456789abcdef:0123"), Some(("odd".into(), OperatorRole::Admin)));
        assert_eq!(set.by_name("read").map(|(r, _)| r), Some(OperatorRole::Auditor));
        assert_ne!(set.by_name("read").unwrap().1, set.by_name("ci").unwrap().1);
        let err = TokenSet::parse("x:root:0123456789abcdef0123\n", path).unwrap_err().to_string();
        assert!(err.contains("unknown role") && !err.contains("0123456789"), "{err}");
        let caller = Caller { name: "read".into(), role: OperatorRole::Auditor };
        assert!(caller.require(Permission::ReadAudit).is_ok());
        assert!(matches!(caller.require(Permission::RunScans), Err(V1Error::Forbidden { .. })));
    }

    #[test]
    fn rate_limit_is_per_token() {
        let rate = RateLimit::per_minute(NonZeroU32::new(2).unwrap());
        assert!(rate.check("a").is_ok() && rate.check("a").is_ok());
        assert!(rate.check("a").unwrap_err() >= 1);
        assert!(rate.check("b").is_ok());
    }
}
