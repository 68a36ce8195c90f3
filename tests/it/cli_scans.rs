//! `revokd scans list|show`: the API's scan jobs through the real binary.

use crate::both_backends_sync;
use crate::testdb::{Backend, Revokd, raw_sql, runtime};

both_backends_sync!(scans_list_and_show);

fn scans_list_and_show(backend: Backend) {
    let r = Revokd::new(backend);
    assert_eq!(r.run(&["scans", "list"]).ok(), "", "migrations create the table; no jobs yet");
    runtime().block_on(async {
        let store = r.db.store().await;
        raw_sql(
            &store,
            "INSERT INTO scan_jobs (id, repo, git_ref, history, revoke, requested_by, status, created_at, finished_at, findings, stats) VALUES \
             ('aaaa', 'https://bot:hunter2@git.example.com/o/r.git', NULL, TRUE, FALSE, 'secops', 'done', 1000, 2000, \
              '[{\"path\":\"config.py\",\"line\":2,\"column\":8,\"rule\":\"xai_api_key\",\"redacted\":\"xai-Ab…yz\",\"commit\":\"c0ffee\"}]', '{\"files\":3}'), \
             ('bbbb', '/srv/git/app', 'main', TRUE, TRUE, 'other', 'queued', 3000, NULL, NULL, NULL)",
        )
        .await;
        store.close().await;
    });
    let listed = r.run(&["scans", "list"]).ok().to_string();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("bbbb") && lines[0].contains("queued"), "{listed}");
    assert!(lines[1].contains("1 finding(s)") && lines[1].contains("git.example.com"), "{listed}");
    assert!(!listed.contains("hunter2"), "credentials are redacted: {listed}");
    let page: serde_json::Value =
        serde_json::from_str(r.run(&["scans", "list", "--limit", "1", "--before", "bbbb", "--format", "json"]).ok())
            .unwrap();
    assert_eq!(page[0]["id"], "aaaa");
    let shown = r.run(&["scans", "show", "aaaa"]).ok().to_string();
    assert!(shown.contains("config.py:2:8 xai_api_key xai-Ab…yz  c0ffee"), "{shown}");
    assert!(shown.contains("requested by: secops") && !shown.contains("hunter2"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(r.run(&["scans", "show", "aaaa", "--format", "json"]).ok()).unwrap();
    assert_eq!(json["stats"]["files"], 3);
    r.run(&["scans", "show", "zzzz"]).fails(2, "no scan job with id \"zzzz\"");
    r.run(&["scans", "list", "--limit", "0"]).fails(2, "--limit must be 1 to 200");
}
