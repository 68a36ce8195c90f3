//! `revokd audit`, `revokd audit verify` and `revokd db …` through the real binary.

use std::process::Stdio;

use crate::both_backends_sync;
use crate::testdb::{Backend, Revokd, drop_audit_triggers, raw_sql, runtime};

both_backends_sync!(audit_search_and_verify, verify_fails_on_tampering, processes_appending_at_once, db_commands);

fn audit_search_and_verify(backend: Backend) {
    let r = Revokd::new(backend);
    r.run(&["teams", "add", "payments", "--admin", "alice@example.com"]).ok();
    r.run(&["keys", "issue", "--team", "payments"]).ok();
    r.run(&["keys", "disable", "1", "--reason", "Suspicious login"]).ok();

    let out = r.run(&["audit"]).ok().to_string();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.lines().nth(3).unwrap().contains("key.disabled"), "{out}");

    let json: serde_json::Value =
        serde_json::from_str(r.run(&["audit", "--format", "json", "--event", "key.disabled"]).ok()).unwrap();
    let e = &json[0];
    assert_eq!(
        (e["id"].as_i64(), e["actor"].as_str(), e["team"].as_str(), e["key_id"].as_i64()),
        (Some(4), Some("cli:tester"), Some("payments"), Some(1))
    );
    assert_eq!(e["details"]["reason"], "Suspicious login");
    assert!(e["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["hash"].as_str().unwrap().len(), 64);

    let count = |args: &[&str]| r.run(args).ok().lines().count();
    assert_eq!(count(&["audit", "--grep", "suspicious"]), 1);
    assert_eq!(count(&["audit", "--actor", "cli:tester", "--event", "key.*"]), 2);
    assert_eq!(count(&["audit", "--id", "2"]), 1);
    assert_eq!(count(&["audit", "--since", "1h"]), 4);
    assert_eq!(count(&["audit", "--until", "2000-01-01T00:00:00Z"]), 0);
    assert_eq!(count(&["audit", "--since", "2000-01-01T00:00:00Z", "--limit", "2"]), 2);
    r.run(&["audit", "--since", "yesterday"]).fails(2, "--since");
    r.run(&["audit", "--team", "nope"]).fails(2, "no team named");

    let out = r.run(&["audit", "verify"]).ok().to_string();
    assert!(out.starts_with("audit chain intact: 4 event(s), head "), "{out}");
}

fn verify_fails_on_tampering(backend: Backend) {
    let r = Revokd::new(backend);
    r.run(&["teams", "add", "payments", "--admin", "alice@example.com"]).ok();
    r.run(&["keys", "issue", "--team", "payments"]).ok();
    r.run(&["keys", "disable", "1", "--reason", "x"]).ok();
    runtime().block_on(async {
        let store = r.db.store().await;
        drop_audit_triggers(&store).await;
        raw_sql(&store, "UPDATE audit_events SET description = 'nothing to see' WHERE id = 3").await;
        store.close().await;
    });
    let run = r.run(&["audit", "verify"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("BROKEN at event 3"), "{}", run.stdout);
}

/// Several `revokd` processes write at once: the chain stays one valid line.
fn processes_appending_at_once(backend: Backend) {
    let r = Revokd::new(backend);
    r.run(&["teams", "add", "payments", "--admin", "alice@example.com"]).ok();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let args: Vec<String> = if i % 2 == 0 {
                vec!["keys".into(), "issue".into(), "--team".into(), "payments".into()]
            } else {
                vec!["teams".into(), "add".into(), format!("team{i}"), "--admin".into(), format!("a{i}@example.com")]
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            r.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // 2 (first team) + 4 key.issued + 4 × (team.created + member.added)
    let out = r.run(&["audit", "verify"]).ok().to_string();
    assert!(out.starts_with("audit chain intact: 14 event(s)"), "{out}");
}

fn db_commands(backend: Backend) {
    let r = Revokd::new(backend);
    let out = r.run(&["db", "migrate"]).ok().to_string();
    // Every migration of the tree (store schema, webhook deliveries, …) on a fresh database.
    assert!(out.contains(" migration(s): 20261129000001"), "{out}");
    let out = r.run(&["db", "migrate"]).ok().to_string();
    assert!(out.contains("schema up to date"), "{out}");
    let out = r.run(&["db", "purge"]).ok().to_string();
    assert!(out.contains("purged 0 leak record(s) last seen more than 30 day(s) ago"), "{out}");
    let out = r.run(&["db", "purge", "--days", "7"]).ok().to_string();
    assert!(out.contains("more than 7 day(s)"), "{out}");
    r.run(&["db", "purge", "--days", "0"]).fails(2, "at least 1");
    assert_eq!(r.run(&["audit", "--event", "leaks.purged"]).ok().lines().count(), 2);
}
