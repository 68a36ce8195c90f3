//! The outbox: one row per email and recipient, composed from owner notices (see
//! [`super::notices`]) and sent by the notification worker. `dedupe_key` is unique, so
//! composing the same notice twice stores one row.
//!
//! Delivery is claim → send → record: [`Store::claim_due_mails`] leases due rows (on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas claiming together each get
//! different rows), the worker sends them outside any transaction, and
//! [`Store::record_deliveries`] marks them sent, failed or dead and audits each. A
//! worker that dies mid-send leaves its rows leased until the lease ends; they are then
//! sent again with the same `Message-ID`, which lets mail systems drop the duplicate.

use serde_json::json;

use super::audit::{self, EventKind, NewEvent};
use super::{
    Arg, Conn, Store, StoreError, execute, execute_built, fetch, fetch_built, now_ms, placeholders, rows_per_statement,
};

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// Gave up after the configured number of attempts.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dead => "dead",
        }
    }
}

impl TryFrom<String> for OutboxStatus {
    type Error = String;

    fn try_from(s: String) -> Result<OutboxStatus, String> {
        match s.as_str() {
            "pending" => Ok(OutboxStatus::Pending),
            "sent" => Ok(OutboxStatus::Sent),
            "dead" => Ok(OutboxStatus::Dead),
            other => Err(format!("unknown outbox status {other:?}")),
        }
    }
}

/// One queued email.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    /// What the email is about, e.g. `leak`.
    pub kind: String,
    pub team_id: Option<i64>,
    pub key_id: Option<i64>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub dedupe_key: String,
    #[sqlx(try_from = "String")]
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// The HTML alternative of `body` (absent on rows queued before HTML emails).
    pub body_html: Option<String>,
    /// JSON array of the ids of the keys the email is about.
    pub key_ids: Option<String>,
}

/// An email to enqueue.
#[derive(Debug, Clone)]
pub(crate) struct NewMail<'a> {
    pub kind: &'a str,
    pub team_id: Option<i64>,
    pub key_id: Option<i64>,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub body_html: Option<&'a str>,
    pub key_ids: Option<&'a str>,
    pub dedupe_key: &'a str,
}

/// Inserts `mails` in one multi-row insert (chunked past the bind limit), skipping
/// each whose `dedupe_key` exists. Returns how many were inserted.
pub(crate) async fn enqueue_all(c: &mut Conn<'_>, at: i64, mails: &[NewMail<'_>]) -> Result<u64, StoreError> {
    const COLS: usize = 9;
    let mut inserted = 0;
    for chunk in mails.chunks(rows_per_statement(COLS, 1)) {
        let sql = format!(
            "INSERT INTO outbox (kind, team_id, key_id, recipient, subject, body, body_html, key_ids, dedupe_key, status, \
             attempts, next_attempt_at, created_at) VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
            placeholders(2, chunk.len(), COLS, ", 'pending', 0, $1, $1")
        );
        let mut args = Vec::with_capacity(1 + chunk.len() * COLS);
        args.push(Arg::Int(Some(at)));
        for m in chunk {
            args.extend([
                Arg::Text(Some(m.kind)),
                Arg::Int(m.team_id),
                Arg::Int(m.key_id),
                Arg::Text(Some(m.recipient)),
                Arg::Text(Some(m.subject)),
                Arg::Text(Some(m.body)),
                Arg::Text(m.body_html),
                Arg::Text(m.key_ids),
                Arg::Text(Some(m.dedupe_key)),
            ]);
        }
        inserted += execute_built(&mut *c, sql, &args).await?;
    }
    Ok(inserted)
}

/// The columns of [`OutboxRow`].
const OUTBOX_COLUMNS: &str = "id, kind, team_id, key_id, recipient, subject, body, dedupe_key, status, attempts, \
     next_attempt_at, last_error, created_at, sent_at, body_html, key_ids";

/// What happened to one claimed email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server accepted it (or it was written to the mail directory).
    Sent { message_id: String },
    /// Not delivered; tried again at `retry_at` (UTC ms).
    Failed { error: String, retry_at: i64 },
    /// Given up: the attempts ran out or the server refused the recipient for good.
    Dead { error: String },
}

impl Store {
    /// Leases up to `limit` due pending emails (oldest due first) until `lease_until`
    /// and counts an attempt on each; returns them by id. Rows another worker holds are
    /// skipped, not waited for (PostgreSQL `FOR UPDATE SKIP LOCKED`; on SQLite the one
    /// statement runs under the database's single writer lock). Cost: one statement.
    pub async fn claim_due_mails(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let _turn = self.writer_turn().await;
        let mut pooled = self.db.acquire_writer().await?;
        let mut c = pooled.conn();
        let lock = match c {
            Conn::Sqlite(_) => "",
            Conn::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE id IN \
             (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3{lock}) RETURNING {OUTBOX_COLUMNS}"
        );
        let mut rows: Vec<OutboxRow> =
            fetch_built(&mut c, sql, &[Arg::Int(Some(lease_until)), Arg::Int(Some(now)), Arg::Int(Some(limit))])
                .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Gives claimed rows back unsent (a worker stopping): due now, attempt uncounted.
    pub async fn release_mails(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pooled = self.db.acquire_writer().await?;
        let sql = format!(
            "UPDATE outbox SET next_attempt_at = $1, attempts = attempts - 1 \
             WHERE status = 'pending' AND attempts > 0 AND id IN {}",
            placeholders(2, 1, ids.len(), "")
        );
        let mut args = vec![Arg::Int(Some(now_ms()))];
        args.extend(ids.iter().map(|id| Arg::Int(Some(*id))));
        execute_built(&mut pooled.conn(), sql, &args).await?;
        Ok(())
    }

    /// Records what happened to claimed rows, in one write transaction, auditing
    /// `notify.sent`, `notify.failed` or `notify.dead` for each (`actor`). A row that is
    /// no longer pending (another worker recorded it after a lease ran out) is left as
    /// it is and not audited again. Returns how many rows changed.
    pub async fn record_deliveries(&self, done: &[(OutboxRow, Delivery)], actor: &str) -> Result<u64, StoreError> {
        if done.is_empty() {
            return Ok(0);
        }
        let at = now_ms();
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let mut events = Vec::with_capacity(done.len());
        let mut changed = 0;
        for (row, delivery) in done {
            let updated = match delivery {
                Delivery::Sent { .. } => execute!(
                    &mut c,
                    "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2 AND status = 'pending'",
                    at,
                    row.id
                )?,
                Delivery::Failed { error, retry_at } => execute!(
                    &mut c,
                    "UPDATE outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3 AND status = 'pending'",
                    *retry_at,
                    error,
                    row.id
                )?,
                Delivery::Dead { error } => execute!(
                    &mut c,
                    "UPDATE outbox SET status = 'dead', last_error = $1 WHERE id = $2 AND status = 'pending'",
                    error,
                    row.id
                )?,
            };
            if updated == 1 {
                changed += 1;
                events.push(delivery_event(row, delivery, actor));
            }
        }
        audit::append_all(&mut c, at, &events).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// How many emails wait (`pending`, claimed ones included) and how many were given up
    /// (`dead`): for `/readyz` and the outbox gauges. Cost: one count over the
    /// `(status, next_attempt_at)` index.
    pub async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let rows: Vec<(String, i64)> = fetch!(
            &mut pooled.conn(),
            fetch_all,
            (String, i64),
            "SELECT status, COUNT(*) FROM outbox WHERE status IN ('pending', 'dead') GROUP BY status",
        )?;
        let count = |wanted: &str| rows.iter().find(|(status, _)| status == wanted).map_or(0, |(_, n)| *n);
        Ok(OutboxBacklog { pending: count("pending"), dead: count("dead") })
    }

    /// Outbox rows, optionally only those with `status`, by id.
    pub async fn outbox(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxRow>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id");
        Ok(fetch_built(&mut pooled.conn(), sql, &[Arg::Text(status.map(OutboxStatus::as_str))]).await?)
    }
}

/// Emails waiting and given up (see [`Store::outbox_backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: i64,
    pub dead: i64,
}

/// The audit event of one recorded delivery.
fn delivery_event(row: &OutboxRow, delivery: &Delivery, actor: &str) -> NewEvent {
    let key_ids: serde_json::Value =
        row.key_ids.as_deref().and_then(|k| serde_json::from_str(k).ok()).unwrap_or_else(|| json!([]));
    let mut details = json!({
        "outbox_id": row.id,
        "kind": row.kind,
        "recipient": row.recipient,
        "attempts": row.attempts,
        "key_ids": key_ids,
    });
    let (event, description) = match delivery {
        Delivery::Sent { message_id } => {
            details["message_id"] = json!(message_id);
            (EventKind::NotifySent, format!("email {} ({}) sent to {}", row.id, row.kind, row.recipient))
        }
        Delivery::Failed { error, retry_at } => {
            details["error"] = json!(error);
            details["retry_at"] = json!(super::format_ms(*retry_at));
            (
                EventKind::NotifyFailed,
                format!(
                    "email {} to {} failed (attempt {}), retry at {}: {error}",
                    row.id,
                    row.recipient,
                    row.attempts,
                    super::format_ms(*retry_at)
                ),
            )
        }
        Delivery::Dead { error } => {
            details["error"] = json!(error);
            (
                EventKind::NotifyDead,
                format!("email {} to {} given up after {} attempt(s): {error}", row.id, row.recipient, row.attempts),
            )
        }
    };
    NewEvent { event, actor: actor.to_string(), team_id: row.team_id, key_id: row.key_id, description, details }
}
