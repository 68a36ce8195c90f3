//! The worker against a real SMTP server: delivery, retries, rejection, batching, the
//! dead-letter path, racing workers and the file transport.

use std::time::{Duration, Instant};

use revokd::notify::transport::TransportConfig;
use revokd::notify::{Notifier, NotifyOptions, PassSummary};
use revokd::store::{OutboxStatus, Store};

use super::{SmtpSink, add_key, audited, free_port, leak, options, parse_eml, smtp};
use crate::both_backends;
use crate::testdb::{Backend, TestDb, raw_sql};

both_backends!(
    a_leak_email_reaches_every_admin_once,
    smtp_down_at_leak_time_then_up_delivers_once_after_retry,
    a_failed_email_is_tried_once_per_pass,
    a_refused_recipient_fails_alone,
    three_leaks_of_one_team_within_the_window_are_one_email,
    an_email_is_dead_after_max_attempts,
    restore_and_delete_tell_the_team,
    a_restore_waits_only_behind_a_pending_leak,
    a_team_without_people_goes_to_the_fallback,
    a_running_worker_is_woken_by_commits_not_by_its_poll_interval,
);

async fn team(store: &Store, name: &str, admins: &[&str], members: &[&str]) {
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    store.create_team(name, &owned(admins), &owned(members), "test").await.unwrap();
}

async fn a_leak_email_reaches_every_admin_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com", "bob@example.com"], &["carol@example.com"]).await;
    let (token, id) = add_key(&store, "acme").await;
    let url = "https://github.com/acme/app/blob/main/.env";
    leak(&store, &token, url).await;
    let sink = SmtpSink::start();
    let notifier = Notifier::new(store.clone(), options(smtp(sink.url()))).unwrap();

    let summary = notifier.run_once().await.unwrap();
    assert_eq!(summary, PassSummary { queued: 2, sent: 2, failed: 0, dead: 0 });
    let mut mails = sink.messages();
    mails.sort_by(|a, b| a.rcpt_tos.cmp(&b.rcpt_tos));
    let recipients: Vec<_> = mails.iter().map(|m| m.rcpt_tos.clone()).collect();
    assert_eq!(recipients, [vec!["alice@example.com"], vec!["bob@example.com"]], "admins only, one email each");
    let key = store.key(id).await.unwrap();
    for mail in &mails {
        assert_eq!(mail.mail_from, "revokd@example.org");
        assert_eq!(
            mail.subject,
            format!("[revokd] API key {} disabled: found in a public GitHub repository", key.redacted)
        );
        for part in [&mail.text, &mail.html] {
            assert!(part.contains(url), "the leak URL is in both parts:\n{part}");
            assert!(part.contains(&key.redacted) && part.contains("acme"), "{part}");
            assert!(part.contains(&format!("revokd keys restore {id}")), "{part}");
        }
        assert!(!mail.raw.contains(&token) && !mail.raw.contains(&token[4..40]), "never the full key");
        assert!(mail.message_id.starts_with("<revokd.") && mail.message_id.ends_with("@example.org>"));
    }
    assert_ne!(mails[0].message_id, mails[1].message_id);
    let rows = store.outbox(None).await.unwrap();
    assert!(rows.iter().all(|r| r.status == OutboxStatus::Sent && r.attempts == 1 && r.sent_at.is_some()));
    assert_eq!(audited(&store, "notify.sent").await.len(), 2);

    // Nothing more to send; a repeat report of the token sends nothing either.
    assert_eq!(notifier.run_once().await.unwrap(), PassSummary::default());
    leak(&store, &token, "https://gist.github.com/x").await;
    assert_eq!(notifier.run_once().await.unwrap(), PassSummary::default());
    assert_eq!(sink.messages().len(), 2);
    store.close().await;
}

/// Runs passes (at most `passes`, 50 ms apart) until `done` holds for the summed result.
async fn run_until(notifier: &Notifier, passes: usize, done: impl Fn(&PassSummary) -> bool) -> PassSummary {
    let mut total = PassSummary::default();
    for _ in 0..passes {
        let s = notifier.run_once().await.unwrap();
        total.queued += s.queued;
        total.sent += s.sent;
        total.failed += s.failed;
        total.dead += s.dead;
        if done(&total) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    total
}

async fn smtp_down_at_leak_time_then_up_delivers_once_after_retry(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let (token, _) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app/blob/main/a.py").await;
    let port = free_port();
    let mut opts = options(smtp(format!("smtp://127.0.0.1:{port}")));
    // Long enough that the immediate second pass below is surely before the retry time,
    // even on a loaded machine.
    opts.retry_base = Duration::from_secs(1);
    let notifier = Notifier::new(store.clone(), opts).unwrap();

    let summary = notifier.run_once().await.unwrap();
    assert_eq!(summary, PassSummary { queued: 1, sent: 0, failed: 1, dead: 0 });
    let row = &store.outbox(None).await.unwrap()[0];
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    assert!(row.last_error.is_some());
    assert_eq!(audited(&store, "notify.failed").await.len(), 1);
    // Not due again before its retry time.
    assert_eq!(notifier.run_once().await.unwrap(), PassSummary::default());

    let sink = SmtpSink::start_on(port);
    let total = run_until(&notifier, 100, |s| s.sent > 0).await;
    assert_eq!((total.sent, total.dead), (1, 0));
    assert_eq!(sink.messages().len(), 1);
    let row = &store.outbox(None).await.unwrap()[0];
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 2));
    assert_eq!(notifier.run_once().await.unwrap(), PassSummary::default());
    assert_eq!(sink.messages().len(), 1, "delivered once");
    store.close().await;
}

/// A store with one leak of team acme (admin alice), and notifier options whose SMTP
/// port has no server, so every send fails.
async fn one_leak_and_no_smtp(backend: Backend) -> (TestDb, Store, NotifyOptions) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let (token, _) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app").await;
    (db, store, options(smtp(format!("smtp://127.0.0.1:{}", free_port()))))
}

/// An email that failed in a pass is not tried again in that pass, even when its retry
/// is already due (a pass slower than the retry delay, as on a loaded machine: here the
/// delay is zero).
async fn a_failed_email_is_tried_once_per_pass(backend: Backend) {
    let (_db, store, mut opts) = one_leak_and_no_smtp(backend).await;
    opts.retry_base = Duration::ZERO;
    let notifier = Notifier::new(store.clone(), opts).unwrap();

    let summary = notifier.run_once().await.unwrap();
    assert_eq!(summary, PassSummary { queued: 1, sent: 0, failed: 1, dead: 0 });
    let row = &store.outbox(None).await.unwrap()[0];
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    // The next pass takes it again.
    assert_eq!(notifier.run_once().await.unwrap().failed, 1);
    store.close().await;
}

async fn a_refused_recipient_fails_alone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com", "reject-me@example.com", "zed@example.com"], &[]).await;
    let (token, _) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app").await;
    let sink = SmtpSink::start();
    let notifier = Notifier::new(store.clone(), options(smtp(sink.url()))).unwrap();

    let summary = notifier.run_once().await.unwrap();
    assert_eq!(summary, PassSummary { queued: 3, sent: 2, failed: 0, dead: 1 });
    let mut got: Vec<_> = sink.messages().into_iter().flat_map(|m| m.rcpt_tos).collect();
    got.sort();
    assert_eq!(got, ["alice@example.com", "zed@example.com"]);
    let dead = store.outbox(Some(OutboxStatus::Dead)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].recipient, "reject-me@example.com");
    assert!(dead[0].last_error.as_deref().unwrap().contains("550"), "{:?}", dead[0].last_error);
    let events = audited(&store, "notify.dead").await;
    assert_eq!(events.len(), 1);
    assert!(events[0].description.contains("reject-me@example.com"));
    store.close().await;
}

async fn three_leaks_of_one_team_within_the_window_are_one_email(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    team(&store, "other", &["olga@example.com"], &[]).await;
    let mut ids = Vec::new();
    let window = Duration::from_millis(800);
    let sink = SmtpSink::start();
    let mut opts = options(smtp(sink.url()));
    opts.batch_window = window;
    let notifier = Notifier::new(store.clone(), opts).unwrap();
    let started = Instant::now();
    for i in 0..3 {
        let (token, id) = add_key(&store, "acme").await;
        leak(&store, &token, &format!("https://github.com/acme/app/blob/main/{i}.env")).await;
        ids.push(id);
    }
    let (token, other_id) = add_key(&store, "other").await;
    leak(&store, &token, "https://github.com/other/x").await;
    if started.elapsed() < window {
        assert_eq!(notifier.run_once().await.unwrap().queued, 0, "held for the batch window");
    }
    tokio::time::sleep(window).await;
    let summary = run_until(&notifier, 20, |s| s.sent >= 2).await;
    assert_eq!(summary, PassSummary { queued: 2, sent: 2, failed: 0, dead: 0 });
    let mails = sink.messages();
    let acme: Vec<_> = mails.iter().filter(|m| m.rcpt_tos == ["alice@example.com"]).collect();
    assert_eq!(acme.len(), 1, "one email for the team's three leaks");
    assert_eq!(acme[0].subject, "[revokd] 3 API keys of team acme disabled: found in public");
    for (i, id) in ids.iter().enumerate() {
        assert!(acme[0].text.contains(&format!("Key {id}:")), "{}", acme[0].text);
        assert!(acme[0].html.contains(&format!("https://github.com/acme/app/blob/main/{i}.env")));
    }
    assert!(!acme[0].text.contains(&format!("Key {other_id}:")), "other teams' keys stay out");
    let row = store.outbox(None).await.unwrap().into_iter().find(|r| r.recipient == "alice@example.com").unwrap();
    assert_eq!(row.key_ids.as_deref(), Some(format!("[{},{},{}]", ids[0], ids[1], ids[2]).as_str()));
    assert!(store.notices(Some(false)).await.unwrap().is_empty());
    store.close().await;
}

async fn an_email_is_dead_after_max_attempts(backend: Backend) {
    let (_db, store, mut opts) = one_leak_and_no_smtp(backend).await;
    opts.max_attempts = 3;
    opts.retry_base = Duration::from_millis(20);
    let notifier = Notifier::new(store.clone(), opts).unwrap();

    let total = run_until(&notifier, 60, |s| s.dead > 0).await;
    assert_eq!(total, PassSummary { queued: 1, sent: 0, failed: 2, dead: 1 });
    let row = &store.outbox(None).await.unwrap()[0];
    assert_eq!((row.status, row.attempts), (OutboxStatus::Dead, 3));
    assert_eq!(audited(&store, "notify.failed").await.len(), 2);
    let dead = audited(&store, "notify.dead").await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].description.contains("after 3 attempt(s)"), "{}", dead[0].description);
    // Dead stays dead.
    assert_eq!(notifier.run_once().await.unwrap(), PassSummary::default());
    store.close().await;
}

async fn restore_and_delete_tell_the_team(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let (token, id) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app").await;
    store.restore_key(id, "false alarm: test fixture", "cli:alice").await.unwrap();
    store.delete_key(id, "rotated", "cli:alice").await.unwrap();
    let sink = SmtpSink::start();
    let notifier = Notifier::new(store.clone(), options(smtp(sink.url()))).unwrap();
    assert_eq!(notifier.run_once().await.unwrap().sent, 3);
    // Sent concurrently: find each by subject.
    let mails: Vec<_> = sink.messages().into_iter().map(|m| (m.subject, m.text)).collect();
    let key = store.key(id).await.unwrap();
    let find =
        |subject: &str| mails.iter().find(|(s, _)| s == subject).unwrap_or_else(|| panic!("{subject}: {mails:?}"));
    find(&format!("[revokd] API key {} disabled: found in a public GitHub repository", key.redacted));
    let restored = find(&format!("[revokd] API key {} of team acme restored", key.redacted));
    assert!(restored.1.contains("false alarm: test fixture") && restored.1.contains("cli:alice"), "{}", restored.1);
    find(&format!("[revokd] API key {} of team acme deleted", key.redacted));
    store.close().await;
}

/// The spawned worker, asleep on a long poll interval, learns of new notices from the
/// commits that wrote them: a leak's email leaves when its batch window ends, a restore's
/// at once, both long before the next poll.
async fn a_running_worker_is_woken_by_commits_not_by_its_poll_interval(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let sink = SmtpSink::start();
    let mut opts = options(smtp(sink.url()));
    opts.batch_window = Duration::from_millis(300);
    opts.poll_interval = Duration::from_secs(600);
    let worker = Notifier::new(store.clone(), opts).unwrap().spawn();
    // The first pass finds nothing; the worker then sleeps on its poll interval.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (token, id) = add_key(&store, "acme").await;
    let leaked = Instant::now();
    leak(&store, &token, "https://github.com/acme/app").await;
    let mails = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(mails.len(), 1, "the leak's email, at the end of its window");
    assert!(leaked.elapsed() >= Duration::from_millis(250), "held for the window: {:?}", leaked.elapsed());
    store.restore_key(id, "false alarm", "cli:alice").await.unwrap();
    let mails = sink.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(mails.len(), 2, "the restore's email, at once");
    assert!(mails.iter().any(|m| m.subject.ends_with("of team acme restored")), "{mails:?}");
    worker.stop().await;
    store.close().await;
}

async fn a_team_without_people_goes_to_the_fallback(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "orphans", &["gone@example.com"], &[]).await;
    let (token, _) = add_key(&store, "orphans").await;
    raw_sql(&store, "DELETE FROM team_members").await;
    leak(&store, &token, "https://github.com/o/r").await;
    let sink = SmtpSink::start();
    let mut opts = options(smtp(sink.url()));
    opts.fallback = Some("security@example.org".into());
    let notifier = Notifier::new(store.clone(), opts).unwrap();
    assert_eq!(notifier.run_once().await.unwrap().sent, 1);
    assert_eq!(sink.messages()[0].rcpt_tos, ["security@example.org"]);
    let events = audited(&store, "notify.fallback").await;
    assert_eq!(events.len(), 1);
    assert!(events[0].description.contains("security@example.org"));

    // Without a fallback: nobody to mail, audited as dead.
    let (token, _) = add_key(&store, "orphans").await;
    leak(&store, &token, "https://github.com/o/r2").await;
    let bare = Notifier::new(store.clone(), options(smtp(sink.url()))).unwrap();
    assert_eq!(bare.run_once().await.unwrap(), PassSummary::default());
    assert!(audited(&store, "notify.dead").await[0].description.contains("notify.fallback is unset"));
    assert!(store.notices(Some(false)).await.unwrap().is_empty());
    store.close().await;
}

/// Two workers (two connection pools, as two replicas) race over the same PostgreSQL
/// outbox: every email is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_racing_on_postgres_send_each_email_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    const TEAMS: usize = 12;
    for t in 0..TEAMS {
        let admins: Vec<String> = (0..5).map(|a| format!("admin{a}@team{t}.example.com")).collect();
        store.create_team(&format!("team{t}"), &admins, &[], "test").await.unwrap();
        let (token, _) = add_key(&store, &format!("team{t}")).await;
        leak(&store, &token, "https://github.com/o/r").await;
    }
    let sink = SmtpSink::start();
    let workers: Vec<Notifier> = {
        let mut list = Vec::new();
        for _ in 0..2 {
            let replica = db.store().await;
            list.push(Notifier::new(replica, options(smtp(sink.url()))).unwrap());
        }
        list
    };
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(async move { run_until(&w, 5, |_| false).await })).collect();
    let mut total = PassSummary::default();
    let mut per_worker = Vec::new();
    for task in tasks {
        let s = task.await.unwrap();
        per_worker.push(s.sent);
        total.queued += s.queued;
        total.sent += s.sent;
        total.failed += s.failed;
    }
    assert_eq!((total.queued, total.sent, total.failed), (TEAMS * 5, TEAMS * 5, 0), "{per_worker:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), TEAMS * 5);
    let mut ids: Vec<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TEAMS * 5, "each email once");
    assert_eq!(audited(&store, "notify.sent").await.len(), TEAMS * 5);
    assert!(store.outbox(None).await.unwrap().iter().all(|r| r.status == OutboxStatus::Sent && r.attempts == 1));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_emails_are_eml_files() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let (token, _) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app/blob/main/.env").await;
    let dir = db.dir.path().join("mail");
    let notifier = Notifier::new(store.clone(), options(TransportConfig::Files { dir: dir.clone() })).unwrap();
    assert_eq!(notifier.run_once().await.unwrap().sent, 1);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let mail = parse_eml(&files[0]);
    assert_eq!(mail["to"], "alice@example.com");
    assert!(mail["text"].as_str().unwrap().contains("https://github.com/acme/app/blob/main/.env"));
    assert!(mail["html"].as_str().unwrap().contains("https://github.com/acme/app/blob/main/.env"));
    assert!(!mail["raw"].as_str().unwrap().contains(&token[4..40]));
    store.close().await;
}

/// The batch window is for leaks: a restore (or delete) goes out at the next pass,
/// unless a leak of its team is still waiting for its window, in which case it follows
/// that leak's email (never before it).
async fn a_restore_waits_only_behind_a_pending_leak(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    team(&store, "acme", &["alice@example.com"], &[]).await;
    let sink = SmtpSink::start();
    let at_once = Notifier::new(store.clone(), options(smtp(sink.url()))).unwrap();
    let mut windowed = options(smtp(sink.url()));
    windowed.batch_window = Duration::from_secs(600);
    let windowed = Notifier::new(store.clone(), windowed).unwrap();

    let (token, first) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app").await;
    assert_eq!(at_once.run_once().await.unwrap().sent, 1, "the leak email");
    store.restore_key(first, "false alarm", "cli:alice").await.unwrap();
    assert_eq!(windowed.run_once().await.unwrap().sent, 1, "a restore does not wait for the leak window");

    let (token, second) = add_key(&store, "acme").await;
    leak(&store, &token, "https://github.com/acme/app").await;
    store.restore_key(second, "false alarm", "cli:alice").await.unwrap();
    assert_eq!(windowed.run_once().await.unwrap(), PassSummary::default(), "behind the waiting leak");
    assert_eq!(at_once.run_once().await.unwrap().sent, 2);
    let kinds: Vec<String> = store.outbox(None).await.unwrap().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds, ["leak", "key_restored", "leak", "key_restored"], "queued in the order they happened");
    store.close().await;
}
