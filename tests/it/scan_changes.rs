//! `revokd scan --staged`, `--git --range`, `--git --since-commit` and `--pre-push` on
//! repositories built with the real `git` command: only what the change added is
//! reported.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::scan_git::{Repo, git_in};
use crate::support::{revokd, stderr, stdout};
use crate::testdb::xai_token;

/// Runs `revokd ARGS --format json` in `dir`; returns (exit code, report, stderr).
fn scan_json(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, Value, String) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    let output = revokd(dir, &all, stdin);
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("JSON report ({e}): {}\nstderr: {}", stdout(&output), stderr(&output)));
    (output.status.code().unwrap_or(-1), report, stderr(&output))
}

/// (path, line) of every finding.
fn lines(report: &Value) -> Vec<(String, u64)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or("").to_string(), f["line"].as_u64().unwrap_or(0)))
        .collect()
}

/// (path, commit) of every finding.
fn commits(report: &Value) -> Vec<(String, String)> {
    crate::scan_git::places(report)
}

#[test]
fn staged_scan_reads_the_index_not_the_work_tree_and_only_added_lines() {
    let (old, new, unstaged) = (xai_token(), xai_token(), xai_token());
    let mut repo = Repo::new();
    repo.write("settings.py", &format!("OLD = '{old}'\nDEBUG = False\n"));
    repo.commit("an old key, already committed");
    // Staged: a new key in settings.py below the old one, and a new file.
    repo.write("settings.py", &format!("OLD = '{old}'\nDEBUG = True\nNEW = '{new}'\n"));
    repo.write("dir with space/é.txt", &format!("token {new}\n"));
    repo.git(&["add", "--all"]);
    // Not staged: the work tree drops the new key and adds another one.
    repo.write("settings.py", &format!("OLD = '{old}'\nDEBUG = True\nLATER = '{unstaged}'\n"));
    let (code, report, err) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!(code, 1, "{err}");
    assert_eq!(lines(&report), [("dir with space/é.txt".to_string(), 1), ("settings.py".to_string(), 3)]);
    let text = report.to_string();
    assert!(!text.contains(&new) && !text.contains(&old), "no raw secret in the report");
    assert!(report["findings"][0]["commit"].is_null(), "staged content has no commit yet");
    assert!(err.contains("the commit is stopped") && err.contains("revokd:allow"), "{err}");
}

#[test]
fn staged_scan_works_before_the_first_commit_and_is_clean_when_nothing_is_added() {
    let key = xai_token();
    let mut repo = Repo::new();
    repo.write("a.env", &format!("KEY={key}\n"));
    repo.git(&["add", "--all"]);
    let (code, report, err) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!((code, lines(&report)), (1, vec![("a.env".to_string(), 1)]), "{err}");
    repo.git(&["commit", "--quiet", "-m", "first"]);
    // Nothing staged; then a deletion of the line and a rename: nothing added.
    let (code, report, _) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!((code, report["findings"].as_array().map(Vec::len)), (0, Some(0)));
    repo.git(&["mv", "a.env", "b.env"]);
    let (code, _, err) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!(code, 0, "a renamed file adds no line: {err}");
    repo.commit("rename");
}

#[test]
fn the_repository_baseline_and_allow_markers_apply_to_staged_scans() {
    let (allowed, accepted) = (xai_token(), xai_token());
    let mut repo = Repo::new();
    repo.write("README.md", "hello\n");
    repo.commit("readme");
    repo.write("test_data.py", &format!("FAKE = '{allowed}'  # revokd:allow\n"));
    repo.write("fixtures.py", &format!("ACCEPTED = '{accepted}'\n"));
    repo.git(&["add", "--all"]);
    let (code, report, _) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!((code, lines(&report)), (1, vec![("fixtures.py".to_string(), 1)]));
    // The way out the message gives: a baseline at the repository root.
    let written = revokd(repo.path(), &["scan", "--write-baseline", ".revokd-baseline.json"], b"");
    assert_eq!(written.status.code(), Some(1), "{}", stderr(&written));
    let (code, report, err) = scan_json(repo.path(), &["--staged"], b"");
    assert_eq!((code, lines(&report)), (0, vec![]), "{err}");
}

/// A repository with a bare `origin`: `main` pushed up to `pushed`, then unpushed commits.
struct Pushed {
    repo: Repo,
    _remote: tempfile::TempDir,
    pushed: String,
    b_commit: String,
    c_commit: String,
}

fn pushed_and_unpushed() -> Pushed {
    let (a, b, c) = (xai_token(), xai_token(), xai_token());
    let remote = tempfile::tempdir().expect("temporary directory");
    git_in(remote.path(), &["init", "--quiet", "--bare", "--initial-branch=main"], 0);
    let mut repo = Repo::new();
    repo.git(&["remote", "add", "origin", &remote.path().display().to_string()]);
    repo.write("a.py", &format!("A = '{a}'\n"));
    let pushed = repo.commit("pushed: a key already on the remote");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.write("b.py", &format!("B = '{b}'\n"));
    let b_commit = repo.commit("adds b");
    repo.write("a.py", &format!("A = '{a}'\nMORE = 1\n"));
    repo.commit("edits a.py below the pushed key");
    repo.write("c.py", &format!("C = '{c}'\n"));
    let c_commit = repo.commit("adds c");
    std::fs::remove_file(repo.path().join("c.py")).expect("remove");
    repo.commit("deletes c: still in the pushed history");
    Pushed { repo, _remote: remote, pushed, b_commit, c_commit }
}

#[test]
fn range_and_since_commit_report_only_what_unpushed_commits_added() {
    let p = pushed_and_unpushed();
    let expected = vec![("b.py".to_string(), p.b_commit.clone()), ("c.py".to_string(), p.c_commit.clone())];
    for args in [
        vec!["--git", "--range", "origin/main..HEAD"],
        vec!["--git", "--since-commit", "origin/main"],
        vec!["--git", "--since-commit", p.pushed.as_str()],
    ] {
        let (code, report, err) = scan_json(p.repo.path(), &args, b"");
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(commits(&report), expected, "{args:?}");
        assert_eq!(report["stats"]["history"]["commits"], 4, "{args:?}");
        assert!(err.contains("not yet pushed"), "{err}");
    }
    let (code, report, _) = scan_json(p.repo.path(), &["--git", "--range", "HEAD~1..HEAD"], b"");
    assert_eq!((code, commits(&report)), (0, vec![]), "a commit that only deletes adds nothing");
}

#[test]
fn pre_push_reads_git_s_lines_for_updated_and_new_branches() {
    let p = pushed_and_unpushed();
    let head = p.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let zeros = "0".repeat(40);
    let expected = vec![("b.py".to_string(), p.b_commit.clone()), ("c.py".to_string(), p.c_commit.clone())];
    let update = format!("refs/heads/main {head} refs/heads/main {}\n", p.pushed);
    let new_branch = format!("refs/heads/topic {head} refs/heads/topic {zeros}\n");
    for stdin in [update, new_branch] {
        let (code, report, err) = scan_json(p.repo.path(), &["--pre-push", "--remote", "origin"], stdin.as_bytes());
        assert_eq!((code, commits(&report)), (1, expected.clone()), "{stdin}: {err}");
    }
    let deletion = format!("(delete) {zeros} refs/heads/old {head}\n");
    let (code, report, _) = scan_json(p.repo.path(), &["--pre-push", "--remote", "origin"], deletion.as_bytes());
    assert_eq!((code, commits(&report)), (0, vec![]), "a deletion pushes no commit");
    let output = revokd(p.repo.path(), &["scan", "--pre-push"], b"not a pre-push line\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a pre-push line"), "{}", stderr(&output));
}

#[test]
fn a_merge_reports_only_what_it_added_itself() {
    let (theirs, resolution) = (xai_token(), xai_token());
    let mut repo = Repo::new();
    repo.write("base.txt", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "--quiet", "-b", "side"]);
    repo.write("side.py", &format!("S = '{theirs}'\n"));
    let side_commit = repo.commit("side adds a key");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write("main.txt", "main\n");
    repo.commit("main moves on");
    repo.git(&["merge", "--quiet", "--no-commit", "side"]);
    repo.write("merge.py", &format!("R = '{resolution}'\n"));
    let merge = repo.commit("merge with an extra key");
    // Only the merge itself: the side branch's key came from a parent.
    let (code, report, err) = scan_json(repo.path(), &["--git", "--range", "HEAD^1..HEAD"], b"");
    assert_eq!(code, 1, "{err}");
    let found = commits(&report);
    assert!(found.contains(&("merge.py".to_string(), merge)), "{found:?}");
    let side: Vec<_> = found.iter().filter(|(path, _)| path == "side.py").collect();
    assert_eq!(side, [&("side.py".to_string(), side_commit)], "once, with its own commit: {found:?}");
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn hostile_ranges_are_revisions_not_options() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit("a");
    let out = repo.path().join("written-by-git");
    let spec = format!("--range=--output={}", out.display());
    for args in [vec!["scan", "--git", spec.as_str()], vec!["scan", "--git", "--range", "nope..HEAD"]] {
        let output = revokd(repo.path(), &args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stdout(&output));
        assert!(stderr(&output).contains("git rev-list"), "{}", stderr(&output));
    }
    assert!(!out.exists(), "a range is never passed to git as an option");
    let elsewhere = tempfile::tempdir().expect("temporary directory");
    let output = revokd(elsewhere.path(), &["scan", "--staged"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a git repository"), "{}", stderr(&output));
}

/// Runs `git ARGS` in `dir` with the environment of the tests' `Repo` plus `env`,
/// without asserting success (hooks may refuse).
pub fn git_hooked(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("git runs")
}
