//! As a new user tries it: the daemon with `smtp.url` at a local SMTP server, and the
//! `revokd notify run-once` command with the default `./mail/` directory.

use std::time::Duration;

use super::{SmtpSink, options, parse_eml, smtp};
use crate::serve::{Harness, OWNER, alert_body, token};
use crate::testdb::{Backend, Revokd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_alert_emails_the_admin_exactly_once() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let h = Harness::start_with(Backend::Sqlite, |o| o.notify = Some(options(smtp(url)))).await;
    let leaked = token("emailed once");
    let id = h.add_key(&leaked).await;
    let body = alert_body(&[&leaked]);
    assert_eq!(h.post_signed(&body).await.status(), 200);
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, [OWNER]);
    assert!(mails[0].text.contains(&format!("Key {id}:")), "{}", mails[0].text);
    assert!(!mails[0].raw.contains(&leaked[4..]));

    // GitHub sends the alert again: no second email.
    assert_eq!(h.post_signed(&body).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sink.messages().len(), 1);
    h.finish().await;
}

#[test]
fn notify_run_once_writes_eml_files_to_mail_by_default() {
    let revokd = Revokd::new(Backend::Sqlite);
    revokd.run(&["teams", "add", "acme", "--admin", "owner@example.com"]).ok();
    let issued = revokd.run(&["keys", "issue", "--team", "acme"]);
    let key = issued.ok().lines().last().unwrap().to_owned();
    std::fs::write(revokd.dir().join("app.env"), format!("XAI_API_KEY={key}\n")).unwrap();
    let scan = revokd.run(&["scan", "--revoke", "app.env"]);
    assert!(scan.stderr.contains("disabled key"), "{}", scan.stderr);

    let run = |args: &[&str]| {
        let output = revokd.command(args).env("REVOKD_NOTIFY_BATCH_WINDOW", "0").output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    assert_eq!(run(&["notify", "run-once"]), (Some(0), "queued 1, sent 1, failed 0 (will retry), given up 0\n".into()));
    let files: Vec<_> = std::fs::read_dir(revokd.dir().join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let mail = parse_eml(&files[0]);
    assert_eq!(mail["to"], "owner@example.com");
    assert!(mail["text"].as_str().unwrap().contains("found by a revokd scan"), "{mail}");
    assert!(!mail["raw"].as_str().unwrap().contains(&key[4..]));
    assert_eq!(run(&["notify", "run-once"]), (Some(0), "queued 0, sent 0, failed 0 (will retry), given up 0\n".into()));
    let audit = revokd.run(&["audit", "--event", "notify.sent"]);
    assert!(audit.ok().contains("owner@example.com"), "{}", audit.stdout);
}
