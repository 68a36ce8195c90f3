//! `revokd keys …` through the real binary, on both backends.

use std::os::unix::fs::PermissionsExt;

use crate::both_backends_sync;
use crate::testdb::{Backend, Revokd, runtime, xai_token};

both_backends_sync!(issue_list_and_status_changes, import_tokens, keys_errors, pepper_permissions);

fn payments(backend: Backend) -> Revokd {
    let r = Revokd::new(backend);
    r.run(&["teams", "add", "payments", "--admin", "alice@example.com"]).ok();
    r
}

fn issue_list_and_status_changes(backend: Backend) {
    let r = payments(backend);
    let out = r.run(&["keys", "issue", "--team", "payments"]).ok().to_string();
    let key = out.lines().last().unwrap();
    assert!(key.starts_with("xai-") && key.len() == 84, "last line is the key: {out}");
    assert_eq!(out.matches(&key[4..]).count(), 1, "the key is printed once");
    let pepper = r.dir().join("revokd.pepper");
    assert_eq!(std::fs::metadata(&pepper).unwrap().permissions().mode() & 0o777, 0o600);

    // The printed key is recognised by the scanner and by the store (via its HMAC).
    let scan = r.run_with_stdin(&["scan", "-", "--format", "json"], &format!("KEY={key}\n"));
    assert_eq!(scan.code, 1, "scan finds the issued key: {}", scan.stderr);
    let pepper = revokd::pepper::Pepper::load(&pepper).unwrap();
    let found = runtime().block_on(async { r.db.store().await.find_key_by_hash(&pepper.key_hash(key)).await.unwrap() });
    assert_eq!(found.map(|k| k.id), Some(1));

    let list: serde_json::Value = serde_json::from_str(r.run(&["keys", "list", "--format", "json"]).ok()).unwrap();
    let k = &list[0];
    let mut fields: Vec<_> = k.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["created_at", "disabled_at", "disabled_reason", "id", "key_type", "redacted", "status", "team"]
    );
    assert_eq!(
        (k["id"].as_i64(), k["status"].as_str(), k["team"].as_str()),
        (Some(1), Some("active"), Some("payments"))
    );
    assert_eq!(k["redacted"].as_str().unwrap(), format!("xai-…{}", &key[82..]));
    assert!(!r.run(&["keys", "list"]).ok().contains(&key[4..]));

    r.run(&["keys", "disable", "1", "--reason", "rotation"]).ok();
    let list: serde_json::Value =
        serde_json::from_str(r.run(&["keys", "list", "--status", "disabled", "--format", "json"]).ok()).unwrap();
    assert_eq!(list[0]["disabled_reason"], "rotation");
    assert!(list[0]["disabled_at"].is_string());
    r.run(&["keys", "restore", "1", "--reason", "mistake"]).ok();
    r.run(&["keys", "delete", "1", "--reason", "retired"]).ok();
    let list: serde_json::Value = serde_json::from_str(
        r.run(&["keys", "list", "--team", "payments", "--status", "deleted", "--format", "json"]).ok(),
    )
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let empty = r.run(&["keys", "list", "--status", "active", "--format", "json"]).ok().to_string();
    assert_eq!(empty.trim(), "[]");
    let audit = r.run(&["audit", "--key", "1"]).ok().to_string();
    for event in ["key.issued", "key.disabled", "key.restored", "key.deleted"] {
        assert!(audit.contains(event), "{event} missing:\n{audit}");
    }
}

fn import_tokens(backend: Backend) {
    let r = payments(backend);
    let (a, b) = (xai_token(), xai_token());
    let out = r
        .run_with_stdin(&["keys", "import", "--team", "payments"], &format!("# ours\n{a}\n\n  {b}\r\n"))
        .ok()
        .to_string();
    assert!(out.contains("2 key(s) imported"), "{out}");
    assert!(!out.contains(&a[4..]) && !out.contains(&b[4..]), "tokens are not echoed");

    // A bad line fails the whole import, naming the line, not the token.
    let c = xai_token();
    let run = r.run_with_stdin(&["keys", "import", "--team", "payments"], &format!("{c}\nxai-short\n"));
    run.fails(2, "stdin line 2");
    assert!(!run.stderr.contains(&c[4..]));
    let run = r.run_with_stdin(&["keys", "import", "--team", "payments"], &format!("{c}\n{a}\n"));
    run.fails(2, "stdin line 2: token already stored as key 1");
    r.run_with_stdin(&["keys", "import", "--team", "payments"], &format!("{c}\n{c}\n"))
        .fails(2, "same token as line 1");
    r.run_with_stdin(&["keys", "import", "--team", "payments"], "\n").fails(2, "no tokens");
    let list: serde_json::Value = serde_json::from_str(r.run(&["keys", "list", "--format", "json"]).ok()).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "failed imports stored nothing");
    let imported = r.run(&["audit", "--event", "key.imported"]).ok().to_string();
    assert_eq!(imported.lines().count(), 2);
}

fn keys_errors(backend: Backend) {
    let r = payments(backend);
    r.run(&["keys", "issue", "--team", "nope"]).fails(2, "no team named");
    r.run(&["keys", "issue", "--team", "payments", "--type", "nope"]).fails(2, "unknown key type");
    r.run(&["keys", "issue", "--team", "payments", "--type", "github_token"]).fails(2, "not revocable");
    r.run_with_stdin(&["keys", "import", "--team", "payments", "--type", "aws_access_key_id"], "x\n").fails(2, "");
    r.run(&["keys", "disable", "7", "--reason", "x"]).fails(2, "no key with id 7");
    r.run(&["keys", "disable", "7"]).fails(2, "--reason");
    r.run(&["keys", "disable", "seven", "--reason", "x"]).fails(2, "seven");
    r.run(&["keys", "issue", "--team", "payments"]).ok();
    r.run(&["keys", "restore", "1", "--reason", "x"]).fails(2, "key 1 is active");
    r.run(&["keys", "disable", "1", "--reason", " "]).fails(2, "reason is required");
    r.run(&["keys", "delete", "1", "--reason", "x"]).ok();
    r.run(&["keys", "restore", "1", "--reason", "x"]).fails(2, "key 1 is deleted");
    r.run(&["keys", "list", "--team", "nope"]).fails(2, "no team named");
    r.run(&["keys", "list", "--status", "lost"]).fails(2, "lost");
}

fn pepper_permissions(backend: Backend) {
    let r = payments(backend);
    r.run(&["keys", "issue", "--team", "payments"]).ok();
    let pepper = r.dir().join("revokd.pepper");
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o644)).unwrap();
    r.run(&["keys", "issue", "--team", "payments"]).fails(2, "chmod 600");
    r.run_with_stdin(&["keys", "import", "--team", "payments"], &format!("{}\n", xai_token()))
        .fails(2, "accessible by group or others");
    r.run(&["check-config"]).fails(2, "chmod 600");
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).unwrap();
    r.run(&["keys", "issue", "--team", "payments"]).ok();
}
