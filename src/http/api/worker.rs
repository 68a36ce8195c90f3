//! The scan-job worker: claims jobs from the database (any replica may), runs the git
//! scan of [`crate::git`] off the async runtime, stores the redacted findings and stats,
//! and reports revocable findings when the job asks to.
//!
//! Like `revokd scan --git` with a database, a job skips the blobs remembered as clean
//! for its repository under the same rules, and remembers the clean blobs it scanned.
//!
//! A claim is a lease ([`LEASE`]) that a keeper task renews every [`RENEW_EVERY`] while
//! the job runs. When a renewal finds the job no longer running under this claim
//! (cancelled by `DELETE /v1/scans/{id}`, or taken over after the lease ran out), the
//! keeper raises a stop flag that the scan checks between commits and between blobs:
//! a cancelled scan stops within about a second plus the blob being scanned, and
//! stores nothing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::ApiState;
use crate::git::{self, BlobScanOptions, Depth, Progress, RefSelection};
use crate::revoke::{Door, LeakReport};
use crate::scan::report::FindingJson;
use crate::scan::walk::DEFAULT_MAX_FILE_SIZE;
use crate::scan::{Finding, ScanOutput};
use crate::store::{ScanJob, Store};

/// How often an idle worker looks for jobs queued by other replicas.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a claim holds a job without renewal: a replica that dies mid-scan leaves
/// its job to another after at most this long. Many renewals long, so a database
/// hiccup does not lose a live worker's job.
pub const LEASE: Duration = Duration::from_secs(60);

/// How often a running job's lease is renewed: also how quickly a cancel is noticed.
/// One primary-key update per running job per interval.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

// A live worker keeps its job through a database hiccup of many renewals.
const _: () = assert!(LEASE.as_secs() >= 30 * RENEW_EVERY.as_secs());

/// Starts this replica's worker; it runs until the task is aborted.
pub fn spawn_worker(api: ApiState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let store = &api.inner.store;
        let mut abandoned_checked: Option<Instant> = None;
        loop {
            match store.claim_scan_job(LEASE).await {
                Ok(Some(job)) => run(&api, job).await,
                Ok(None) => {
                    // Jobs out of attempts are failed here, at most once a lease.
                    if abandoned_checked.is_none_or(|at| at.elapsed() >= LEASE) {
                        abandoned_checked = Some(Instant::now());
                        match store.fail_abandoned_scan_jobs().await {
                            Ok(0) => {}
                            Ok(n) => tracing::warn!(jobs = n, "scan jobs failed: their workers stopped too often"),
                            Err(e) => tracing::warn!(error = %e, "failing abandoned scan jobs failed"),
                        }
                    }
                    let _ = tokio::time::timeout(POLL_INTERVAL, api.inner.queued.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a scan job failed");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    })
}

async fn run(api: &ApiState, job: ScanJob) {
    tracing::info!(id = %job.id, attempt = job.attempts, "scan job started");
    let stop = Arc::new(AtomicBool::new(false));
    let keeper = tokio::spawn(keep_lease(api.inner.store.clone(), job.id.clone(), job.attempts, stop.clone()));
    let result = scan_job(api, &job, stop.clone()).await;
    keeper.abort();
    if stop.load(Ordering::Relaxed) {
        tracing::info!(id = %job.id, "scan job stopped: cancelled or taken over; results discarded");
        return;
    }
    let store = &api.inner.store;
    let stored = match result {
        Ok(output) => {
            let revoke = match job.revoke {
                true => Some(revoke(api, &job, &output.findings).await),
                false => None,
            };
            super::count_scanned("job", output.stats.bytes, output.findings.len());
            let findings: Vec<_> = output.findings.iter().map(|f| FindingJson::new(f, false)).collect();
            let mut stats = serde_json::to_value(output.stats).unwrap_or(Value::Null);
            stats["warnings"] = json!(output.warnings.len());
            if let Some(revoke) = revoke {
                stats["revoke"] = revoke;
            }
            let findings = serde_json::to_string(&findings).unwrap_or_else(|_| "[]".into());
            store.finish_scan_job(&job.id, job.attempts, &findings, &stats.to_string()).await
        }
        Err(message) => store.fail_scan_job(&job.id, job.attempts, &message).await,
    };
    match stored {
        Ok(true) => tracing::info!(id = %job.id, "scan job ended"),
        Ok(false) => tracing::info!(id = %job.id, "scan job was cancelled; results discarded"),
        Err(e) => tracing::warn!(id = %job.id, error = %e, "storing a scan job's results failed"),
    }
}

/// Renews the lease of job `id` under claim `attempt` until aborted; raises `stop`
/// (and returns) once the job is no longer ours. A failed renewal (database down) is
/// retried: the lease outlasts many intervals.
async fn keep_lease(store: Store, id: String, attempt: i64, stop: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match store.renew_scan_job(&id, attempt, LEASE).await {
            Ok(true) => {}
            Ok(false) => {
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(%id, error = %e, "renewing a scan job's lease failed"),
        }
    }
}

/// The scan's view of the stop flag.
struct StopFlag(Arc<AtomicBool>);

impl Progress for StopFlag {
    fn stop_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Checks the repository again (and pins a URL's clone, see [`super::policy`]), then
/// scans it on a blocking thread: the history from `ref` or every ref, or with
/// `"history": false` only the tree at `ref` (default HEAD). Returns the sorted output,
/// or a message for the job's `error`.
async fn scan_job(api: &ApiState, job: &ScanJob, stop: Arc<AtomicBool>) -> Result<ScanOutput, String> {
    let clone = api.inner.options.policy.clone_options(&job.repo).await.map_err(|e| e.to_string())?;
    let scanner = api.inner.revoker.scanner().clone();
    let store = api.inner.store.clone();
    let runtime = tokio::runtime::Handle::current();
    let (repo, git_ref, depth) =
        (job.repo.clone(), job.git_ref.clone(), if job.history { Depth::History } else { Depth::TipOnly });
    let scanned = tokio::task::spawn_blocking(move || {
        let progress = StopFlag(stop);
        let opened = git::open_with(&repo, &clone).map_err(|e| e.to_string())?;
        let refs = match git_ref {
            Some(r) => RefSelection::Only(vec![r]),
            None => RefSelection::All,
        };
        let history = git::enumerate(&opened.repo, &refs, depth, &progress).map_err(|e| e.to_string())?;
        let read = Default::default();
        let scan_key = git::scan_key(scanner.rules().version(), &read);
        // The memory is an optimisation: without it every blob is scanned.
        let remembered: HashSet<gix::ObjectId> = match runtime.block_on(store.remembered_blobs(&opened.key, &scan_key))
        {
            Ok(ids) => ids.iter().filter_map(|hex| gix::ObjectId::from_hex(hex.as_bytes()).ok()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading remembered blobs failed; scanning every blob");
                HashSet::new()
            }
        };
        // Half the cores: the daemon keeps serving alerts while a job runs.
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        let options = BlobScanOptions { threads, max_file_size: DEFAULT_MAX_FILE_SIZE, read };
        let mut scan = git::scan_history(&opened.repo, &scanner, &history, &remembered, &options, &progress);
        if scan.stopped {
            return Err(git::GitError::Stopped.to_string());
        }
        let clean: Vec<String> = scan.clean_blobs.iter().map(|id| id.to_string()).collect();
        if let Err(e) = runtime.block_on(store.remember_blobs(&opened.key, &scan_key, &clean)) {
            tracing::warn!(error = %e, "remembering scanned blobs failed");
        }
        scan.output.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Ok(scan.output)
    })
    .await;
    scanned.unwrap_or_else(|_| Err("the scan stopped unexpectedly".to_string()))
}

/// Reports each distinct revocable secret once (door `api`, actor `api:TOKEN-NAME`);
/// returns the outcome counts, or the error.
async fn revoke(api: &ApiState, job: &ScanJob, findings: &[Finding]) -> Value {
    let mut seen = HashSet::new();
    let reports: Vec<LeakReport> = findings
        .iter()
        .filter(|f| f.revocable && seen.insert(f.secret_sha256.clone()))
        .map(|f| LeakReport {
            token: f.secret.clone(),
            door: Door::Api,
            location: f.path.clone(),
            url: String::new(),
            reporter: format!("api:{}", job.requested_by),
            received_at: Instant::now(),
        })
        .collect();
    match api.inner.revoker.report_leaked_tokens(&reports).await {
        Ok(outcomes) => {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for outcome in outcomes {
                *counts.entry(outcome.as_str()).or_default() += 1;
            }
            json!(counts)
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}
