//! Every page renders for the roles that may read it, with the data a signed partner
//! alert produced; filters, audit search, pagination and exports; roles that may not
//! read a page get 403.

use reqwest::StatusCode;

use super::{ADMIN, AUDITOR, Console, SCANNER};
use crate::serve::{Backend, OWNER, TEAM, token};

async fn pages_show_a_leak_end_to_end(backend: Backend) {
    let c = Console::start(backend).await;
    let id = c.leaked_key("console pages").await;
    let redacted = c.h.store.key(id).await.unwrap().redacted;
    let secret = token("console pages");
    let mut admin = c.signed_in(ADMIN).await;

    let overview = admin.page("/console/").await;
    assert!(
        overview.contains(r#"<div class="num">1</div><div class="label">keys disabled in the last 24 h"#),
        "{overview}"
    );
    assert!(overview.contains("github_partner"), "leaks by source: {overview}");
    assert!(overview.contains("emails waiting in the outbox") && overview.contains("dead letters"));

    let leaks = admin.page("/console/leaks").await;
    assert!(leaks.contains(&redacted) && !leaks.contains(&secret), "redacted only");
    assert!(
        leaks.contains(r#"<a href="https://github.com/o/r/blob/x/a.py" rel="noopener noreferrer nofollow">"#),
        "{leaks}"
    );
    assert!(leaks.contains("key disabled") && leaks.contains(&format!("/console/keys/{id}")));
    for (query, found) in [
        ("team=acme&type=xai_api_key&source=github_partner%3Acontent&since=1h", true),
        ("source=github_partner", false),
        ("team=other", false),
        ("until=2000-01-01T00:00", false),
    ] {
        let page = admin.page(&format!("/console/leaks?{query}")).await;
        assert_eq!(page.contains(&redacted), found, "{query}");
    }
    assert_eq!(admin.get("/console/leaks?since=yesterday").await.status(), StatusCode::BAD_REQUEST);

    let keys = admin.page("/console/keys?team=acme&status=disabled").await;
    assert!(keys.contains(&redacted) && keys.contains("leaked (github_partner:content)"), "{keys}");
    assert!(!admin.page("/console/keys?status=active").await.contains(&redacted));
    assert_eq!(admin.get("/console/keys?status=lost").await.status(), StatusCode::BAD_REQUEST);
    let key = admin.page(&format!("/console/keys/{id}")).await;
    for expected in ["key.imported", "key.disabled", "leak.reported", "Restore key", "Delete key", "Sightings"] {
        assert!(key.contains(expected), "{expected}: {key}");
    }

    let teams = admin.page("/console/teams").await;
    assert!(teams.contains(r#"<a href="/console/teams/acme">acme</a>"#), "{teams}");
    let team = admin.page(&format!("/console/teams/{TEAM}")).await;
    assert!(team.contains(OWNER) && team.contains("Save member") && team.contains("0 active, 1 disabled"), "{team}");
    assert_eq!(admin.get("/console/teams/nobody").await.status(), StatusCode::NOT_FOUND);

    let scans = admin.page("/console/scans").await;
    assert!(scans.contains("Start scan") && scans.contains("No scans yet."));

    // The audit log: verified chain, search by text, id, actor, team, key, time range.
    let audit = admin.page("/console/audit").await;
    assert!(audit.contains("Chain verified:"), "{audit}");
    assert!(audit.contains("leaked at https://github.com/o/r/blob/x/a.py"));
    let by_text = admin.page("/console/audit?q=LEAKED+AT").await;
    assert!(
        by_text.contains("<code>leak.reported</code>") && !by_text.contains("<code>team.created</code>"),
        "case-insensitive text search"
    );
    let events = c.h.audit_of(id).await;
    let leak_event = events.iter().find(|e| e.event == "leak.reported").unwrap();
    let by_id = admin.page(&format!("/console/audit?id={}", leak_event.id)).await;
    assert!(
        by_id.contains(&format!(r#"id="event-{}""#, leak_event.id)) && !by_id.contains("<code>key.imported</code>")
    );
    let by_actor = admin.page("/console/audit?actor=github&team=acme").await;
    assert!(by_actor.contains("<code>leak.reported</code>") && !by_actor.contains("<code>key.imported</code>"));
    let by_key = admin.page(&format!("/console/audit?key={id}&event=key.*")).await;
    assert!(by_key.contains("<code>key.disabled</code>") && !by_key.contains("<code>leak.reported</code>"));
    let range = admin.page("/console/audit?since=1h&until=2099-01-01T00:00").await;
    assert!(range.contains("<code>leak.reported</code>"));
    let past = admin.page("/console/audit?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z").await;
    assert!(past.contains("No events match."));
    assert_eq!(admin.get("/console/audit?since=soon").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(admin.get("/console/audit?key=abc").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(admin.get("/console/audit?team=nobody").await.status(), StatusCode::BAD_REQUEST);
    assert!(by_text.contains(r#"href="/console/audit/export.csv?q=LEAKED%20AT""#), "{by_text}");

    // Exports of the current search.
    let jsonl = admin.get("/console/audit/export.jsonl?q=leaked%20at").await;
    assert_eq!(jsonl.headers()["content-type"], "application/x-ndjson");
    assert!(jsonl.headers()["content-disposition"].to_str().unwrap().contains("audit.jsonl"));
    let jsonl = jsonl.text().await.unwrap();
    let lines: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{jsonl}");
    assert_eq!(lines[0]["event"], "leak.reported");
    assert_eq!(lines[0]["details"]["source"], "github_partner:content");
    let csv = admin.get(&format!("/console/audit/export.csv?key={id}")).await.text().await.unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows[0], "id,at,event,actor,team,key_id,description,details,prev_hash,hash");
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[2].contains(",key.disabled,github,acme,") && rows[2].contains("\"{\"\""), "{csv}");
    assert!(!csv.contains(&secret) && !jsonl.contains(&secret));
    c.h.finish().await;
}

async fn audit_pages_newest_first(backend: Backend) {
    let c = Console::start(backend).await;
    for i in 0..55 {
        c.h.store.add_member(TEAM, &format!("m{i}@example.com"), revokd::store::Role::Member, "test").await.unwrap();
    }
    let mut auditor = c.signed_in(AUDITOR).await;
    let first = auditor.page("/console/audit?event=member.added").await;
    assert!(first.contains("m54@example.com") && !first.contains("m4@example.com added"), "newest first");
    let start = first.find("before=").expect("a link to older events") + 7;
    let before: String = first[start..].chars().take_while(char::is_ascii_digit).collect();
    let older = auditor.page(&format!("/console/audit?event=member.added&before={before}")).await;
    assert!(older.contains("m4@example.com added") && !older.contains("m54@example.com"), "{older}");
    assert!(older.contains("Newest") && !older.contains("Older events"), "the last page");
    c.h.finish().await;
}

async fn roles_see_only_their_pages(backend: Backend) {
    let c = Console::start(backend).await;
    let id = c.leaked_key("console roles").await;
    let mut auditor = c.signed_in(AUDITOR).await;
    for path in ["/console/", "/console/leaks", "/console/keys", "/console/audit", "/console/scans", "/console/teams"] {
        auditor.page(path).await;
    }
    let key = auditor.page(&format!("/console/keys/{id}")).await;
    assert!(!key.contains("Restore key") && !key.contains("Delete key"), "read-only: no forms");
    let team = auditor.page(&format!("/console/teams/{TEAM}")).await;
    assert!(!team.contains("Save member") && !team.contains(">Remove<"));
    assert!(!auditor.page("/console/scans").await.contains("Start scan"));
    assert_eq!(auditor.get("/console/audit/export.csv").await.status(), StatusCode::OK);

    let mut scanner = c.signed_in(SCANNER).await;
    let overview = scanner.page("/console/").await;
    assert!(!overview.contains("keys disabled") && overview.contains("Last scans"));
    assert!(!overview.contains(r#"href="/console/leaks""#), "no link to pages it cannot read");
    assert!(scanner.page("/console/scans").await.contains("Start scan"));
    for path in ["/console/leaks", "/console/keys", "/console/audit", "/console/audit/export.jsonl", "/console/teams"] {
        let response = scanner.get(path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("your role (scanner) may not"));
    }
    c.h.finish().await;
}

crate::both_backends!(pages_show_a_leak_end_to_end, audit_pages_newest_first, roles_see_only_their_pages);
