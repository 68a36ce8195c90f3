//! Owner notices: what a team must be told (a key leaked, a key was restored or
//! deleted), written in the transaction of the change itself. The notification worker
//! later batches a team's notices into emails ([`NoticeComposer`]) and the outbox sends
//! them.
//!
//! Exactly once: `dedupe_key` is unique (one notice per leak however often and wherever
//! it is reported), and a notice is turned into emails under the store's write lock, in
//! the same transaction that marks it `batched_at`, so two workers never compose it twice.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::audit::{self, NewEvent};
use super::outbox::{self, NewMail};
use super::{Arg, Conn, Store, StoreError, Tx, execute_built, fetch, fetch_built, now_ms, placeholders};

/// Most notices one compose pass takes: bounds the write transaction; the rest wait for
/// the next pass (a second later at most).
const COMPOSE_LIMIT: i64 = 2000;

/// What a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// A key was found in public and disabled (or had been disabled already).
    Leak,
    /// An admin re-enabled a key.
    KeyRestored,
    /// An admin deleted a key for good.
    KeyDeleted,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Leak => "leak",
            NoticeKind::KeyRestored => "key_restored",
            NoticeKind::KeyDeleted => "key_deleted",
        }
    }
}

impl TryFrom<String> for NoticeKind {
    type Error = String;

    fn try_from(s: String) -> Result<NoticeKind, String> {
        match s.as_str() {
            "leak" => Ok(NoticeKind::Leak),
            "key_restored" => Ok(NoticeKind::KeyRestored),
            "key_deleted" => Ok(NoticeKind::KeyDeleted),
            other => Err(format!("unknown notice kind {other:?}")),
        }
    }
}

/// One stored notice.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notice {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub kind: NoticeKind,
    pub team_id: i64,
    /// The team's name (joined).
    pub team: String,
    pub key_id: Option<i64>,
    /// JSON object: what the email says (redacted key, type, URL, source, times, reason).
    /// Never a token.
    pub details: String,
    pub dedupe_key: String,
    pub created_at: i64,
    /// When the notice was turned into emails; `None` while waiting.
    pub batched_at: Option<i64>,
}

impl Notice {
    /// [`Notice::details`] parsed (an empty object if the stored text is not JSON).
    pub fn details_json(&self) -> Value {
        serde_json::from_str(&self.details).unwrap_or_else(|_| Value::Object(Default::default()))
    }
}

/// A notice to write inside a change's transaction.
#[derive(Debug, Clone)]
pub(crate) struct NewNotice {
    pub kind: NoticeKind,
    pub team_id: i64,
    pub key_id: Option<i64>,
    pub details: Value,
    pub dedupe_key: String,
}

/// Inserts `notices`, skipping each whose `dedupe_key` exists; returns how many were new.
/// Cost: one statement (per bind-limit chunk on SQLite; one cached statement with array
/// binds on PostgreSQL).
pub(crate) async fn enqueue_all(c: &mut Conn<'_>, at: i64, notices: &[NewNotice]) -> Result<u64, StoreError> {
    const COLS: usize = 5;
    if notices.is_empty() {
        return Ok(0);
    }
    let details: Vec<String> = notices.iter().map(|n| n.details.to_string()).collect();
    if let Conn::Postgres(pg) = c {
        let result = sqlx::query(
            "INSERT INTO notices (kind, team_id, key_id, details, dedupe_key, created_at) \
             SELECT kind, team_id, key_id, details, dedupe_key, $1 \
             FROM UNNEST($2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[]) WITH ORDINALITY \
             AS v (kind, team_id, key_id, details, dedupe_key, n) ORDER BY n \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(at)
        .bind(notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>())
        .bind(notices.iter().map(|n| n.team_id).collect::<Vec<_>>())
        .bind(notices.iter().map(|n| n.key_id).collect::<Vec<_>>())
        .bind(&details)
        .bind(notices.iter().map(|n| n.dedupe_key.as_str()).collect::<Vec<_>>())
        .execute(&mut **pg)
        .await?;
        return Ok(result.rows_affected());
    }
    let mut inserted = 0;
    for (chunk, texts) in
        notices.chunks(super::rows_per_statement(COLS, 1)).zip(details.chunks(super::rows_per_statement(COLS, 1)))
    {
        let sql = format!(
            "INSERT INTO notices (kind, team_id, key_id, details, dedupe_key, created_at) VALUES {} \
             ON CONFLICT (dedupe_key) DO NOTHING",
            placeholders(2, chunk.len(), COLS, ", $1")
        );
        let mut args = Vec::with_capacity(1 + chunk.len() * COLS);
        args.push(Arg::Int(Some(at)));
        for (n, text) in chunk.iter().zip(texts) {
            args.extend([
                Arg::Text(Some(n.kind.as_str())),
                Arg::Int(Some(n.team_id)),
                Arg::Int(n.key_id),
                Arg::Text(Some(text)),
                Arg::Text(Some(&n.dedupe_key)),
            ]);
        }
        inserted += execute_built(&mut *c, sql, &args).await?;
    }
    Ok(inserted)
}

const NOTICE_COLUMNS: &str = "n.id, n.kind, n.team_id, t.name AS team, n.key_id, n.details, n.dedupe_key, \
     n.created_at, n.batched_at FROM notices n JOIN teams t ON t.id = n.team_id";

/// The notices of one team that go out as one email (to each recipient).
#[derive(Debug, Clone)]
pub struct NoticeBatch {
    pub team_id: i64,
    pub team: String,
    pub kind: NoticeKind,
    /// In id order; never empty.
    pub notices: Vec<Notice>,
    /// The team's admins, sorted.
    pub admins: Vec<String>,
    /// The team's other members, sorted.
    pub members: Vec<String>,
}

impl NoticeBatch {
    /// Distinct key ids of the batch, in notice order.
    pub fn key_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::new();
        for id in self.notices.iter().filter_map(|n| n.key_id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// One rendered email of a batch.
#[derive(Debug, Clone)]
pub struct ComposedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A write transaction that turns due notices into outbox rows (see the module doc).
/// Dropped without [`NoticeComposer::commit`], nothing is changed.
pub struct NoticeComposer {
    tx: Tx,
    at: i64,
}

impl Store {
    /// Notices, by id; `batched` filters on whether they were turned into emails.
    pub async fn notices(&self, batched: Option<bool>) -> Result<Vec<Notice>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let sql = match batched {
            None => format!("SELECT {NOTICE_COLUMNS} ORDER BY n.id"),
            Some(true) => format!("SELECT {NOTICE_COLUMNS} WHERE n.batched_at IS NOT NULL ORDER BY n.id"),
            Some(false) => format!("SELECT {NOTICE_COLUMNS} WHERE n.batched_at IS NULL ORDER BY n.id"),
        };
        Ok(fetch_built(&mut pooled.conn(), sql, &[]).await?)
    }

    /// When the notification worker next has something to do: the earliest of each
    /// team's due time (see [`NoticeComposer::due_batches`]: its oldest waiting leak plus
    /// the window, or at once for a restore/delete of a team with no waiting leak) and
    /// the earliest retry of a pending email. `None` when nothing waits. Cost: index
    /// reads only (it runs after every commit, whatever the backlog).
    pub async fn next_notify_due(&self, batch_window_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let (notice,): (Option<i64>,) = fetch!(
            &mut c,
            fetch_one,
            (Option<i64>,),
            "SELECT MIN(due) FROM (\
             SELECT MIN(created_at) + $1 AS due FROM notices WHERE batched_at IS NULL AND kind = 'leak' \
             UNION ALL \
             SELECT MIN(n.created_at) FROM notices n \
             WHERE n.batched_at IS NULL AND n.kind IN ('key_restored', 'key_deleted') AND NOT EXISTS \
             (SELECT 1 FROM notices l WHERE l.batched_at IS NULL AND l.team_id = n.team_id AND l.kind = 'leak')) due",
            batch_window_ms
        )?;
        let (mail,): (Option<i64>,) = fetch!(
            &mut c,
            fetch_one,
            (Option<i64>,),
            "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'"
        )?;
        Ok(match (notice, mail) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Opens the write transaction that composes due notices into emails. Costs the
    /// store's write lock until commit: render quickly, send nothing inside it.
    pub async fn notice_composer(&self) -> Result<NoticeComposer, StoreError> {
        Ok(NoticeComposer { tx: self.begin_write().await?, at: now_ms() })
    }
}

impl NoticeComposer {
    /// The time this transaction stamps on what it writes (UTC ms).
    pub fn at(&self) -> i64 {
        self.at
    }

    /// The waiting notices of every team that is due, grouped: all leaks of a team in
    /// one batch, each restore/delete notice alone. A team is due when its oldest
    /// waiting leak was created at or before `cutoff` (so its leaks within one batch
    /// window go out together), or at once when no leak of it waits; a restore or delete
    /// waits only behind a pending leak of its team, so emails never arrive out of
    /// order. At most [`COMPOSE_LIMIT`] notices per call.
    pub async fn due_batches(&mut self, cutoff: i64) -> Result<Vec<NoticeBatch>, StoreError> {
        let mut c = self.tx.conn();
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} WHERE n.batched_at IS NULL AND n.team_id IN \
             (SELECT team_id FROM notices WHERE batched_at IS NULL GROUP BY team_id \
             HAVING COALESCE(MIN(CASE WHEN kind = 'leak' THEN created_at END), $1) <= $1) \
             ORDER BY n.team_id, n.id LIMIT $2"
        );
        let notices: Vec<Notice> =
            fetch_built(&mut c, sql, &[Arg::Int(Some(cutoff)), Arg::Int(Some(COMPOSE_LIMIT))]).await?;
        if notices.is_empty() {
            return Ok(Vec::new());
        }
        let mut team_ids: Vec<i64> = notices.iter().map(|n| n.team_id).collect();
        team_ids.dedup();
        let people = members_of(&mut c, &team_ids).await?;
        let mut batches: BTreeMap<(i64, NoticeKind, i64), NoticeBatch> = BTreeMap::new();
        for notice in notices {
            // Leaks of a team share one batch; a restore or delete is its own email.
            let slot = if notice.kind == NoticeKind::Leak { 0 } else { notice.id };
            let key = (notice.team_id, notice.kind, slot);
            let batch = batches.entry(key).or_insert_with(|| {
                let (admins, members) = people.get(&notice.team_id).cloned().unwrap_or_default();
                NoticeBatch {
                    team_id: notice.team_id,
                    team: notice.team.clone(),
                    kind: notice.kind,
                    notices: Vec::new(),
                    admins,
                    members,
                }
            });
            batch.notices.push(notice);
        }
        let mut batches: Vec<NoticeBatch> = batches.into_values().collect();
        batches.sort_by_key(|b| b.notices[0].id);
        Ok(batches)
    }

    /// Queues `mail` to each of `recipients` for `batch` (one outbox row per recipient,
    /// deduplicated by the batch's first notice and the recipient) and marks the batch's
    /// notices composed. With no recipients the notices are only marked.
    pub async fn enqueue(
        &mut self,
        batch: &NoticeBatch,
        recipients: &[String],
        mail: &ComposedMail,
    ) -> Result<(), StoreError> {
        let at = self.at;
        let mut c = self.tx.conn();
        let first = batch.notices[0].id;
        let key_ids = batch.key_ids();
        let single_key = if key_ids.len() == 1 { Some(key_ids[0]) } else { None };
        let key_ids = serde_json::to_string(&key_ids).unwrap_or_else(|_| "[]".into());
        let dedupe: Vec<String> = recipients.iter().map(|r| format!("notice:{first}:{r}")).collect();
        let mails: Vec<NewMail> = recipients
            .iter()
            .zip(&dedupe)
            .map(|(recipient, dedupe_key)| NewMail {
                kind: batch.kind.as_str(),
                team_id: Some(batch.team_id),
                key_id: single_key,
                recipient,
                subject: &mail.subject,
                body: &mail.text,
                body_html: Some(&mail.html),
                key_ids: Some(&key_ids),
                dedupe_key,
            })
            .collect();
        outbox::enqueue_all(&mut c, at, &mails).await?;
        let ids: Vec<Arg> = batch.notices.iter().map(|n| Arg::Int(Some(n.id))).collect();
        for chunk in ids.chunks(super::MAX_BINDS - 1) {
            let sql = format!(
                "UPDATE notices SET batched_at = $1 WHERE batched_at IS NULL AND id IN {}",
                placeholders(2, 1, chunk.len(), "")
            );
            let mut args = Vec::with_capacity(chunk.len() + 1);
            args.push(Arg::Int(Some(at)));
            args.extend_from_slice(chunk);
            execute_built(&mut c, sql, &args).await?;
        }
        Ok(())
    }

    /// Appends `event` to the audit log in this transaction.
    pub async fn audit(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        audit::append(&mut self.tx.conn(), self.at, event).await.map(|_| ())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await
    }
}

/// (admins, members) of each team, sorted by address.
async fn members_of(
    c: &mut Conn<'_>,
    team_ids: &[i64],
) -> Result<HashMap<i64, (Vec<String>, Vec<String>)>, StoreError> {
    let mut people: HashMap<i64, (Vec<String>, Vec<String>)> = HashMap::new();
    for chunk in team_ids.chunks(super::MAX_BINDS) {
        let sql = format!(
            "SELECT team_id, email, role FROM team_members WHERE team_id IN {} ORDER BY team_id, email",
            placeholders(1, 1, chunk.len(), "")
        );
        let args: Vec<_> = chunk.iter().map(|id| Arg::Int(Some(*id))).collect();
        let rows: Vec<(i64, String, String)> = fetch_built(&mut *c, sql, &args).await?;
        for (team_id, email, role) in rows {
            let entry = people.entry(team_id).or_default();
            if role == "admin" { entry.0.push(email) } else { entry.1.push(email) }
        }
    }
    Ok(people)
}
