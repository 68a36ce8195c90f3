//! Scan jobs of the API (`POST /v1/scans`): a queue in the database that any replica's
//! worker claims from, and the redacted results.
//!
//! Claiming is one `UPDATE … RETURNING`: on PostgreSQL its subquery takes the oldest
//! claimable row `FOR UPDATE SKIP LOCKED`, so concurrent replicas never claim the same
//! job and never wait on each other; on SQLite the statement runs under the database's
//! single write lock.
//!
//! A claim is a lease: the worker renews `claimed_until` while it scans
//! ([`Store::renew_scan_job`]). A `running` job whose lease ran out (its replica died
//! or hung) is claimable again, up to [`MAX_SCAN_JOB_ATTEMPTS`] claims in all; then
//! [`Store::fail_abandoned_scan_jobs`] fails it. Each claim increments `attempts`, and
//! renewing and finishing are conditional on the job still `running` under the same
//! attempt: a job cancelled meanwhile keeps its `cancelled` status, and a worker whose
//! lease was taken over can no longer store results.

use std::time::Duration;

use super::{Conn, Db, Store, StoreError, execute, fetch, now_ms};

/// Claims of one job before it is failed. A job whose scan kills its replica (say, a
/// repository that exhausts memory) takes down at most this many workers.
pub const MAX_SCAN_JOB_ATTEMPTS: i64 = 3;

/// Job status names, as stored and as shown by the API.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewScanJob {
    /// A canonical local path or a URL (already checked against the API's policy).
    pub repo: String,
    pub git_ref: Option<String>,
    pub history: bool,
    pub revoke: bool,
    /// The API token's name.
    pub requested_by: String,
}

/// A stored job. `findings` and `stats` are JSON text, set when it is `done`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanJob {
    pub id: String,
    pub repo: String,
    pub git_ref: Option<String>,
    pub history: bool,
    pub revoke: bool,
    pub requested_by: String,
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub findings: Option<String>,
    pub stats: Option<String>,
    pub error: Option<String>,
    /// While `running`: until when the worker's lease holds (UTC ms).
    pub claimed_until: Option<i64>,
    /// How many times the job was claimed; the current claim's fence.
    pub attempts: i64,
}

/// What [`Store::cancel_scan_job`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    NotFound,
    /// The job had already ended with this status.
    AlreadyEnded(String),
}

const COLUMNS: &str = "id, repo, git_ref, history, revoke, requested_by, status, created_at, started_at, \
                       finished_at, findings, stats, error, claimed_until, attempts";

/// A job another worker may claim: queued, or running under a lease that ran out ($1:
/// now) with claims left ($2: the attempt limit). A lease-less running row (written
/// before leases existed) counts as expired.
const CLAIMABLE: &str = "(status = 'queued' OR (status = 'running' AND COALESCE(claimed_until, 0) < $1 \
                         AND attempts < $2))";

impl Store {
    /// Enqueues `job` with a fresh random id (128 bits, hex). Cost: one insert.
    pub async fn create_scan_job(&self, job: &NewScanJob) -> Result<ScanJob, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness for a job id: {e}")))?;
        let id = hex::encode(bytes);
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let sql = format!(
            "INSERT INTO scan_jobs (id, repo, git_ref, history, revoke, requested_by, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) RETURNING {COLUMNS}"
        );
        let row = fetch!(
            &mut c,
            fetch_one,
            ScanJob,
            sqlx::AssertSqlSafe(sql),
            &id,
            &job.repo,
            job.git_ref.as_deref(),
            job.history,
            job.revoke,
            &job.requested_by,
            now_ms()
        )?;
        Ok(row)
    }

    /// The job `id`, if it exists. Cost: one primary-key read.
    pub async fn scan_job(&self, id: &str) -> Result<Option<ScanJob>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let sql = format!("SELECT {COLUMNS} FROM scan_jobs WHERE id = $1");
        Ok(fetch!(&mut c, fetch_optional, ScanJob, sqlx::AssertSqlSafe(sql), id)?)
    }

    /// Up to `limit` jobs, newest first, strictly older than the job `before` (a page
    /// cursor; an unknown cursor yields an empty page). Cost: one index range read.
    pub async fn scan_jobs(&self, limit: i64, before: Option<&str>) -> Result<Vec<ScanJob>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let rows = match before {
            None => {
                let sql = format!("SELECT {COLUMNS} FROM scan_jobs ORDER BY created_at DESC, id DESC LIMIT $1");
                fetch!(&mut c, fetch_all, ScanJob, sqlx::AssertSqlSafe(sql), limit)?
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM scan_jobs j WHERE EXISTS (SELECT 1 FROM scan_jobs b WHERE b.id = $2 \
                     AND (j.created_at < b.created_at OR (j.created_at = b.created_at AND j.id < b.id))) \
                     ORDER BY created_at DESC, id DESC LIMIT $1"
                );
                fetch!(&mut c, fetch_all, ScanJob, sqlx::AssertSqlSafe(sql), limit, cursor)?
            }
        };
        Ok(rows)
    }

    /// Cancels a queued or running job. A running scan's worker sees it at its next lease
    /// renewal and stops; whatever it had found is discarded. Cost: one conditional
    /// update (plus a read when it fails).
    pub async fn cancel_scan_job(&self, id: &str) -> Result<CancelOutcome, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let changed = execute!(
            &mut c,
            "UPDATE scan_jobs SET status = 'cancelled', finished_at = $2, claimed_until = NULL \
             WHERE id = $1 AND status IN ('queued', 'running')",
            id,
            now_ms()
        )?;
        if changed == 1 {
            return Ok(CancelOutcome::Cancelled);
        }
        let row: Option<(String,)> =
            fetch!(&mut c, fetch_optional, (String,), "SELECT status FROM scan_jobs WHERE id = $1", id)?;
        Ok(match row {
            Some((status,)) => CancelOutcome::AlreadyEnded(status),
            None => CancelOutcome::NotFound,
        })
    }

    /// Claims the oldest claimable job (see the module doc) for `lease`: marks it
    /// `running`, counts the attempt. `None` when there is none. Safe across replicas.
    /// Cost: one statement.
    pub async fn claim_scan_job(&self, lease: Duration) -> Result<Option<ScanJob>, StoreError> {
        let lock = match &self.db {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite { .. } => "",
        };
        let sql = format!(
            "UPDATE scan_jobs SET status = 'running', started_at = $1, claimed_until = $3, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM scan_jobs WHERE {CLAIMABLE} ORDER BY created_at, id LIMIT 1{lock}) \
             AND {CLAIMABLE} RETURNING {COLUMNS}"
        );
        let now = now_ms();
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        Ok(fetch!(
            &mut c,
            fetch_optional,
            ScanJob,
            sqlx::AssertSqlSafe(sql),
            now,
            MAX_SCAN_JOB_ATTEMPTS,
            now.saturating_add(millis(lease))
        )?)
    }

    /// Extends the lease of job `id` under claim `attempt` to `lease` from now. False
    /// when the job is no longer running under that claim (cancelled, or taken over
    /// after the lease ran out): the worker should stop. Cost: one conditional update.
    pub async fn renew_scan_job(&self, id: &str, attempt: i64, lease: Duration) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let changed = execute!(
            &mut c,
            "UPDATE scan_jobs SET claimed_until = $3 WHERE id = $1 AND attempts = $2 AND status = 'running'",
            id,
            attempt,
            now_ms().saturating_add(millis(lease))
        )?;
        Ok(changed == 1)
    }

    /// Fails the running jobs whose lease ran out on their last allowed claim. Returns
    /// how many. Cost: one update over the running jobs.
    pub async fn fail_abandoned_scan_jobs(&self) -> Result<u64, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let now = now_ms();
        let error = format!("abandoned: its worker stopped without finishing ({MAX_SCAN_JOB_ATTEMPTS} attempts)");
        Ok(execute!(
            &mut c,
            "UPDATE scan_jobs SET status = 'failed', finished_at = $1, error = $3, claimed_until = NULL \
             WHERE status = 'running' AND COALESCE(claimed_until, 0) < $1 AND attempts >= $2",
            now,
            MAX_SCAN_JOB_ATTEMPTS,
            &error
        )?)
    }

    /// Stores the results of job `id` under claim `attempt` (`done`). False when the job
    /// is no longer running under that claim (cancelled, or taken over): nothing is
    /// stored. Cost: one conditional update.
    pub async fn finish_scan_job(
        &self,
        id: &str,
        attempt: i64,
        findings_json: &str,
        stats_json: &str,
    ) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        end(&mut c, id, attempt, status::DONE, Some(findings_json), Some(stats_json), None).await
    }

    /// Marks job `id` under claim `attempt` `failed` with `error` (a message without
    /// secrets); false as for [`Store::finish_scan_job`].
    pub async fn fail_scan_job(&self, id: &str, attempt: i64, error: &str) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        end(&mut c, id, attempt, status::FAILED, None, None, Some(error)).await
    }

    /// Deletes jobs created more than `days` days ago. Returns how many.
    pub async fn purge_scan_jobs(&self, days: u32) -> Result<u64, StoreError> {
        let cutoff = now_ms() - i64::from(days) * 86_400_000;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        Ok(execute!(&mut c, "DELETE FROM scan_jobs WHERE created_at < $1", cutoff)?)
    }
}

async fn end(
    c: &mut Conn<'_>,
    id: &str,
    attempt: i64,
    status: &str,
    findings: Option<&str>,
    stats: Option<&str>,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = execute!(
        c,
        "UPDATE scan_jobs SET status = $2, finished_at = $3, findings = $4, stats = $5, error = $6, \
         claimed_until = NULL WHERE id = $1 AND status = 'running' AND attempts = $7",
        id,
        status,
        now_ms(),
        findings,
        stats,
        error,
        attempt
    )?;
    Ok(changed == 1)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
