//! Incremental `revokd scan --git`: with a database configured, blobs found clean are
//! remembered per repository and rule set; a rescan reads only new blobs and reports
//! the same findings. On SQLite and PostgreSQL.

use serde_json::Value;

use crate::scan_git::Repo;
use crate::support::fixture;
use crate::testdb::{Backend, Revokd, xai_token};

/// A token of the custom `acme_token` rule in fixtures/scan/custom-rule.toml.
const ACME: &str = "acme_3f9a1c77b2e04d5c8a6b19e0f2d4c7a1";

fn scan(revokd: &Revokd, repo: &Repo, extra: &[&str]) -> Value {
    let target = repo.path().display().to_string();
    let mut args = vec!["scan", "--git", "--format", "json", &target];
    args.extend_from_slice(extra);
    let run = revokd.run(&args);
    assert!(run.code == 0 || run.code == 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).expect("a JSON report")
}

/// (blobs scanned, blobs remembered, findings).
fn counts(report: &Value) -> (u64, u64, usize) {
    let files = report["stats"]["files"].as_u64().expect("files");
    let remembered = report["stats"]["history"]["blobs_remembered"].as_u64().expect("blobs_remembered");
    (files, remembered, report["findings"].as_array().expect("findings").len())
}

fn rescans_read_only_new_blobs(backend: Backend) {
    let revokd = Revokd::new(backend);
    let mut repo = Repo::new();
    repo.write("a.txt", "alpha\n");
    repo.write("b.txt", &format!("beta\n{ACME}\n"));
    repo.write("c.txt", "gamma\n");
    repo.write("key.env", &format!("XAI={}\n", xai_token()));
    repo.commit("first");

    let first = scan(&revokd, &repo, &[]);
    assert_eq!(counts(&first), (4, 0, 1));

    let second = scan(&revokd, &repo, &[]);
    assert_eq!(counts(&second), (1, 3, 1), "only the blob with a finding is read again");
    assert_eq!(first["findings"], second["findings"], "same findings");

    repo.write("d.txt", "delta\n");
    repo.commit("second");
    let third = scan(&revokd, &repo, &[]);
    assert_eq!(counts(&third), (2, 3, 1), "the new blob and the one with a finding");

    // A rule change (a user rule that matches a blob remembered as clean) scans everything.
    let rules = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(fixture("scan/custom-rule.toml"), rules.path().join("acme.toml")).expect("copy rule");
    let dir = rules.path().display().to_string();
    let changed = scan(&revokd, &repo, &["--patterns", &dir]);
    assert_eq!(counts(&changed), (5, 0, 2), "new rules: every blob again, and the old blob's new finding");
    let again = scan(&revokd, &repo, &["--patterns", &dir]);
    assert_eq!(counts(&again), (2, 3, 2));
    assert_eq!(changed["findings"], again["findings"]);

    let full = scan(&revokd, &repo, &["--full"]);
    assert_eq!(counts(&full), (5, 0, 1), "--full reads every blob");
}

#[test]
fn rescans_read_only_new_blobs_sqlite() {
    rescans_read_only_new_blobs(Backend::Sqlite);
}

#[test]
fn rescans_read_only_new_blobs_postgres() {
    rescans_read_only_new_blobs(Backend::Postgres);
}
