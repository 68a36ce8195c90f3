//! GitHub's secret-scanning public keys: fetched from `github.public_keys_url`, parsed
//! once into verifying keys, cached, and refreshed.
//!
//! Refresh policy:
//! - periodically ([`KeyCacheOptions::refresh_every`]); a failed refresh keeps the cached
//!   keys, so a GitHub outage never stops verification of known keys;
//! - when a request names a key id we do not hold, at most once per
//!   [`KeyCacheOptions::unknown_id_refetch_every`]: forged ids cannot make us hammer
//!   GitHub (which rate-limits the endpoint like any REST call), and a rotation is picked
//!   up by the first alert signed with the new key;
//! - a key id that is not in the list after a refresh is refused. Keys listed with
//!   `is_current: false` are still accepted: GitHub documents no meaning for the flag,
//!   and rejecting them could drop alerts signed during a rotation.
//!
//! Cost per request on the fast path: one read-lock and one hash-map lookup; the PEM is
//! never parsed again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::signature::PartnerKey;
use crate::secret::Secret;

/// Counter of key-list fetches by `result` (`ok`, `error`); `ok` includes "not modified".
pub const KEY_REFRESHES_METRIC: &str = "revokd_github_key_refreshes_total";

/// GitHub's endpoint for partner-alert signing keys.
pub const DEFAULT_PUBLIC_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// How the cache fetches and refreshes keys.
#[derive(Debug, Clone)]
pub struct KeyCacheOptions {
    /// `github.public_keys_url`. Default: [`DEFAULT_PUBLIC_KEYS_URL`].
    pub url: String,
    /// Bearer token sent when fetching (`github.api_token_file`); raises GitHub's rate
    /// limit. Default: none (anonymous, 60 requests/hour per IP).
    pub token: Option<Secret>,
    /// Minimum time between refetches triggered by unknown key ids. Default 60 s: a
    /// rotation is seen within a minute, and forged ids cost GitHub at most 60 calls/hour.
    pub unknown_id_refetch_every: Duration,
    /// Periodic refresh. Default 1 h: keys change rarely (GitHub advises caching).
    pub refresh_every: Duration,
    /// Retry period while no key could be loaded yet. Default 10 s.
    pub retry_empty_every: Duration,
}

impl KeyCacheOptions {
    pub fn new(url: impl Into<String>) -> KeyCacheOptions {
        KeyCacheOptions {
            url: url.into(),
            token: None,
            unknown_id_refetch_every: Duration::from_secs(60),
            refresh_every: Duration::from_secs(3600),
            retry_empty_every: Duration::from_secs(10),
        }
    }
}

/// Why a fetch of the key list failed. The cached keys stay in use.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("fetching GitHub public keys: {0}")]
    Http(#[from] reqwest::Error),
    #[error("fetching GitHub public keys: HTTP status {0}")]
    Status(u16),
    #[error("GitHub public keys: malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("GitHub public keys: the list holds no usable P-256 key")]
    NoUsableKey,
}

#[derive(Deserialize)]
struct KeyList {
    public_keys: Vec<ListedKey>,
}

#[derive(Deserialize)]
struct ListedKey {
    key_identifier: String,
    key: String,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Arc<PartnerKey>>,
    etag: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    options: KeyCacheOptions,
    cached: RwLock<Arc<Cached>>,
    /// Serialises fetches and remembers when an unknown id last caused one.
    refetch: tokio::sync::Mutex<Option<Instant>>,
}

/// The shared key cache. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct PublicKeys {
    inner: Arc<Inner>,
}

impl PublicKeys {
    /// An empty cache; call [`PublicKeys::refresh`] (or let [`PublicKeys::spawn_refresher`]
    /// do it) to load the keys.
    pub fn new(http: reqwest::Client, options: KeyCacheOptions) -> PublicKeys {
        PublicKeys {
            inner: Arc::new(Inner {
                http,
                options,
                cached: RwLock::new(Arc::new(Cached::default())),
                refetch: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// True once at least one key is loaded (`/readyz`).
    pub fn is_loaded(&self) -> bool {
        !self.snapshot().keys.is_empty()
    }

    /// The key named `id` (hex, any case). On a miss, refetches the list unless an
    /// unknown id already caused a refetch within `unknown_id_refetch_every`. `None`
    /// means: refuse the request.
    pub async fn get(&self, id: &str) -> Option<Arc<PartnerKey>> {
        let id = id.trim().to_ascii_lowercase();
        if let Some(key) = self.snapshot().keys.get(&id) {
            return Some(key.clone());
        }
        let mut last = self.inner.refetch.lock().await;
        // Another request may have refreshed while we waited for the lock.
        if let Some(key) = self.snapshot().keys.get(&id) {
            return Some(key.clone());
        }
        if last.is_some_and(|at| at.elapsed() < self.inner.options.unknown_id_refetch_every) {
            return None;
        }
        *last = Some(Instant::now());
        if let Err(err) = self.fetch().await {
            tracing::warn!(error = %err, "refetch after an unknown key id failed; keeping cached keys");
        }
        self.snapshot().keys.get(&id).cloned()
    }

    /// Fetches the list now and replaces the cache; returns the number of usable keys.
    /// On error the cache is unchanged.
    pub async fn refresh(&self) -> Result<usize, KeysError> {
        let _serialised = self.inner.refetch.lock().await;
        self.fetch().await
    }

    /// Refreshes in the background: every `refresh_every`, or every `retry_empty_every`
    /// while nothing is loaded. The first attempt comes after one such pause: the daemon
    /// makes the first fetch itself (before it reports ready) with [`PublicKeys::refresh`].
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let keys = self.clone();
        tokio::spawn(async move {
            loop {
                let options = &keys.inner.options;
                let pause = if keys.is_loaded() { options.refresh_every } else { options.retry_empty_every };
                tokio::time::sleep(pause).await;
                match keys.refresh().await {
                    Ok(count) => tracing::debug!(count, "GitHub public keys refreshed"),
                    Err(err) => tracing::warn!(error = %err, "GitHub public keys not refreshed"),
                }
            }
        })
    }

    fn snapshot(&self) -> Arc<Cached> {
        // A poisoned lock only means a writer panicked between two complete `Arc`s.
        self.inner.cached.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// [`PublicKeys::fetch_list`], counted in [`KEY_REFRESHES_METRIC`].
    async fn fetch(&self) -> Result<usize, KeysError> {
        let result = self.fetch_list().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(KEY_REFRESHES_METRIC, "result" => outcome).increment(1);
        result
    }

    /// One GET with `If-None-Match`; the caller holds the `refetch` lock.
    async fn fetch_list(&self) -> Result<usize, KeysError> {
        let options = &self.inner.options;
        let previous = self.snapshot();
        let mut request = self.inner.http.get(&options.url).header("Accept", "application/vnd.github+json");
        if let Some(token) = &options.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(etag) = &previous.etag {
            request = request.header("If-None-Match", etag);
        }
        let response = request.send().await?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(previous.keys.len());
        }
        if !response.status().is_success() {
            return Err(KeysError::Status(response.status().as_u16()));
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let list: KeyList = serde_json::from_slice(&response.bytes().await?)?;
        let keys = parse_keys(list);
        if keys.is_empty() {
            return Err(KeysError::NoUsableKey);
        }
        let count = keys.len();
        *self.inner.cached.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Cached { keys, etag });
        Ok(count)
    }
}

/// Parses every listed PEM once; a key that does not parse is skipped with a warning
/// (the others stay usable).
fn parse_keys(list: KeyList) -> HashMap<String, Arc<PartnerKey>> {
    let mut keys = HashMap::new();
    for listed in list.public_keys {
        match PartnerKey::from_pem(&listed.key) {
            Ok(key) => {
                keys.insert(listed.key_identifier.trim().to_ascii_lowercase(), Arc::new(key));
            }
            Err(err) => tracing::warn!(key_id = %listed.key_identifier, error = %err, "unusable GitHub public key"),
        }
    }
    keys
}
