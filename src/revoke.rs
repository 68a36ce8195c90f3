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
//! Cost: one scanner pass over the token (microseconds), two hashes, and a share of one
//! store transaction: concurrent reports are committed together (see [`GroupCommit`]),
//! so a commit's fsync is paid once per group, not once per token.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::patterns::Rule;
use crate::pepper::Pepper;
use crate::scan::Scanner;
use crate::secret::{Secret, sha256_hex};
use crate::store::{LeakOutcome, Store, StoreError};

/// Histogram of request received → key disabled, in seconds (Prometheus).
pub const DISABLE_LATENCY_METRIC: &str = "revokd_leak_to_disable_seconds";
/// Counter of reports by outcome (`outcome` label).
pub const REPORTS_METRIC: &str = "revokd_leak_reports_total";
/// Counter of keys this process disabled because they leaked.
pub const KEYS_DISABLED_METRIC: &str = "revokd_keys_disabled_total";

/// Which door a report came through (the leak's `source`, before any location).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    GitHubPartner,
    GitHubWebhook,
    Scan,
    Api,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::GitHubPartner => "github_partner",
            Door::GitHubWebhook => "github_webhook",
            Door::Scan => "scan",
            Door::Api => "api",
        }
    }
}

/// One leaked token as a door received it.
#[derive(Debug)]
pub struct LeakReport {
    pub token: Secret,
    pub door: Door,
    /// Where in the door's world it was found: GitHub's `source` (`commit`, `content`,
    /// compared lowercased), a file path for scans; may be empty.
    pub location: String,
    /// Public URL of the leak; may be empty (GitHub sends `""` at times).
    pub url: String,
    /// The audit actor: `github`, `cli:alice`, …
    pub reporter: String,
    /// When the door received the request: start of the disable-latency histogram.
    pub received_at: Instant,
}

/// Why the store could not record a batch. Nothing of the batch was written.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    /// The database is unreachable or busy: retry later (HTTP 503).
    #[error("key store unavailable: {0}")]
    Unavailable(#[source] StoreError),
    /// The database refused the transaction for another reason (a bug or corruption).
    #[error("key store error: {0}")]
    Failed(#[source] StoreError),
    #[error("the key store writer stopped")]
    WriterStopped,
}

impl From<StoreError> for StoreFailure {
    fn from(err: StoreError) -> StoreFailure {
        if err.is_unavailable() { StoreFailure::Unavailable(err) } else { StoreFailure::Failed(err) }
    }
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

/// The use case and what it needs: the compiled rules, the pepper and the store writer.
///
/// The rules can be replaced while requests run ([`Revoker::replace_scanner`], on
/// `SIGHUP`): each call takes one snapshot of the rules when it starts, so a request is
/// classified entirely by the old rules or entirely by the new ones.
#[derive(Clone)]
pub struct Revoker {
    scanner: Arc<RwLock<Arc<Scanner>>>,
    pepper: Pepper,
    writer: GroupCommit,
}

impl Revoker {
    /// Starts the store writer task (call inside a Tokio runtime).
    pub fn new(scanner: Arc<Scanner>, pepper: Pepper, store: Store) -> Revoker {
        compile_revocable_rules(&scanner);
        Revoker { scanner: Arc::new(RwLock::new(scanner)), pepper, writer: GroupCommit::start(store) }
    }

    /// The rules in effect now (a snapshot: a later reload does not change it).
    pub fn scanner(&self) -> Arc<Scanner> {
        // A poisoned lock only means a writer panicked between two complete `Arc`s.
        self.scanner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `scanner` in effect for every report that starts from now on; reports
    /// already running finish with the rules they started with. Returns the old rules.
    pub fn replace_scanner(&self, scanner: Arc<Scanner>) -> Arc<Scanner> {
        compile_revocable_rules(&scanner);
        std::mem::replace(&mut *self.scanner.write().unwrap_or_else(|e| e.into_inner()), scanner)
    }

    /// Reports one leaked token (see [`Revoker::report_leaked_tokens`]).
    pub async fn report_leaked_token(&self, report: &LeakReport) -> Result<Outcome, StoreFailure> {
        let outcomes = self.report_leaked_tokens(std::slice::from_ref(report)).await?;
        Ok(outcomes.into_iter().next().unwrap_or(Outcome::NotOurFormat))
    }

    /// Reports leaked tokens: classify each, hash it, and record all of ours in one
    /// store transaction (shared with concurrent callers, see [`GroupCommit`]). Returns
    /// one outcome per report, in order. On error nothing of this call was written.
    /// Safe to call concurrently and repeatedly for the same tokens. Records the disable
    /// latency (from `received_at`) for every key this call disabled.
    pub async fn report_leaked_tokens(&self, reports: &[LeakReport]) -> Result<Vec<Outcome>, StoreFailure> {
        let mut outcomes = vec![Outcome::NotOurFormat; reports.len()];
        let mut records = Vec::with_capacity(reports.len());
        let mut positions = Vec::with_capacity(reports.len());
        let mut hashes = Vec::with_capacity(reports.len());
        let scanner = self.scanner();
        for (position, report) in reports.iter().enumerate() {
            if let Some(rule) = classify(&scanner, report.token.expose()) {
                let record = self.record(report, rule);
                hashes.push(record.token_sha256.clone());
                records.push(record);
                positions.push(position);
            }
        }
        if !records.is_empty() {
            let stored = self.writer.submit(records).await?;
            for ((position, token_hash), outcome) in positions.into_iter().zip(&hashes).zip(stored.outcomes) {
                let report = &reports[position];
                outcomes[position] = match outcome {
                    LeakOutcome::DisabledNow(leaked) => {
                        let latency = stored.committed_at.saturating_duration_since(report.received_at);
                        metrics::histogram!(DISABLE_LATENCY_METRIC).record(latency.as_secs_f64());
                        metrics::counter!(KEYS_DISABLED_METRIC).increment(1);
                        tracing::info!(key_id = leaked.key.id, %token_hash, door = report.door.as_str(), "key disabled");
                        Outcome::DisabledNow { key_id: leaked.key.id }
                    }
                    LeakOutcome::AlreadyDisabled(leaked) => Outcome::AlreadyDisabled { key_id: leaked.key.id },
                    LeakOutcome::Deleted(leaked) => Outcome::Deleted { key_id: leaked.key.id },
                    LeakOutcome::UnknownToken { .. } => Outcome::UnknownToken,
                };
            }
        }
        for outcome in &outcomes {
            metrics::counter!(REPORTS_METRIC, "outcome" => outcome.as_str()).increment(1);
        }
        Ok(outcomes)
    }

    /// What the store records: hashes only, never the token.
    fn record(&self, report: &LeakReport, rule: &Rule) -> crate::store::LeakReport {
        let location = report.location.trim().to_ascii_lowercase();
        crate::store::LeakReport {
            key_hash: self.pepper.key_hash(report.token.expose()),
            token_sha256: sha256_hex(report.token.expose().as_bytes()),
            token_type: rule.id.clone(),
            source: if location.is_empty() {
                report.door.as_str().to_owned()
            } else {
                format!("{}:{location}", report.door.as_str())
            },
            url: Some(report.url.trim().to_owned()).filter(|u| !u.is_empty()),
            reporter: report.reporter.clone(),
        }
    }
}

/// Compiles the regexes of the rules that classify reported tokens now, so that the first
/// alert of each type does not wait for it (a shipped rule otherwise compiles at its
/// first use: well under a millisecond, but on the path to the disable).
fn compile_revocable_rules(scanner: &Scanner) {
    for rule in scanner.rules().rules().iter().filter(|rule| rule.revocable) {
        rule.regex();
    }
}

/// The revocable rule of `scanner` that matches the whole of `token` (format, checksum,
/// entropy), if any. A token with surrounding junk, a wrong checksum or a type we do not
/// issue gets `None`.
pub fn classify<'s>(scanner: &'s Scanner, token: &str) -> Option<&'s Rule> {
    scanner.rules_matching_whole(token).find(|rule| rule.revocable)
}

/// Most leaks one transaction takes. Bounds how long the write lock is held (a few ms
/// on SQLite) and so the latency a new request waits behind a group.
const MAX_GROUP: usize = 512;

/// Group commit: one writer task takes every batch waiting in its queue and records
/// them in ONE store transaction. A commit costs one fsync (several ms on ordinary
/// disks, with SQLite `synchronous = FULL`) and the store serialises writers anyway, so
/// sharing the commit among concurrent requests multiplies throughput without weakening
/// anything: each caller is answered only after its leaks are durably committed.
///
/// If a shared transaction fails, each batch of it is retried alone, so one batch's
/// error never fails another caller.
#[derive(Clone)]
struct GroupCommit {
    queue: tokio::sync::mpsc::UnboundedSender<Batch>,
}

struct Batch {
    records: Vec<crate::store::LeakReport>,
    reply: tokio::sync::oneshot::Sender<Result<Committed, StoreFailure>>,
}

/// A batch's outcomes, and when the transaction that recorded them committed: the
/// moment its keys were disabled (the caller's task may be woken later, behind the
/// group's other callers).
struct Committed {
    outcomes: Vec<LeakOutcome>,
    committed_at: Instant,
}

impl GroupCommit {
    fn start(store: Store) -> GroupCommit {
        let (queue, mut waiting) = tokio::sync::mpsc::unbounded_channel::<Batch>();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut group = vec![first];
                let mut leaks = group[0].records.len();
                while leaks < MAX_GROUP {
                    let Ok(next) = waiting.try_recv() else { break };
                    leaks += next.records.len();
                    group.push(next);
                }
                commit_group(&store, group).await;
            }
        });
        GroupCommit { queue }
    }

    async fn submit(&self, records: Vec<crate::store::LeakReport>) -> Result<Committed, StoreFailure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue.send(Batch { records, reply }).map_err(|_| StoreFailure::WriterStopped)?;
        answer.await.map_err(|_| StoreFailure::WriterStopped)?
    }
}

async fn commit_group(store: &Store, group: Vec<Batch>) {
    // The batches' records end to end (moved, not cloned), and where each batch ends.
    let mut all = Vec::with_capacity(group.iter().map(|b| b.records.len()).sum());
    let mut replies = Vec::with_capacity(group.len());
    for batch in group {
        all.extend(batch.records);
        replies.push((all.len(), batch.reply));
    }
    let shared = store.report_leaks(&all).await;
    let committed_at = Instant::now();
    let single = replies.len() == 1;
    match shared {
        Ok(outcomes) if outcomes.len() == all.len() => {
            let mut outcomes = outcomes.into_iter();
            let mut start = 0;
            for (end, reply) in replies {
                let outcomes = outcomes.by_ref().take(end - start).collect();
                let _ = reply.send(Ok(Committed { outcomes, committed_at }));
                start = end;
            }
        }
        Err(err) if single => {
            if let Some((_, reply)) = replies.pop() {
                let _ = reply.send(Err(StoreFailure::from(err)));
            }
        }
        _ => {
            let mut start = 0;
            for (end, reply) in replies {
                let result = store.report_leaks(&all[start..end]).await;
                let committed = result.map(|outcomes| Committed { outcomes, committed_at: Instant::now() });
                let _ = reply.send(committed.map_err(StoreFailure::from));
                start = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::RuleSet;

    #[tokio::test]
    async fn revocable_rules_are_compiled_before_the_first_report_and_others_at_first_use() {
        let rules = Arc::new(RuleSet::load(&[]).unwrap());
        let scanner = Arc::new(Scanner::new(Arc::clone(&rules)).unwrap());
        assert!(!rules.rules().iter().any(Rule::is_compiled), "shipped rules compile at first use");
        let store = Store::open("sqlite::memory:").await.unwrap();
        let _revoker = Revoker::new(scanner, Pepper::from_bytes(vec![7; 32]), store);
        assert!(rules.rules().iter().filter(|r| r.revocable).all(Rule::is_compiled));
        assert!(rules.rules().iter().any(|r| !r.revocable && !r.is_compiled()));
    }
}
