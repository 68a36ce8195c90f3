//! `revokd teams …` through the real binary, on both backends.

use crate::both_backends_sync;
use crate::testdb::{Backend, Revokd};

both_backends_sync!(teams_commands, teams_errors);

fn teams_commands(backend: Backend) {
    let r = Revokd::new(backend);
    let out = r
        .run(&[
            "teams",
            "add",
            "payments",
            "--admin",
            "alice@example.com",
            "--admin",
            "bob@example.com",
            "--member",
            "carol@example.com",
        ])
        .ok()
        .to_string();
    assert!(out.contains("created team payments"), "{out}");
    r.run(&["teams", "add", "ops", "--admin", "ops@example.com"]).ok();

    let out = r.run(&["teams", "list"]).ok().to_string();
    assert!(out.contains("payments") && out.contains("ops"), "{out}");
    let list: serde_json::Value = serde_json::from_str(r.run(&["teams", "list", "--format", "json"]).ok()).unwrap();
    assert_eq!(list[1]["name"], "payments");
    assert_eq!((list[1]["admins"].as_i64(), list[1]["members"].as_i64()), (Some(2), Some(1)));

    r.run(&["teams", "add-member", "payments", "dan@example.com", "--role", "admin"]).ok();
    r.run(&["teams", "add-member", "payments", "erin@example.com"]).ok();
    r.run(&["teams", "remove-member", "payments", "alice@example.com"]).ok();
    let out = r.run(&["teams", "members", "payments"]).ok().to_string();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["admin   bob@example.com", "admin   dan@example.com", "member  carol@example.com", "member  erin@example.com"]
    );
    let members: serde_json::Value =
        serde_json::from_str(r.run(&["teams", "members", "ops", "--format", "json"]).ok()).unwrap();
    assert_eq!(members, serde_json::json!([{"email": "ops@example.com", "role": "admin"}]));

    let audit = r.run(&["audit", "--team", "payments", "--event", "member.*"]).ok().to_string();
    assert!(audit.contains("member.removed") && audit.contains("cli:tester"), "{audit}");
}

fn teams_errors(backend: Backend) {
    let r = Revokd::new(backend);
    r.run(&["teams", "add", "payments"]).fails(2, "--admin");
    r.run(&["teams", "add", "payments", "--admin", "alice@example.com"]).ok();
    r.run(&["teams", "add", "payments", "--admin", "x@example.com"]).fails(2, "already exists");
    r.run(&["teams", "add", "bad/name", "--admin", "x@example.com"]).fails(2, "invalid team name");
    r.run(&["teams", "add", "ops", "--admin", "nobody"]).fails(2, "invalid email");
    r.run(&["teams", "members", "nope"]).fails(2, "no team named \"nope\"");
    r.run(&["teams", "add-member", "nope", "a@b.c"]).fails(2, "no team named");
    r.run(&["teams", "add-member", "payments", "alice@example.com", "--role", "admin"]).fails(2, "already admin");
    r.run(&["teams", "add-member", "payments", "a@b.c", "--role", "owner"]).fails(2, "owner");
    r.run(&["teams", "remove-member", "payments", "alice@example.com"]).fails(2, "last admin");
    r.run(&["teams", "remove-member", "payments", "zed@example.com"]).fails(2, "not a member");
}
