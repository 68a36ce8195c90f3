//! `revokd scan --revoke`: the CLI door into the same core.

use super::token;
use crate::support::{revokd, stderr};

#[test]
fn scan_revoke_disables_a_leaked_key_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("revokd.toml");
    std::fs::write(&config, "[database]\nurl = \"sqlite://revokd.db\"\n").unwrap();
    let config = config.to_str().unwrap();
    let ours = token("scan revoke");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        revokd(dir.path(), &all, stdin)
    };
    assert!(run(&["teams", "add", "acme", "--admin", "owner@example.com"], b"").status.success());
    let imported = run(&["keys", "import", "--team", "acme"], format!("{ours}\n").as_bytes());
    assert!(imported.status.success(), "{}", stderr(&imported));
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/app.py"), format!("KEY = \"{ours}\"\n")).unwrap();

    let scanned = run(&["scan", "--revoke", "--no-progress", "--format", "json", "src"], b"");
    assert_eq!(scanned.status.code(), Some(1), "{}", stderr(&scanned));
    let err = stderr(&scanned);
    assert!(err.contains("disabled key 1") && err.contains("src/app.py:1"), "{err}");
    assert!(!err.contains(&ours) && !crate::support::stdout(&scanned).contains(&ours));

    let again = run(&["scan", "--revoke", "--no-progress", "--format", "json", "src"], b"");
    assert!(stderr(&again).contains("key 1 was already disabled"), "{}", stderr(&again));
    let listed = run(&["keys", "list", "--format", "json"], b"");
    assert!(crate::support::stdout(&listed).contains("\"disabled\""), "{}", crate::support::stdout(&listed));
}
