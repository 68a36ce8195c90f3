//! The console's forms: key restore and delete (as the CLI does them: audit event,
//! owner notice), team members, scans; each refused for roles without the permission
//! and without the session's CSRF token.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use revokd::store::{AuditQuery, KeyStatus, NoticeKind, Role};

use super::{ADMIN, AUDITOR, Console, SCANNER};
use crate::scan_git::{Repo, git_in};
use crate::serve::{Backend, TEAM, token};

async fn admin_restores_and_deletes_keys_as_the_cli_does(backend: Backend) {
    let c = Console::start(backend).await;
    let id = c.leaked_key("console restore").await;
    let path = format!("/console/keys/{id}/restore");

    // Refusals change nothing: an auditor, a missing or foreign CSRF token, no reason.
    let mut auditor = c.signed_in(AUDITOR).await;
    let refused = auditor.post_with_csrf(&path, &[("reason", "false positive")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("your role (auditor) may not restore or delete keys"));
    let mut admin = c.signed_in(ADMIN).await;
    let forged = admin.post(&path, &[("reason", "false positive"), ("csrf", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.unwrap().contains("form has expired"));
    assert_eq!(admin.post(&path, &[("reason", "false positive")]).await.status(), StatusCode::FORBIDDEN);
    let other_session = csrf_of_session(&mut auditor).await;
    let crossed = admin.post(&path, &[("reason", "x"), ("csrf", &other_session)]).await;
    assert_eq!(crossed.status(), StatusCode::FORBIDDEN, "another session's CSRF token");
    assert_eq!(admin.post_with_csrf(&path, &[("reason", "  ")]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(c.h.key_status(id).await, KeyStatus::Disabled);

    // The admin restores with a reason: 303 back to the key, audited, owners notified.
    let response = admin.post_with_csrf(&path, &[("reason", "false positive: test fixture")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], format!("/console/keys/{id}?done=restored"));
    assert_eq!(c.h.key_status(id).await, KeyStatus::Active);
    let restored = c.h.audit_of(id).await.into_iter().find(|e| e.event == "key.restored").unwrap();
    assert_eq!(restored.actor, "console:boss");
    assert!(restored.description.contains("false positive: test fixture"), "{}", restored.description);
    let notices = c.h.store.notices(None).await.unwrap();
    assert!(notices.iter().any(|n| n.kind == NoticeKind::KeyRestored && n.key_id == Some(id)), "{notices:?}");
    assert!(admin.page(&format!("/console/keys/{id}?done=restored")).await.contains("Key restored."));
    // Restoring twice is a conflict with the store's message.
    let again = admin.post_with_csrf(&path, &[("reason", "again")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("cannot restore it"));

    let delete = format!("/console/keys/{id}/delete");
    assert_eq!(auditor.post_with_csrf(&delete, &[("reason", "retired")]).await.status(), StatusCode::FORBIDDEN);
    let response = admin.post_with_csrf(&delete, &[("reason", "retired")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(c.h.key_status(id).await, KeyStatus::Deleted);
    let notices = c.h.store.notices(None).await.unwrap();
    assert!(notices.iter().any(|n| n.kind == NoticeKind::KeyDeleted && n.key_id == Some(id)));
    let page = admin.page(&format!("/console/keys/{id}")).await;
    assert!(!page.contains("Restore key") && !page.contains("Delete key"), "deleted is final");
    c.h.finish().await;
}

async fn csrf_of_session(client: &mut super::Client) -> String {
    super::csrf_of(&client.page("/console/").await)
}

async fn admins_manage_team_members(backend: Backend) {
    let c = Console::start(backend).await;
    let add = format!("/console/teams/{TEAM}/members");
    let remove = format!("/console/teams/{TEAM}/members/remove");
    let mut auditor = c.signed_in(AUDITOR).await;
    let form = [("email", "new@example.com"), ("role", "admin")];
    assert_eq!(auditor.post_with_csrf(&add, &form).await.status(), StatusCode::FORBIDDEN);
    let mut admin = c.signed_in(ADMIN).await;
    assert_eq!(admin.post(&add, &[("email", "new@example.com"), ("csrf", "no")]).await.status(), StatusCode::FORBIDDEN);
    assert!(c.h.store.team_members(TEAM).await.unwrap().len() == 1);

    let response = admin.post_with_csrf(&add, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let members = c.h.store.team_members(TEAM).await.unwrap();
    assert!(members.iter().any(|m| m.email == "new@example.com" && m.role == Role::Admin), "{members:?}");
    assert!(admin.page(&format!("/console/teams/{TEAM}?done=added")).await.contains("new@example.com"));
    assert_eq!(admin.post_with_csrf(&add, &[("email", "not an address")]).await.status(), StatusCode::CONFLICT);
    assert_eq!(admin.post_with_csrf(&add, &[("email", "x@example.com"), ("role", "root")]).await.status(), 400);

    assert_eq!(auditor.post_with_csrf(&remove, &[("email", "new@example.com")]).await.status(), 403);
    let response = admin.post_with_csrf(&remove, &[("email", "owner@example.com")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let last = admin.post_with_csrf(&remove, &[("email", "new@example.com")]).await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert!(last.text().await.unwrap().contains("last admin"));
    let events =
        c.h.store
            .audit_events(&AuditQuery {
                actor: Some("console:boss".into()),
                event: Some("member.*".into()),
                ..Default::default()
            })
            .await
            .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["member.added", "member.removed"]);
    c.h.finish().await;
}

async fn scanners_start_scans_and_watch_them(backend: Backend) {
    let c = Console::start(backend).await;
    let secret = token("console scan");
    let mut repo = Repo::new();
    repo.write("app.py", &format!("KEY = \"{secret}\"\n"));
    repo.commit("add key");
    git_in(c.root.path(), &["clone", "--quiet", &repo.path().display().to_string(), "repo"], 0);
    let dir = c.root.path().join("repo").display().to_string();

    let mut auditor = c.signed_in(AUDITOR).await;
    assert_eq!(auditor.post_with_csrf("/console/scans", &[("repo", &dir)]).await.status(), StatusCode::FORBIDDEN);
    let mut scanner = c.signed_in(SCANNER).await;
    assert_eq!(scanner.post("/console/scans", &[("repo", &dir), ("csrf", "x")]).await.status(), 403);
    assert_eq!(scanner.post_with_csrf("/console/scans", &[("repo", "/etc")]).await.status(), 400);
    assert_eq!(scanner.post_with_csrf("/console/scans", &[("repo", " ")]).await.status(), 400);

    let response = scanner.post_with_csrf("/console/scans", &[("repo", &dir), ("ref", "main")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/console/scans/"));
    let mut page = String::new();
    for _ in 0..300 {
        page = scanner.page(&location).await;
        if !page.contains("http-equiv=\"refresh\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains(r#"<span class="badge done">done</span>"#), "{page}");
    assert!(page.contains("Findings (1)") && page.contains("app.py:1") && !page.contains(&secret), "{page}");
    let list = auditor.page("/console/scans").await;
    assert!(list.contains(&location) && list.contains(">ci<"), "{list}");
    c.h.finish().await;
}

crate::both_backends!(
    admin_restores_and_deletes_keys_as_the_cli_does,
    admins_manage_team_members,
    scanners_start_scans_and_watch_them
);
