//! Leak reports: the one transaction every door (partner webhook, org webhook, scans)
//! ends in, and the retention purge.

use serde_json::json;

use super::audit::{self, EventKind, NewEvent};
use super::keys::{self, KeyRecord, KeyStatus};
use super::outbox::{self, NewMail};
use super::{Conn, Store, StoreError, fetch, now_ms, teams};
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
    /// token); append `key.disabled` and `leak.reported`/`leak.repeat`; enqueue one email
    /// per team admin. Either all of it happens or none of it (an error means nothing
    /// was written; see [`StoreError::is_unavailable`] for retryable failures).
    ///
    /// Idempotent: the same token reported again, concurrently or later, from any
    /// process, disables nothing new and enqueues no new email (the conditional
    /// status update and the unique `dedupe_key` guarantee it, besides the write lock).
    ///
    /// Cost: about ten statements in one write transaction, serialised with every other
    /// store write (see the module doc of [`crate::store`]).
    pub async fn report_leak(&self, report: &LeakReport) -> Result<LeakOutcome, StoreError> {
        let mut outcomes = self.report_leaks(std::slice::from_ref(report)).await?;
        outcomes.pop().ok_or_else(|| StoreError::Corrupt("report_leaks returned no outcome".into()))
    }

    /// [`Store::report_leak`] for several reports in ONE transaction (one commit, one
    /// fsync), in order: a later report of the same token sees the earlier one. Returns
    /// one outcome per report; on error nothing of the batch was written. The daemon
    /// uses it to share one commit among concurrent requests (group commit).
    pub async fn report_leaks(&self, reports: &[LeakReport]) -> Result<Vec<LeakOutcome>, StoreError> {
        let at = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut c = tx.conn();
        let mut outcomes = Vec::with_capacity(reports.len());
        for report in reports {
            outcomes.push(record_leak(&mut c, at, report).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Deletes leak records whose last sighting is more than `days` days old and
    /// audits the purge (`leaks.purged`, also when nothing was old enough). Audit events
    /// are kept. Returns the number of records deleted.
    pub async fn purge_leaks(&self, days: u32, actor: &str) -> Result<u64, StoreError> {
        let at = now_ms();
        let cutoff = at - i64::from(days) * 86_400_000;
        let mut tx = self.db.begin_write().await?;
        let mut c = tx.conn();
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
        Ok(deleted)
    }
}

/// The body of [`Store::report_leak`], inside the caller's write transaction.
async fn record_leak(c: &mut Conn<'_>, at: i64, report: &LeakReport) -> Result<LeakOutcome, StoreError> {
    let key = keys::key_by_hash(&mut *c, &report.key_hash).await?;
    let (leak_id, sightings): (i64, i64) = fetch!(
        &mut *c,
        fetch_one,
        (i64, i64),
        "INSERT INTO leaks (key_id, token_hash, token_type, source, url, reporter, first_seen, last_seen, sightings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) \
             ON CONFLICT (token_hash) DO UPDATE SET last_seen = excluded.last_seen, \
             sightings = leaks.sightings + 1, key_id = COALESCE(leaks.key_id, excluded.key_id) \
             RETURNING id, sightings",
        key.as_ref().map(|k| k.id),
        &report.token_sha256,
        &report.token_type,
        &report.source,
        report.url.as_deref(),
        &report.reporter,
        at,
    )?;
    let first_sighting = sightings == 1;
    let mut events = Vec::new();
    let outcome = match key {
        None => LeakOutcome::UnknownToken { leak_id, sightings },
        Some(key) => {
            let reason = match &report.url {
                Some(url) => format!("leaked ({}): {url}", report.source),
                None => format!("leaked ({})", report.source),
            };
            let disabled_now =
                key.status == KeyStatus::Active && keys::disable_if_active(&mut *c, key.id, at, &reason).await?;
            let after = keys::key_by_id(&mut *c, key.id).await?;
            if disabled_now {
                events.push(NewEvent {
                    event: EventKind::KeyDisabled,
                    actor: report.reporter.clone(),
                    team_id: Some(after.team_id),
                    key_id: Some(after.id),
                    description: format!(
                        "key {} ({}) of team {} disabled: {reason}",
                        after.id, after.redacted, after.team
                    ),
                    details: json!({
                        "reason": reason,
                        "previous_status": "active",
                        "redacted": after.redacted,
                        "leak_id": leak_id,
                    }),
                });
            }
            let leaked = LeakedKey { key: after, leak_id, sightings };
            match leaked.key.status {
                _ if disabled_now => LeakOutcome::DisabledNow(leaked),
                KeyStatus::Deleted => LeakOutcome::Deleted(leaked),
                _ => LeakOutcome::AlreadyDisabled(leaked),
            }
        }
    };
    events.push(leak_event(report, &outcome, leak_id, sightings));
    let notify = match &outcome {
        LeakOutcome::DisabledNow(_) => true,
        LeakOutcome::AlreadyDisabled(_) => first_sighting,
        _ => false,
    };
    if notify && let LeakOutcome::DisabledNow(leaked) | LeakOutcome::AlreadyDisabled(leaked) = &outcome {
        let key = &leaked.key;
        let (subject, body) = leak_mail(report, key);
        // One row per admin; the disable time makes a key that was restored and
        // leaked again notify again, while concurrent reports still share one key.
        let generation = key.disabled_at.unwrap_or(at);
        for admin in teams::admin_emails(&mut *c, key.team_id).await? {
            let dedupe_key = format!("leak:{}:{generation}:{admin}", key.id);
            let mail = NewMail {
                kind: "leak",
                team_id: Some(key.team_id),
                key_id: Some(key.id),
                recipient: &admin,
                subject: &subject,
                body: &body,
                dedupe_key: &dedupe_key,
            };
            outbox::enqueue(&mut *c, at, &mail).await?;
        }
    }
    for e in &events {
        audit::append(&mut *c, at, e).await?;
    }
    Ok(outcome)
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

/// A short plain-text notice; the notification issue renders the real email.
fn leak_mail(report: &LeakReport, key: &KeyRecord) -> (String, String) {
    let subject = format!("[revokd] {} key {} of team {} leaked and is disabled", key.key_type, key.redacted, key.team);
    let body = format!(
        "The {} key {} (id {}) of team {} was found in public and has been disabled.\n\n\
         Where: {}\nReported by: {} via {}\nDisabled at: {}\n\n\
         Issue a replacement with `revokd keys issue --team {}` and update the places that \
         use the old key. Do not restore the leaked key.\n",
        key.key_type,
        key.redacted,
        key.id,
        key.team,
        report.url.as_deref().unwrap_or("(not given)"),
        report.reporter,
        report.source,
        key.disabled_at.map(super::format_ms).unwrap_or_default(),
        key.team,
    );
    (subject, body)
}
