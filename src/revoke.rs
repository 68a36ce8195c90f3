//! The core use case, *report a leaked token*: every door (partner alerts, repository
//! webhooks, `revokd scan --revoke`, API scans) calls [`Revoker::report_leaked_token`]
//! and nothing else decides what happens to a leaked key.
//!
//! Steps: classify the token with the compiled pattern set (a revocable rule must match
//! the whole token, checksum and entropy included), hash it (HMAC-SHA256 with the pepper
//! to look the key up, plain SHA-256 for GitHub's feedback), then hand it to the store's
//! single transaction, which disables the key, records the leak, appends the audit
//! events and enqueues the owner email — or records a repeat sighting. Idempotence
//! (one disable and one email per token, across requests and replicas) is the store's
//! transaction and constraints, not in-process state.
//!
//! Cost: one scanner pass over the token (microseconds), two hashes, one transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::patterns::Rule;
use crate::scan::Scanner;
use crate::secret::{Secret, redact, sha256_hex};

/// Histogram of request received → key disabled, in seconds (Prometheus).
pub const DISABLE_LATENCY_METRIC: &str = "revokd_leak_to_disable_seconds";
/// Counter of reports by outcome (`outcome` label).
pub const REPORTS_METRIC: &str = "revokd_leak_reports_total";

/// Which door a report came through (recorded as the leak's reporter and audit actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    GitHubPartner,
    GitHubWebhook,
    CliScan,
    ApiScan,
}

impl Reporter {
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::GitHubPartner => "github_partner",
            Reporter::GitHubWebhook => "github_webhook",
            Reporter::CliScan => "cli_scan",
            Reporter::ApiScan => "api_scan",
        }
    }
}

/// One leaked token as a door received it.
#[derive(Debug)]
pub struct LeakReport {
    pub token: Secret,
    /// Where it was found, as the reporter names it (GitHub `source`, lowercased), e.g.
    /// `commit`, `content`, `file`.
    pub source: String,
    /// Public URL of the leak; may be empty (GitHub sends `""` at times).
    pub url: String,
    pub reporter: Reporter,
    /// When the door received the request: start of the disable-latency histogram.
    pub received_at: Instant,
}

/// What the store is asked to record: hashes only, never the token.
#[derive(Debug, Clone)]
pub struct LeakRecord {
    /// HMAC-SHA256(pepper, token), hex: the `api_keys.key_hash` lookup value.
    pub key_hash: String,
    /// SHA-256(token), hex: the `leaks.token_hash` and GitHub feedback value.
    pub token_hash: String,
    /// The rule id that matched (our token type).
    pub token_type: String,
    pub redacted: String,
    pub source: String,
    pub url: String,
    pub reporter: Reporter,
}

/// What the store's transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    DisabledNow { key_id: i64 },
    AlreadyDisabled { key_id: i64 },
    Deleted { key_id: i64 },
    UnknownKey,
}

/// The store is unreachable or the transaction failed and was rolled back: nothing was
/// written, and the caller should make its client retry (HTTP 503).
#[derive(Debug, thiserror::Error)]
#[error("key store unavailable: {0}")]
pub struct StoreUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<StoreOutcome, StoreUnavailable>> + Send + 'a>>;

/// The port to the key store's single revocation transaction. Implementations must be
/// idempotent per `key_hash`: concurrent and repeated calls disable the key once and
/// enqueue one email; later calls return `AlreadyDisabled` and count a sighting.
pub trait LeakStore: Send + Sync {
    fn report_leak<'a>(&'a self, leak: &'a LeakRecord) -> StoreFuture<'a>;
}

/// The result of reporting one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A key of ours was active; this report disabled it (and enqueued the email).
    DisabledNow { key_id: i64 },
    /// A key of ours, already disabled earlier; recorded as a repeat sighting.
    AlreadyDisabled { key_id: i64 },
    /// A key of ours that its owner deleted; recorded.
    Deleted { key_id: i64 },
    /// Our format (checksum valid) but no key with this hash; recorded as a leak.
    UnknownToken,
    /// Not a token type this deployment issues, or a malformed/corrupted one; nothing
    /// is written.
    NotOurFormat,
}

impl Outcome {
    /// True for a real key of ours in any state (GitHub's `true_positive`).
    pub fn is_our_key(self) -> bool {
        matches!(self, Outcome::DisabledNow { .. } | Outcome::AlreadyDisabled { .. } | Outcome::Deleted { .. })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::DisabledNow { .. } => "disabled_now",
            Outcome::AlreadyDisabled { .. } => "already_disabled",
            Outcome::Deleted { .. } => "deleted",
            Outcome::UnknownToken => "unknown_token",
            Outcome::NotOurFormat => "not_our_format",
        }
    }
}

/// The secret HMAC key that turns tokens into `api_keys.key_hash` values, so that a
/// database dump yields no usable token. Keyed once; each hash clones the prepared state.
#[derive(Clone)]
pub struct Pepper {
    mac: Hmac<Sha256>,
}

impl Pepper {
    pub fn new(pepper: &[u8]) -> Pepper {
        // Invariant: HMAC accepts keys of every length.
        Pepper { mac: Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes keys of any length") }
    }

    /// HMAC-SHA256(pepper, token), lowercase hex.
    pub fn key_hash(&self, token: &Secret) -> String {
        let mut mac = self.mac.clone();
        mac.update(token.expose().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

/// The use case and what it needs: the compiled rules, the pepper and the store.
#[derive(Clone)]
pub struct Revoker {
    scanner: Arc<Scanner>,
    pepper: Pepper,
    store: Arc<dyn LeakStore>,
}

impl Revoker {
    pub fn new(scanner: Arc<Scanner>, pepper: Pepper, store: Arc<dyn LeakStore>) -> Revoker {
        Revoker { scanner, pepper, store }
    }

    pub fn scanner(&self) -> &Arc<Scanner> {
        &self.scanner
    }

    /// The revocable rule that matches the whole of `token` (format, checksum, entropy),
    /// if any. A token with surrounding junk, a wrong checksum or a type we do not issue
    /// gets `None`.
    pub fn classify(&self, token: &str) -> Option<&Rule> {
        let rules = self.scanner.rules();
        self.scanner
            .find_all(token.as_bytes())
            .into_iter()
            .map(|m| (m, rules.get(m.rule)))
            .find(|(m, rule)| rule.revocable && m.start == 0 && m.end == token.len())
            .map(|(_, rule)| rule)
    }

    /// Reports one leaked token: classify, hash, one store transaction. Safe to call
    /// concurrently and repeatedly for the same token. Records the disable latency
    /// (from `report.received_at`) when this call disabled the key.
    pub async fn report_leaked_token(&self, report: &LeakReport) -> Result<Outcome, StoreUnavailable> {
        let Some(rule) = self.classify(report.token.expose()) else {
            metrics::counter!(REPORTS_METRIC, "outcome" => Outcome::NotOurFormat.as_str()).increment(1);
            return Ok(Outcome::NotOurFormat);
        };
        let record = LeakRecord {
            key_hash: self.pepper.key_hash(&report.token),
            token_hash: sha256_hex(report.token.expose().as_bytes()),
            token_type: rule.id.clone(),
            redacted: redact(report.token.expose(), &rule.prefixes),
            source: report.source.to_ascii_lowercase(),
            url: report.url.clone(),
            reporter: report.reporter,
        };
        let outcome = match self.store.report_leak(&record).await? {
            StoreOutcome::DisabledNow { key_id } => {
                metrics::histogram!(DISABLE_LATENCY_METRIC).record(report.received_at.elapsed().as_secs_f64());
                tracing::info!(key_id, token_hash = %record.token_hash, reporter = report.reporter.as_str(), "key disabled");
                Outcome::DisabledNow { key_id }
            }
            StoreOutcome::AlreadyDisabled { key_id } => Outcome::AlreadyDisabled { key_id },
            StoreOutcome::Deleted { key_id } => Outcome::Deleted { key_id },
            StoreOutcome::UnknownKey => Outcome::UnknownToken,
        };
        metrics::counter!(REPORTS_METRIC, "outcome" => outcome.as_str()).increment(1);
        Ok(outcome)
    }
}
