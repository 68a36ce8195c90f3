//! Scan jobs of the API (`POST /v1/scans`): a queue in the database that any replica's
//! worker claims from, and the redacted results.
//!
//! Claiming is one `UPDATE … RETURNING`: on PostgreSQL its subquery takes the oldest
//! queued row `FOR UPDATE SKIP LOCKED`, so concurrent replicas never claim the same job
//! and never wait on each other; on SQLite the statement runs under the database's
//! single write lock. Finishing is conditional on the job still `running`, so a job
//! cancelled meanwhile keeps its `cancelled` status.

use super::{Conn, Db, Store, StoreError, execute, fetch, now_ms};

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
                       finished_at, findings, stats, error";

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

    /// Cancels a queued or running job. A running scan finishes in its worker, but its
    /// results are discarded. Cost: one conditional update (plus a read when it fails).
    pub async fn cancel_scan_job(&self, id: &str) -> Result<CancelOutcome, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let changed = execute!(
            &mut c,
            "UPDATE scan_jobs SET status = 'cancelled', finished_at = $2 \
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

    /// Claims the oldest queued job (marks it `running`), or `None` when the queue is
    /// empty. Safe across replicas (see the module doc). Cost: one statement.
    pub async fn claim_scan_job(&self) -> Result<Option<ScanJob>, StoreError> {
        let lock = match &self.db {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE scan_jobs SET status = 'running', started_at = $1 WHERE id = \
             (SELECT id FROM scan_jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1{lock}) \
             AND status = 'queued' RETURNING {COLUMNS}"
        );
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        Ok(fetch!(&mut c, fetch_optional, ScanJob, sqlx::AssertSqlSafe(sql), now_ms())?)
    }

    /// Stores the results of a running job (`done`). False when the job is no longer
    /// running (cancelled): nothing is stored. Cost: one conditional update.
    pub async fn finish_scan_job(&self, id: &str, findings_json: &str, stats_json: &str) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        end(&mut c, id, status::DONE, Some(findings_json), Some(stats_json), None).await
    }

    /// Marks a running job `failed` with `error` (a message without secrets).
    pub async fn fail_scan_job(&self, id: &str, error: &str) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        end(&mut c, id, status::FAILED, None, None, Some(error)).await
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
    status: &str,
    findings: Option<&str>,
    stats: Option<&str>,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = execute!(
        c,
        "UPDATE scan_jobs SET status = $2, finished_at = $3, findings = $4, stats = $5, error = $6 \
         WHERE id = $1 AND status = 'running'",
        id,
        status,
        now_ms(),
        findings,
        stats,
        error
    )?;
    Ok(changed == 1)
}
