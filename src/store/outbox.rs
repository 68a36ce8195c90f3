//! The outbox: emails written in the same transaction as the change they announce, sent
//! later by the notification worker. `dedupe_key` is unique, so enqueueing the same
//! notification twice (two replicas, a retried request) stores one row.

use super::{Conn, Store, StoreError, execute, fetch};

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

/// Inserts `mail` unless a row with its `dedupe_key` exists; returns whether it did.
pub(crate) async fn enqueue(c: &mut Conn<'_>, at: i64, mail: &NewMail<'_>) -> Result<bool, StoreError> {
    let inserted = execute!(
        c,
        "INSERT INTO outbox (kind, team_id, key_id, recipient, subject, body, dedupe_key, status, \
         attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) \
         ON CONFLICT (dedupe_key) DO NOTHING",
        mail.kind,
        mail.team_id,
        mail.key_id,
        mail.recipient,
        mail.subject,
        mail.body,
        mail.dedupe_key,
        at
    )?;
    Ok(inserted == 1)
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
