//! Leak reports: the one transaction every door (partner webhook, org webhook, scans)
//! ends in, and the retention purge.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::audit::{self, EventKind, NewEvent};
use super::keys::{self, KeyRecord, KeyStatus};
use super::notices::{self, NewNotice, NoticeKind};
use super::{Arg, Conn, Store, StoreError, now_ms};
use crate::secret::{Secret, sha256_hex};

/// A leaked token as reported by one door. Holds hashes only, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakReport {
    /// HMAC-SHA256(pepper, token) hex: how the key store finds the key.
    pub key_hash: String,
    /// SHA-256(token) hex: the leak record's id for the token (GitHub's `token_hash`).
    pub token_sha256: String,
    /// Rule id, e.g. `xai_api_key`.
    pub token_type: String,
    /// Which door: `github_partner`, `github_webhook`, `scan`, `api`, …
    pub source: String,
    /// Where the token was found, if known.
    pub url: Option<String>,
    /// Who reported it; also the audit actor (`github`, `cli:alice`, …).
    pub reporter: String,
}

impl LeakReport {
    /// Builds a report from the token in clear, hashing it with `pepper`.
    pub fn new(
        token: &Secret,
        pepper: &crate::pepper::Pepper,
        token_type: impl Into<String>,
        source: impl Into<String>,
        url: Option<String>,
        reporter: impl Into<String>,
    ) -> LeakReport {
        LeakReport {
            key_hash: pepper.key_hash(token.expose()),
            token_sha256: sha256_hex(token.expose().as_bytes()),
            token_type: token_type.into(),
            source: source.into(),
            url,
            reporter: reporter.into(),
        }
    }
}

/// A known key named in a leak report, after the report was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedKey {
    /// The key as it is after the transaction.
    pub key: KeyRecord,
    pub leak_id: i64,
    /// How many times this token has been reported, this report included.
    pub sightings: i64,
}

/// What [`Store::report_leak`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakOutcome {
    /// The key was active and this report disabled it; owners were queued an email.
    DisabledNow(LeakedKey),
    /// The key was already disabled (by an earlier report or by hand); nothing changed
    /// but the sighting. Owners are emailed only if this is the token's first report.
    AlreadyDisabled(LeakedKey),
    /// The key was deleted: the token is dead already. Recorded, no email.
    Deleted(LeakedKey),
    /// No key of ours has this hash. Recorded (key-less) for investigation.
    UnknownToken { leak_id: i64, sightings: i64 },
}

impl LeakOutcome {
    /// True for a real key of ours (GitHub's `true_positive` label).
    pub fn is_our_key(&self) -> bool {
        !matches!(self, LeakOutcome::UnknownToken { .. })
    }

    fn name(&self) -> &'static str {
        match self {
            LeakOutcome::DisabledNow(_) => "disabled_now",
            LeakOutcome::AlreadyDisabled(_) => "already_disabled",
            LeakOutcome::Deleted(_) => "deleted",
            LeakOutcome::UnknownToken { .. } => "unknown_token",
        }
    }
}

impl Store {
    /// Records a leaked token, in ONE transaction: look the key up by `key_hash`;
    /// disable it if active; insert the leak (or count a repeat sighting of the same
    /// token); append `key.disabled` and `leak.reported`/`leak.repeat`; write one owner
    /// notice per disabled key (the notification worker turns it into emails).
    /// Either all of it happens or none of it (an error means nothing
    /// was written; see [`StoreError::is_unavailable`] for retryable failures).
    ///
    /// Idempotent: the same token reported again, concurrently or later, from any
    /// process, disables nothing new and enqueues no new email (the conditional
    /// status update and the unique `dedupe_key` guarantee it, besides the write lock).
    ///
    /// Cost: one write transaction of at most six statements besides `BEGIN`, the lock
    /// and `COMMIT` (see [`Store::report_leaks`]), serialised with every other store write
    /// (see the module doc of [`crate::store`]).
    pub async fn report_leak(&self, report: &LeakReport) -> Result<LeakOutcome, StoreError> {
        let mut outcomes = self.report_leaks(std::slice::from_ref(report)).await?;
        outcomes.pop().ok_or_else(|| StoreError::Corrupt("report_leaks returned no outcome".into()))
    }

    /// [`Store::report_leak`] for several reports in ONE transaction (one commit, one
    /// fsync), in order: a later report of the same token sees the earlier one. Returns
    /// one outcome per report; on error nothing of the batch was written. The daemon
    /// uses it to share one commit among concurrent requests (group commit).
    ///
    /// Cost: a fixed number of statements per batch, whatever its size (the lock, one
    /// key lookup, one leak upsert, one status update, one notice
    /// insert, one chain-head read and one audit insert; chunked only past the bind
    /// limit), so a group of many reports costs little more than one.
    pub async fn report_leaks(&self, reports: &[LeakReport]) -> Result<Vec<LeakOutcome>, StoreError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let at = now_ms();
        let mut tx = self.begin_write().await?;
        let (outcomes, notices) = record_leaks(&mut tx.conn(), at, reports).await?;
        tx.commit().await?;
        if notices > 0 {
            self.notices_written.notify_one();
        }
        Ok(outcomes)
    }

    /// Deletes leak records whose last sighting is more than `days` days old and
    /// audits the purge (`leaks.purged`, also when nothing was old enough). Audit events
    /// are kept. Returns the number of records deleted.
    pub async fn purge_leaks(&self, days: u32, actor: &str) -> Result<u64, StoreError> {
        let deleted = self.purge_leaks_unless_purged_within(days, actor, 0).await?;
        deleted.ok_or_else(|| StoreError::Corrupt("purge skipped with no interval".into()))
    }

    /// [`Store::purge_leaks`], unless a purge (`leaks.purged`) was audited less than
    /// `interval_ms` ago: then nothing is written and `None` is returned. The check runs
    /// under the write lock, so replicas sharing a database purge once per interval
    /// between them. Used by the daemon's daily retention task.
    pub async fn purge_leaks_unless_purged_within(
        &self,
        days: u32,
        actor: &str,
        interval_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let at = now_ms();
        let cutoff = at - i64::from(days) * 86_400_000;
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        if interval_ms > 0 {
            let (last,): (Option<i64>,) = super::fetch!(
                &mut c,
                fetch_one,
                (Option<i64>,),
                "SELECT MAX(at) FROM audit_events WHERE event = $1",
                EventKind::LeaksPurged.as_str(),
            )?;
            if last.is_some_and(|last| at - last < interval_ms) {
                return Ok(None);
            }
        }
        let deleted = super::execute!(&mut c, "DELETE FROM leaks WHERE last_seen < $1", cutoff)?;
        let event = NewEvent {
            event: EventKind::LeaksPurged,
            actor: actor.to_string(),
            team_id: None,
            key_id: None,
            description: format!(
                "{deleted} leak record(s) last seen before {} purged (retention {days} days)",
                super::format_ms(cutoff)
            ),
            details: json!({ "deleted": deleted, "retention_days": days, "cutoff": super::format_ms(cutoff) }),
        };
        audit::append(&mut c, at, &event).await?;
        tx.commit().await?;
        Ok(Some(deleted))
    }
}

/// One distinct token of a batch: the leak row the batch upserts for it.
struct TokenRow<'a> {
    /// The batch's first report of the token (its columns go into a new row).
    first: &'a LeakReport,
    /// Reports of the token in the batch.
    count: i64,
    /// The first known key among those reports (`COALESCE` of the sequential upserts).
    key_id: Option<i64>,
}

/// The body of [`Store::report_leaks`], inside the caller's write transaction, with a
/// fixed number of statements per batch (chunked only past the bind limit): look up the
/// batch's keys, upsert its leak rows, disable its active keys, write the owner notices,
/// append the audit events. The outcomes, rows, notices and events are exactly those
/// of recording the reports one by one, in order (a later report of a token or key sees
/// the earlier ones).
/// Returns the outcomes and the number of new notices.
async fn record_leaks(
    c: &mut Conn<'_>,
    at: i64,
    reports: &[LeakReport],
) -> Result<(Vec<LeakOutcome>, u64), StoreError> {
    // 1. Keys, by hash.
    let mut hashes: Vec<&str> = reports.iter().map(|r| r.key_hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut by_hash = keys::keys_by_hashes(&mut *c, &hashes).await?;

    // 2. Leak rows: one upsert row per distinct token, in order of first report.
    let mut tokens: Vec<TokenRow> = Vec::new();
    let mut token_index: HashMap<&str, usize> = HashMap::new();
    for report in reports {
        let key_id = by_hash.get(&report.key_hash).map(|k| k.id);
        match token_index.get(report.token_sha256.as_str()) {
            Some(&i) => {
                let row = &mut tokens[i];
                row.count += 1;
                row.key_id = row.key_id.or(key_id);
            }
            None => {
                token_index.insert(&report.token_sha256, tokens.len());
                tokens.push(TokenRow { first: report, count: 1, key_id });
            }
        }
    }
    // token hash → (leak id, sightings before this batch)
    let mut leaks: HashMap<String, (i64, i64)> = HashMap::with_capacity(tokens.len());
    for (id, token_hash, sightings) in upsert_leaks(&mut *c, at, &tokens).await? {
        let count = token_index.get(token_hash.as_str()).map(|&i| tokens[i].count).unwrap_or(0);
        leaks.insert(token_hash, (id, sightings - count));
    }

    // 3. Disable every active key of the batch, with the reason of its first report.
    let mut to_disable: Vec<(i64, String)> = Vec::new();
    let mut seen_keys = HashSet::new();
    for report in reports {
        if let Some(key) = by_hash.get(&report.key_hash)
            && key.status == KeyStatus::Active
            && seen_keys.insert(key.id)
        {
            to_disable.push((key.id, disable_reason(report)));
        }
    }
    let pairs: Vec<(i64, &str)> = to_disable.iter().map(|(id, reason)| (*id, reason.as_str())).collect();
    let disabled: HashSet<i64> = keys::disable_all_if_active(&mut *c, at, &pairs).await?.into_iter().collect();
    if disabled.len() != to_disable.len() {
        // Changed by a writer outside the write lock: take the keys as they are now.
        let stale: Vec<&str> = reports
            .iter()
            .filter(|r| {
                by_hash.get(&r.key_hash).is_some_and(|k| k.status == KeyStatus::Active && !disabled.contains(&k.id))
            })
            .map(|r| r.key_hash.as_str())
            .collect();
        by_hash.extend(keys::keys_by_hashes(&mut *c, &stale).await?);
    }

    // 4. Replay the reports in order on the state read above.
    let mut sightings_of: HashMap<&str, i64> = HashMap::with_capacity(leaks.len());
    let mut events = Vec::with_capacity(reports.len() * 2);
    let mut notify: Vec<(&LeakReport, KeyRecord)> = Vec::new();
    let mut outcomes = Vec::with_capacity(reports.len());
    for report in reports {
        let (leak_id, before) = *leaks
            .get(&report.token_sha256)
            .ok_or_else(|| StoreError::Corrupt("leak upsert returned no row for a token".into()))?;
        let seen = sightings_of.entry(report.token_sha256.as_str()).or_insert(before);
        *seen += 1;
        let sightings = *seen;
        let first_sighting = sightings == 1;
        let outcome = match by_hash.get_mut(&report.key_hash) {
            None => LeakOutcome::UnknownToken { leak_id, sightings },
            Some(key) => {
                let disabled_now = key.status == KeyStatus::Active && disabled.contains(&key.id);
                if disabled_now {
                    let reason = disable_reason(report);
                    key.status = KeyStatus::Disabled;
                    key.disabled_at = Some(at);
                    key.disabled_reason = Some(reason.clone());
                    events.push(NewEvent {
                        event: EventKind::KeyDisabled,
                        actor: report.reporter.clone(),
                        team_id: Some(key.team_id),
                        key_id: Some(key.id),
                        description: format!(
                            "key {} ({}) of team {} disabled: {reason}",
                            key.id, key.redacted, key.team
                        ),
                        details: json!({
                            "reason": reason,
                            "previous_status": "active",
                            "redacted": key.redacted,
                            "leak_id": leak_id,
                        }),
                    });
                }
                let leaked = LeakedKey { key: key.clone(), leak_id, sightings };
                match leaked.key.status {
                    _ if disabled_now => LeakOutcome::DisabledNow(leaked),
                    KeyStatus::Deleted => LeakOutcome::Deleted(leaked),
                    _ => LeakOutcome::AlreadyDisabled(leaked),
                }
            }
        };
        events.push(leak_event(report, &outcome, leak_id, sightings));
        match &outcome {
            LeakOutcome::DisabledNow(leaked) => notify.push((report, leaked.key.clone())),
            LeakOutcome::AlreadyDisabled(leaked) if first_sighting => notify.push((report, leaked.key.clone())),
            _ => {}
        }
        outcomes.push(outcome);
    }

    // 5. One owner notice per notified key. The disable time makes a key that was
    //    restored and leaked again notify again, while concurrent reports of one leak
    //    share one notice (the notification worker batches and addresses them).
    let notices: Vec<NewNotice> = notify
        .iter()
        .map(|(report, key)| {
            let generation = key.disabled_at.unwrap_or(at);
            NewNotice {
                kind: NoticeKind::Leak,
                team_id: key.team_id,
                key_id: Some(key.id),
                details: json!({
                    "leak_id": leaks.get(&report.token_sha256).map(|(id, _)| *id),
                    "key_type": key.key_type,
                    "redacted": key.redacted,
                    "url": report.url,
                    "source": report.source,
                    "reporter": report.reporter,
                    "disabled_at": key.disabled_at,
                    "reported_at": at,
                }),
                dedupe_key: format!("leak:{}:{generation}", key.id),
            }
        })
        .collect();
    let new_notices = notices::enqueue_all(&mut *c, at, &notices).await?;

    // 6. The audit events, in report order, as one append.
    audit::append_all(&mut *c, at, &events).await?;
    Ok((outcomes, new_notices))
}

/// Inserts one leak row per distinct token of a batch, or adds the batch's sightings to
/// the existing row; returns `(leak id, token hash, sightings after)` per token. Cost:
/// one statement (per bind-limit chunk on SQLite; one cached statement with array binds
/// on PostgreSQL).
async fn upsert_leaks(
    c: &mut Conn<'_>,
    at: i64,
    tokens: &[TokenRow<'_>],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    /// Adds a batch's sightings to a token's existing row.
    macro_rules! on_conflict {
        () => {
            " ON CONFLICT (token_hash) DO UPDATE SET last_seen = excluded.last_seen, \
             sightings = leaks.sightings + excluded.sightings, key_id = COALESCE(leaks.key_id, excluded.key_id) \
             RETURNING id, token_hash, sightings"
        };
    }
    if let Conn::Postgres(pg) = c {
        let rows = sqlx::query_as(concat!(
            "INSERT INTO leaks (key_id, token_hash, token_type, source, url, reporter, sightings, first_seen, last_seen) \
             SELECT key_id, token_hash, token_type, source, url, reporter, sightings, $1, $1 \
             FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[]) \
             WITH ORDINALITY AS v (key_id, token_hash, token_type, source, url, reporter, sightings, n) \
             ORDER BY n",
            on_conflict!()
        ))
        .bind(at)
        .bind(tokens.iter().map(|t| t.key_id).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.first.token_sha256.as_str()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.first.token_type.as_str()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.first.source.as_str()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.first.url.as_deref()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.first.reporter.as_str()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.count).collect::<Vec<_>>())
        .fetch_all(&mut **pg)
        .await?;
        return Ok(rows);
    }
    const LEAK_COLS: usize = 7;
    let mut upserted = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(super::rows_per_statement(LEAK_COLS, 1)) {
        let sql = format!(
            "INSERT INTO leaks (key_id, token_hash, token_type, source, url, reporter, sightings, first_seen, last_seen) \
             VALUES {}{}",
            super::placeholders(2, chunk.len(), LEAK_COLS, ", $1, $1"),
            on_conflict!()
        );
        let mut args = Vec::with_capacity(1 + chunk.len() * LEAK_COLS);
        args.push(Arg::Int(Some(at)));
        for t in chunk {
            args.extend([
                Arg::Int(t.key_id),
                Arg::Text(Some(&t.first.token_sha256)),
                Arg::Text(Some(&t.first.token_type)),
                Arg::Text(Some(&t.first.source)),
                Arg::Text(t.first.url.as_deref()),
                Arg::Text(Some(&t.first.reporter)),
                Arg::Int(Some(t.count)),
            ]);
        }
        upserted.extend(super::fetch_built::<(i64, String, i64)>(&mut *c, sql, &args).await?);
    }
    Ok(upserted)
}

/// Why a leak disables a key (`disabled_reason`).
fn disable_reason(report: &LeakReport) -> String {
    match &report.url {
        Some(url) => format!("leaked ({}): {url}", report.source),
        None => format!("leaked ({})", report.source),
    }
}

fn leak_event(report: &LeakReport, outcome: &LeakOutcome, leak_id: i64, sightings: i64) -> NewEvent {
    let key = match outcome {
        LeakOutcome::DisabledNow(k) | LeakOutcome::AlreadyDisabled(k) | LeakOutcome::Deleted(k) => Some(&k.key),
        LeakOutcome::UnknownToken { .. } => None,
    };
    let event = if sightings == 1 { EventKind::LeakReported } else { EventKind::LeakRepeat };
    let whose = match key {
        Some(k) => format!("key {} ({}) of team {}", k.id, k.redacted, k.team),
        None => format!("unknown {} token", report.token_type),
    };
    let place = report.url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default();
    let description = match outcome {
        LeakOutcome::DisabledNow(_) => format!("{whose} leaked{place}, reported by {}; key disabled", report.reporter),
        LeakOutcome::AlreadyDisabled(_) => {
            format!("{whose} leaked{place}, reported by {}; key was already disabled", report.reporter)
        }
        LeakOutcome::Deleted(_) => format!("{whose} leaked{place}, reported by {}; key was deleted", report.reporter),
        LeakOutcome::UnknownToken { .. } => {
            format!("{whose} leaked{place}, reported by {}; not a key of ours", report.reporter)
        }
    };
    NewEvent {
        event,
        actor: report.reporter.clone(),
        team_id: key.map(|k| k.team_id),
        key_id: key.map(|k| k.id),
        description: if sightings == 1 { description } else { format!("{description} (sighting {sightings})") },
        details: json!({
            "leak_id": leak_id,
            "token_sha256": report.token_sha256,
            "token_type": report.token_type,
            "source": report.source,
            "url": report.url,
            "sightings": sightings,
            "outcome": outcome.name(),
        }),
    }
}
