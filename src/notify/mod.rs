//! Owner emails: the notification worker. The only part of revokd that sends mail.
//!
//! A pass ([`Notifier::run_once`]) does two things:
//! 1. **Compose.** Owner notices written by the revocation transaction (and by
//!    `keys restore` / `keys delete`) wait until the oldest notice of their team is
//!    `notify.batch_window` old, so a burst of leaks of one team becomes ONE email listing
//!    every key. Under the store's write lock the due notices are rendered
//!    ([`compose::Templates`]), addressed ([`compose::Recipients`]: admins, else members,
//!    else `notify.fallback`) and queued as outbox rows, one per recipient, in the same
//!    transaction that marks them composed: two workers never compose a notice twice.
//! 2. **Deliver.** Due outbox rows are leased ([`Store::claim_due_mails`]: PostgreSQL
//!    `FOR UPDATE SKIP LOCKED`, one claim statement on SQLite), sent a few at a time with a
//!    stable `Message-ID`, and recorded: `notify.sent`; or `notify.failed` and a retry
//!    after an exponential, jittered delay; or `notify.dead` once `notify.max_attempts`
//!    attempts failed (or the server refused the recipient for good). A recipient the
//!    server refuses fails alone: every recipient has a row of its own.
//!
//! [`Notifier::spawn`] runs passes in the background of `revokd serve`: when the next
//! batch or retry is due, and at least every `notify.poll_interval` (for work written by
//! other replicas). A commit of notices by this process wakes it to recompute when the
//! next batch is due, not to run a pass: under load that is every group commit, and a
//! pass's claim would take the write lock each time.

pub mod compose;
pub mod transport;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::secret::Secret;
use crate::store::{Delivery, EventKind, NewEvent, NoticeBatch, OutboxRow, Store, StoreError, now_ms};
use compose::{Recipients, TemplateError, Templates};
use transport::{Transport, TransportConfig, TransportError};

pub use transport::{build_message, message_id};

/// Counter of emails accepted by the server (or written to the mail directory).
pub const SENT_METRIC: &str = "revokd_notify_sent_total";
/// Counter of failed attempts that will be retried.
pub const FAILED_METRIC: &str = "revokd_notify_failed_total";
/// Counter of emails given up (`dead`).
pub const DEAD_METRIC: &str = "revokd_notify_dead_total";

/// The audit actor of the worker.
const ACTOR: &str = "notify";

/// Emails leased per claim. Small, so a stopping worker gives little back and a slow
/// server holds few rows; large enough that claiming costs little per email.
const CLAIM_BATCH: i64 = 32;

/// Emails of a claim sent at once (over as many pooled SMTP connections). lettre
/// writes the DATA terminator as a separate small segment, which Nagle's algorithm
/// holds until the server's delayed ACK (about 40 ms on Linux): one connection then
/// carries about 20 emails/s whatever the server's speed, so several are used.
const SEND_CONCURRENCY: usize = 8;

/// How long a claim holds its rows. A worker that dies mid-send leaves its rows to
/// others after this long; a live one stops sending a claim at half of it.
const LEASE: Duration = Duration::from_secs(600);

/// Largest retry delay: bounds the exponential growth when `max_attempts` is large.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 3600);

/// The worker's settings (`[smtp]` and `[notify]`).
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    pub transport: TransportConfig,
    /// `smtp.from`.
    pub from: String,
    /// `notify.max_attempts` (default 12).
    pub max_attempts: u32,
    /// `notify.batch_window` (default 30 s; zero sends at once).
    pub batch_window: Duration,
    /// `notify.retry_base` (default 45 s).
    pub retry_base: Duration,
    /// `notify.poll_interval` (default 5 s).
    pub poll_interval: Duration,
    /// `notify.fallback`.
    pub fallback: Option<String>,
}

impl NotifyOptions {
    /// Settings from the configuration; reads `smtp.credentials_file` and `smtp.ca_file`.
    pub fn from_config(config: &Config) -> Result<NotifyOptions, NotifyError> {
        let transport = match &config.smtp.url {
            None => TransportConfig::Files { dir: config.smtp.mail_dir.clone() },
            Some(url) => TransportConfig::Smtp {
                url: url.clone(),
                credentials: config.smtp.credentials_file.as_deref().map(read_credentials).transpose()?,
                extra_roots: config.smtp.ca_file.as_deref().map(read_roots).transpose()?,
            },
        };
        Ok(NotifyOptions {
            transport,
            from: config.smtp.from.clone(),
            max_attempts: config.notify.max_attempts,
            batch_window: config.notify.batch_window.0,
            retry_base: config.notify.retry_base.0,
            poll_interval: config.notify.poll_interval.0,
            fallback: config.notify.fallback.clone(),
        })
    }
}

/// `user` on the first line, the password on the second.
fn read_credentials(path: &std::path::Path) -> Result<(String, Secret), NotifyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| NotifyError::Credentials { path: path.to_owned(), message: source.to_string() })?;
    let mut lines = text.lines();
    match (lines.next().map(str::trim), lines.next()) {
        (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_owned(), Secret::new(password.trim_end_matches('\r'))))
        }
        _ => Err(NotifyError::Credentials {
            path: path.to_owned(),
            message: "expected the user name on the first line and the password on the second".into(),
        }),
    }
}

/// The PEM text of `smtp.ca_file`: at least one certificate (parsed when the transport
/// opens).
fn read_roots(path: &std::path::Path) -> Result<Vec<u8>, NotifyError> {
    let pem = std::fs::read(path)
        .map_err(|source| NotifyError::CaFile { path: path.to_owned(), message: source.to_string() })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(NotifyError::CaFile { path: path.to_owned(), message: "holds no PEM certificate".into() });
    }
    Ok(pem)
}

/// Why the worker could not start or a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("smtp.credentials_file {path}: {message}")]
    Credentials { path: PathBuf, message: String },
    #[error("smtp.ca_file {path}: {message}")]
    CaFile { path: PathBuf, message: String },
    #[error("smtp.from {0:?} is not a usable address")]
    From(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Emails queued from notices (one per recipient).
    pub queued: usize,
    pub sent: usize,
    /// Failed attempts to be retried.
    pub failed: usize,
    pub dead: usize,
}

impl PassSummary {
    fn add(&mut self, other: PassSummary) {
        self.queued += other.queued;
        self.sent += other.sent;
        self.failed += other.failed;
        self.dead += other.dead;
    }
}

/// The notification worker (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    store: Store,
    options: std::sync::Arc<NotifyOptions>,
    from: Mailbox,
    transport: Transport,
    templates: std::sync::Arc<Templates>,
}

impl Notifier {
    /// Checks the settings and compiles the templates; connects to nothing yet.
    pub fn new(store: Store, options: NotifyOptions) -> Result<Notifier, NotifyError> {
        let from: Mailbox = options.from.parse().map_err(|_| NotifyError::From(options.from.clone()))?;
        let transport = Transport::open(&options.transport)?;
        Ok(Notifier {
            store,
            options: std::sync::Arc::new(options),
            from,
            transport,
            templates: std::sync::Arc::new(Templates::new()?),
        })
    }

    /// One pass: compose the due notices, then deliver every due email (each at most
    /// once per pass). Errors are the store's; delivery failures are recorded, not
    /// returned.
    pub async fn run_once(&self) -> Result<PassSummary, NotifyError> {
        let (_keep, stop) = watch::channel(false);
        self.pass(&stop).await
    }

    /// Runs passes in a background task until [`NotifierHandle::stop`] (or until the
    /// handle is dropped).
    pub fn spawn(self) -> NotifierHandle {
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(async move { self.run(stop).await });
        NotifierHandle { stop: stop_tx, task }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*stop.borrow() {
            let wait = match self.pass(&stop).await {
                Ok(_) => {
                    failures = 0;
                    self.until_next_due().await
                }
                Err(e) => {
                    // The database is down or busy: back off, keep the daemon running.
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "notification pass failed");
                    retry_delay(Duration::from_secs(1), failures, random_unit()).min(Duration::from_secs(60))
                }
            };
            let mut next_pass = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    biased;
                    changed = stop.changed() => {
                        if changed.is_err() {
                            return; // the handle was dropped: nothing can stop us later
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(next_pass) => break,
                    // New notices only move the next due time (a leak's waits for the
                    // batch window, a restore's is now). A commit also means the store
                    // answers again, so it ends a failure backoff too.
                    () = self.store.notices_written() => {
                        next_pass = tokio::time::Instant::now() + self.until_next_due().await;
                    }
                }
            }
        }
    }

    /// How long to sleep: until the next batch or retry is due, at most a poll interval.
    async fn until_next_due(&self) -> Duration {
        let window = millis(self.options.batch_window);
        match self.store.next_notify_due(window).await {
            Ok(Some(due)) => {
                let wait = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
                wait.min(self.options.poll_interval)
            }
            _ => self.options.poll_interval,
        }
    }

    async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<PassSummary, NotifyError> {
        let mut summary = PassSummary { queued: self.compose().await?, ..PassSummary::default() };
        // Only what is due when the pass starts: an email that fails in this pass is due
        // again after its retry delay, and a slow pass must not take it a second time.
        let due_by = now_ms();
        loop {
            if *stop.borrow() {
                break;
            }
            let claimed = self.store.claim_due_mails(due_by, now_ms() + millis(LEASE), CLAIM_BATCH).await?;
            if claimed.is_empty() {
                break;
            }
            summary.add(self.deliver(claimed, stop).await?);
        }
        Ok(summary)
    }

    /// Turns the due notices into outbox rows; returns how many rows were queued.
    async fn compose(&self) -> Result<usize, NotifyError> {
        let window = millis(self.options.batch_window);
        let now = now_ms();
        match self.store.next_notify_due(window).await? {
            Some(due) if due <= now => {}
            _ => return Ok(0),
        }
        let mut composer = self.store.notice_composer().await?;
        let batches = composer.due_batches(composer.at() - window).await?;
        let mut queued = 0;
        for batch in &batches {
            let recipients = Recipients::of(batch, self.options.fallback.as_deref());
            match &recipients {
                Recipients::Fallback(address) => composer.audit(&fallback_event(batch, Some(address))).await?,
                Recipients::Nobody => composer.audit(&fallback_event(batch, None)).await?,
                Recipients::Admins(_) | Recipients::Members(_) => {}
            }
            let mail = self.templates.render(batch)?;
            let addresses = recipients.addresses();
            composer.enqueue(batch, &addresses, &mail).await?;
            queued += addresses.len();
        }
        composer.commit().await?;
        Ok(queued)
    }

    /// Sends claimed rows, [`SEND_CONCURRENCY`] at a time, and records the results in
    /// one transaction.
    async fn deliver(&self, claimed: Vec<OutboxRow>, stop: &watch::Receiver<bool>) -> Result<PassSummary, NotifyError> {
        let started = Instant::now();
        let mut done = Vec::with_capacity(claimed.len());
        let mut unsent = Vec::new();
        let mut waiting = claimed.into_iter();
        let mut sending = tokio::task::JoinSet::new();
        loop {
            while sending.len() < SEND_CONCURRENCY {
                let Some(row) = waiting.next() else { break };
                // Finish the emails being sent on stop; give the rest back.
                if *stop.borrow() || started.elapsed() > LEASE / 2 {
                    unsent.push(row.id);
                    continue;
                }
                let worker = self.clone();
                sending.spawn(async move {
                    let delivery = worker.send(&row).await;
                    (row, delivery)
                });
            }
            match sending.join_next().await {
                Some(Ok(result)) => done.push(result),
                // A send that panicked stays leased and is retried after the lease.
                Some(Err(e)) => tracing::error!(error = %e, "email send task failed"),
                None => break,
            }
        }
        self.store.release_mails(&unsent).await?;
        self.store.record_deliveries(&done, ACTOR).await?;
        let mut summary = PassSummary::default();
        for (row, delivery) in &done {
            match delivery {
                Delivery::Sent { .. } => {
                    summary.sent += 1;
                    metrics::counter!(SENT_METRIC).increment(1);
                    tracing::info!(outbox_id = row.id, kind = %row.kind, "email sent");
                }
                Delivery::Failed { error, .. } => {
                    summary.failed += 1;
                    metrics::counter!(FAILED_METRIC).increment(1);
                    tracing::warn!(outbox_id = row.id, attempts = row.attempts, %error, "email failed; will retry");
                }
                Delivery::Dead { error } => {
                    summary.dead += 1;
                    metrics::counter!(DEAD_METRIC).increment(1);
                    tracing::error!(outbox_id = row.id, attempts = row.attempts, %error, "email given up");
                }
            }
        }
        Ok(summary)
    }

    async fn send(&self, row: &OutboxRow) -> Delivery {
        let message = match build_message(row, &self.from) {
            Ok(message) => message,
            Err(error) => return Delivery::Dead { error },
        };
        let id = message_id(row, &self.from);
        match self.transport.send(message, &transport::file_stem(row)).await {
            Ok(()) => Delivery::Sent { message_id: id },
            Err(e) if e.permanent => Delivery::Dead { error: format!("refused permanently: {}", e.message) },
            Err(e) if row.attempts >= i64::from(self.options.max_attempts) => {
                Delivery::Dead { error: format!("{} (after {} attempts)", e.message, row.attempts) }
            }
            Err(e) => {
                let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                let delay = retry_delay(self.options.retry_base, attempt, random_unit());
                // At least 1 ms later: after the pass's start, so not again in this pass.
                Delivery::Failed { error: e.message, retry_at: now_ms() + millis(delay).max(1) }
            }
        }
    }
}

/// A running background worker.
pub struct NotifierHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NotifierHandle {
    /// Stops after the email being sent (if any) is handed over and recorded; claimed
    /// emails not yet sent are given back for the next worker.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The audit event of a batch sent to `notify.fallback` (or, `None`, to nobody).
fn fallback_event(batch: &NoticeBatch, fallback: Option<&str>) -> NewEvent {
    let key_ids = batch.key_ids();
    let (event, description) = match fallback {
        Some(address) => (
            EventKind::NotifyFallback,
            format!(
                "team {} has no admins or members: its {} notice goes to {address}",
                batch.team,
                batch.kind.as_str()
            ),
        ),
        None => (
            EventKind::NotifyDead,
            format!(
                "team {} has no admins or members and notify.fallback is unset: its {} notice cannot be emailed",
                batch.team,
                batch.kind.as_str()
            ),
        ),
    };
    NewEvent {
        event,
        actor: ACTOR.to_owned(),
        team_id: Some(batch.team_id),
        key_id: if key_ids.len() == 1 { Some(key_ids[0]) } else { None },
        description,
        details: json!({ "kind": batch.kind.as_str(), "key_ids": key_ids, "fallback": fallback }),
    }
}

/// Delay before retry number `attempt` (1 = after the first failure): `base · 2^(attempt-1)`,
/// capped at a day, scaled by a jitter factor in [0.8, 1.2) from `unit` ∈ [0, 1) so that
/// emails failed together do not retry in lockstep.
pub fn retry_delay(base: Duration, attempt: u32, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let delay = base.saturating_mul(1u32 << exponent).min(MAX_RETRY_DELAY);
    delay.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

/// A uniform number in [0, 1) (0.5 if the OS has no randomness to give).
fn random_unit() -> f64 {
    getrandom::u32().map(|r| f64::from(r) / (f64::from(u32::MAX) + 1.0)).unwrap_or(0.5)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_with_bounded_jitter_and_span_about_a_day() {
        let base = Duration::from_secs(45);
        assert_eq!(retry_delay(base, 1, 0.5), base);
        assert_eq!(retry_delay(base, 3, 0.5), base * 4);
        assert_eq!(retry_delay(base, 1, 0.0), base.mul_f64(0.8));
        assert!(retry_delay(base, 1, 0.999_999) < base.mul_f64(1.2));
        assert_eq!(retry_delay(base, 40, 0.5), MAX_RETRY_DELAY);
        // Default max_attempts 12: 11 waits between the first and the last attempt.
        let span: Duration = (1..12).map(|a| retry_delay(base, a, 0.5)).sum();
        assert!(span > Duration::from_secs(20 * 3600) && span < Duration::from_secs(30 * 3600), "{span:?}");
    }

    #[test]
    fn credentials_file_needs_two_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("login");
        std::fs::write(&path, "revokd\ns3cret:with colon\n").unwrap();
        let (user, password) = read_credentials(&path).unwrap();
        assert_eq!((user.as_str(), password.expose()), ("revokd", "s3cret:with colon"));
        std::fs::write(&path, "only-a-user\n").unwrap();
        let err = read_credentials(&path).unwrap_err().to_string();
        assert!(err.contains("second") && !err.contains("only-a-user"), "{err}");
    }

    #[test]
    fn mail_dir_and_ca_file_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.smtp.mail_dir = dir.path().join("outgoing");
        let options = NotifyOptions::from_config(&config).unwrap();
        assert!(matches!(&options.transport, TransportConfig::Files { dir: d } if *d == dir.path().join("outgoing")));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        config.smtp.url = Some("smtps://127.0.0.1:465".into());
        config.smtp.ca_file = Some(empty);
        let err = NotifyOptions::from_config(&config).unwrap_err().to_string();
        assert!(err.starts_with("smtp.ca_file") && err.contains("no PEM certificate"), "{err}");
        config.smtp.ca_file = Some(dir.path().join("missing.pem"));
        assert!(NotifyOptions::from_config(&config).unwrap_err().to_string().contains("missing.pem"));
    }
}
