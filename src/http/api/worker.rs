//! The scan-job worker: claims queued jobs from the database (any replica may), runs
//! the git history scan of [`crate::git`] off the async runtime, stores the redacted
//! findings and stats, and reports revocable findings when the job asks to.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::ApiState;
use crate::git::{self, BlobScanOptions, NoProgress, RefSelection};
use crate::revoke::{Door, LeakReport};
use crate::scan::report::FindingJson;
use crate::scan::walk::DEFAULT_MAX_FILE_SIZE;
use crate::scan::{Finding, ScanOutput, Scanner};
use crate::store::ScanJob;

/// How often an idle worker looks for jobs queued by other replicas.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Starts this replica's worker; it runs until the task is aborted.
pub fn spawn_worker(api: ApiState) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match api.inner.store.claim_scan_job().await {
                Ok(Some(job)) => run(&api, job).await,
                Ok(None) => {
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
    tracing::info!(id = %job.id, "scan job started");
    let scanner = api.inner.revoker.scanner().clone();
    let (repo, git_ref) = (job.repo.clone(), job.git_ref.clone());
    let scanned = tokio::task::spawn_blocking(move || scan_repository(&scanner, &repo, git_ref.as_deref())).await;
    let store = &api.inner.store;
    let stored = match scanned {
        Ok(Ok(output)) => {
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
            store.finish_scan_job(&job.id, &findings, &stats.to_string()).await
        }
        Ok(Err(e)) => store.fail_scan_job(&job.id, &e.to_string()).await,
        Err(_) => store.fail_scan_job(&job.id, "the scan stopped unexpectedly").await,
    };
    match stored {
        Ok(true) => tracing::info!(id = %job.id, "scan job ended"),
        Ok(false) => tracing::info!(id = %job.id, "scan job was cancelled; results discarded"),
        Err(e) => tracing::warn!(id = %job.id, error = %e, "storing a scan job's results failed"),
    }
}

/// The history scan `revokd scan --git` runs (without remembering clean blobs).
fn scan_repository(scanner: &Scanner, repo: &str, git_ref: Option<&str>) -> Result<ScanOutput, git::GitError> {
    let opened = git::open(repo)?;
    let refs = match git_ref {
        Some(r) => RefSelection::Only(vec![r.to_string()]),
        None => RefSelection::All,
    };
    let history = git::enumerate(&opened.repo, &refs, &NoProgress)?;
    // Half the cores: the daemon keeps serving alerts while a job runs.
    let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    let options = BlobScanOptions { threads, max_file_size: DEFAULT_MAX_FILE_SIZE, read: Default::default() };
    let mut scan = git::scan_history(&opened.repo, scanner, &history, &HashSet::new(), &options, &NoProgress);
    scan.output.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(scan.output)
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
