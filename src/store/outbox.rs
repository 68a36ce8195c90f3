//! The outbox: emails written in the same transaction as the change they announce, sent
//! later by the notification worker. `dedupe_key` is unique, so enqueueing the same
//! notification twice (two replicas, a retried request) stores one row.

use super::{Arg, Conn, Store, StoreError, execute_built, fetch, placeholders, rows_per_statement};

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
    pub dedupe_key: &'a str,
}

/// Inserts `mails` in one multi-row insert (chunked past the bind limit), skipping
/// each whose `dedupe_key` exists. Returns how many were inserted.
pub(crate) async fn enqueue_all(c: &mut Conn<'_>, at: i64, mails: &[NewMail<'_>]) -> Result<u64, StoreError> {
    const COLS: usize = 7;
    let mut inserted = 0;
    for chunk in mails.chunks(rows_per_statement(COLS, 1)) {
        let sql = format!(
            "INSERT INTO outbox (kind, team_id, key_id, recipient, subject, body, dedupe_key, status, \
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
                Arg::Text(Some(m.dedupe_key)),
            ]);
        }
        inserted += execute_built(&mut *c, sql, &args).await?;
    }
    Ok(inserted)
}

impl Store {
    /// Outbox rows, optionally only those with `status`, by id.
    pub async fn outbox(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxRow>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        Ok(fetch!(
            &mut pooled.conn(),
            fetch_all,
            OutboxRow,
            "SELECT id, kind, team_id, key_id, recipient, subject, body, dedupe_key, status, attempts, \
             next_attempt_at, last_error, created_at, sent_at FROM outbox \
             WHERE ($1 IS NULL OR status = $1) ORDER BY id",
            status.map(OutboxStatus::as_str),
        )?)
    }
}
