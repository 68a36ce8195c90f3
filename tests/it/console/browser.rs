//! End to end in headless Chromium: sign in, see the leak a signed partner alert just
//! caused, search the audit log by description text and by time range, restore the key
//! as admin, be refused as auditor. Screenshots of every page go to
//! `<target dir>/console-screenshots/`.

use revokd::store::{KeyStatus, format_ms, now_ms};

use super::webdriver::{Browser, screenshot_dir};
use super::{ADMIN, AUDITOR, Console};
use crate::serve::{Backend, token};

/// `YYYY-MM-DDTHH:MM` (what a person types into the time fields, read as UTC).
fn minute(ms: i64) -> String {
    format_ms(ms)[..16].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_engineer_walks_through_the_console() {
    let c = Console::start(Backend::Sqlite).await;
    let shots = screenshot_dir();
    let base = c.h.base.clone();
    let before_leak = now_ms() - 60_000;
    let id = c.leaked_key("browser leak").await;
    let redacted = c.h.store.key(id).await.unwrap().redacted;
    let browser = Browser::start().await;

    // Sign in as admin.
    browser.goto(&format!("{base}/console/")).await;
    assert!(browser.url().await.ends_with("/console/sign-in"), "signed out: the sign-in form");
    browser.screenshot(&shots, "01-sign-in").await;
    browser.fill("#token", ADMIN).await;
    browser.click("form[action='/console/sign-in'] button[type=submit]").await;
    let text = browser.wait_for_text("Signed in as boss").await;
    assert!(text.contains("keys disabled in the last 24 h"), "{text}");
    browser.screenshot(&shots, "02-overview").await;

    // The leak the alert caused, redacted, with where it leaked.
    browser.click("nav.main a[href='/console/leaks']").await;
    let text = browser.wait_for_text("What was done").await;
    assert!(text.contains(&redacted) && text.contains("key disabled"), "{text}");
    assert!(!browser.source().await.contains(&token("browser leak")), "the key never reaches the page");
    assert_eq!(browser.count("a[href='https://github.com/o/r/blob/x/a.py']").await, 1);
    browser.screenshot(&shots, "03-leaks").await;

    // The audit log by description text, then by time range.
    browser.click("nav.main a[href='/console/audit']").await;
    browser.wait_for_text("Chain verified").await;
    browser.screenshot(&shots, "04-audit").await;
    browser.fill("#f-q", "leaked at https://github.com").await;
    browser.click("form[role=search] button[type=submit]").await;
    browser.wait_for_text("leak.reported").await;
    let rows = browser.count("tbody tr").await;
    let text = browser.text().await;
    assert_eq!(rows, 1, "{text}");
    assert!(text.contains("leak.reported") && text.contains("reported by github; key disabled"), "{text}");
    browser.screenshot(&shots, "05-audit-by-text").await;
    browser.fill("#f-q", "").await;
    browser.fill("#f-since", &minute(before_leak)).await;
    browser.fill("#f-until", &minute(now_ms() + 120_000)).await;
    browser.click("form[role=search] button[type=submit]").await;
    let text = browser.wait_for_text("key.disabled").await;
    assert!(text.contains("leak.reported") && text.contains("console.sign_in"), "{text}");
    browser.screenshot(&shots, "06-audit-by-time").await;
    browser.fill("#f-since", "2000-01-01T00:00").await;
    browser.fill("#f-until", "2000-01-02T00:00").await;
    browser.click("form[role=search] button[type=submit]").await;
    browser.wait_for_text("No events match.").await;

    // Keys, scans and teams pages.
    browser.goto(&format!("{base}/console/keys")).await;
    browser.wait_for_text(&redacted).await;
    browser.screenshot(&shots, "07-keys").await;
    browser.goto(&format!("{base}/console/scans")).await;
    browser.wait_for_text("Start a scan").await;
    browser.screenshot(&shots, "08-scans").await;
    browser.goto(&format!("{base}/console/teams")).await;
    browser.wait_for_text("Active keys").await;
    browser.screenshot(&shots, "09-teams").await;
    browser.goto(&format!("{base}/console/teams/acme")).await;
    browser.wait_for_text("Members and roles").await;
    browser.screenshot(&shots, "10-team").await;

    // Restore the key as admin.
    browser.goto(&format!("{base}/console/keys/{id}")).await;
    browser.wait_for_text("Change status").await;
    browser.screenshot(&shots, "11-key-disabled").await;
    browser.fill("#restore-reason", "false positive: test fixture").await;
    browser.click(&format!("form[action='/console/keys/{id}/restore'] button")).await;
    let text = browser.wait_for_text("Key restored.").await;
    assert!(text.contains("key.restored"), "{text}");
    assert_eq!(c.h.key_status(id).await, KeyStatus::Active);
    browser.screenshot(&shots, "12-key-restored").await;

    // Phone width.
    browser.resize(390, 844).await;
    browser.goto(&format!("{base}/console/leaks")).await;
    browser.wait_for_text(&redacted).await;
    browser.screenshot(&shots, "13-leaks-phone").await;
    browser.goto(&format!("{base}/console/audit")).await;
    browser.wait_for_text("Chain verified").await;
    browser.screenshot(&shots, "14-audit-phone").await;
    browser.resize(1280, 900).await;

    // Sign out; sign in as auditor: no forms, and a forged form is refused.
    browser.click(".who button[type=submit]").await;
    browser.wait_for_text("You are signed out.").await;
    browser.fill("#token", AUDITOR).await;
    browser.click("form[action='/console/sign-in'] button[type=submit]").await;
    browser.wait_for_text("Signed in as read").await;
    browser.goto(&format!("{base}/console/keys/{id}")).await;
    browser.wait_for_text("History").await;
    assert_eq!(browser.count("form[action$='/delete']").await, 0, "an auditor sees no key forms");
    browser
        .execute(&format!(
            "const f = document.createElement('form'); f.method = 'post'; f.action = '/console/keys/{id}/delete';
         for (const [n, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['reason', 'x']]) {{
           const i = document.createElement('input'); i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); }}
         document.body.appendChild(f); f.submit();"
        ))
        .await;
    let text = browser.wait_for_text("may not restore or delete keys").await;
    assert!(text.contains("403") && text.contains("your role (auditor)"), "{text}");
    assert_eq!(c.h.key_status(id).await, KeyStatus::Active, "the refused action changed nothing");
    browser.screenshot(&shots, "15-auditor-refused").await;

    browser.quit().await;
    c.h.finish().await;
}
