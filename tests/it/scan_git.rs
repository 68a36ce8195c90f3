//! `revokd scan --git`: history enumeration and attribution on repositories built with
//! the real `git` command in temporary directories.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{revokd, stderr, stdout};
use crate::testdb::xai_token;

/// A repository in a temporary directory, driven by the `git` command with a fixed
/// identity and a clock that advances one minute per commit (deterministic ids).
pub struct Repo {
    pub dir: tempfile::TempDir,
    clock: u64,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().expect("temporary directory"), clock: 1_700_000_000 };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository; panics with its stderr on failure. Returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args, self.clock)
    }

    pub fn write(&self, path: &str, text: &str) {
        let file = self.path().join(path);
        std::fs::create_dir_all(file.parent().expect("a file has a parent")).expect("create directories");
        std::fs::write(file, text).expect("write file");
    }

    /// Stages everything and commits; returns the new commit id.
    pub fn commit(&mut self, message: &str) -> String {
        self.clock += 60;
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// Runs git in `dir` with a fixed identity and date, isolated from user configuration.
pub fn git_in(dir: &Path, args: &[&str], clock: u64) -> String {
    let date = format!("@{clock} +0000");
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `revokd scan --git --format json` with `extra` arguments; returns (exit code, report).
pub fn scan_json(target: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["scan", "--git", "--format", "json", target];
    args.extend_from_slice(extra);
    let output = revokd(Path::new("/"), &args, b"");
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("JSON report ({e}): {}\nstderr: {}", stdout(&output), stderr(&output)));
    (output.status.code().unwrap_or(-1), report, stderr(&output))
}

/// Runs `revokd scan --git` expected to fail; returns (exit code, stderr).
fn scan_fails(target: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["scan", "--git", target];
    args.extend_from_slice(extra);
    let output = revokd(Path::new("/"), &args, b"");
    (output.status.code().unwrap_or(-1), stderr(&output))
}

/// (path, commit) of every finding, in report order.
pub fn places(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or("").to_string(), f["commit"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn committed_deleted_and_readded_secret_is_reported_once_per_place_with_its_introducing_commit() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("README.md", "hello\n");
    let c1 = repo.commit("readme");
    repo.write("config.py", &format!("KEY = '{secret}'\n"));
    let c2 = repo.commit("add key");
    repo.write("config.py", &format!("# settings\nKEY = '{secret}'\n"));
    repo.commit("edit the file that holds the key: same secret, same place");
    std::fs::remove_file(repo.path().join("config.py")).expect("remove");
    repo.commit("remove key");
    repo.write("deploy/env.sh", &format!("export XAI='{secret}'\n"));
    let c5 = repo.commit("re-add key elsewhere");
    let (code, report, err) = scan_json(&path_str(repo.path()), &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(places(&report), [("config.py".to_string(), c2.clone()), ("deploy/env.sh".to_string(), c5)]);
    let first = &report["findings"][0];
    assert_eq!(first["line"], 1, "attributed to the introducing blob's position");
    assert_eq!(first["author"], "Ada Lovelace <ada@example.com>");
    assert_eq!(first["date"], "2023-11-14T22:15:20Z");
    assert!(!stdout_has_secret(&report, &secret), "no raw secret without --show-secrets");
    let history = &report["stats"]["history"];
    assert_eq!(history["commits"], 5);
    // README, config.py twice, env.sh: four distinct blobs, each scanned once.
    assert_eq!(history["blobs"], 4);
    assert_eq!(report["stats"]["files"], 4);
    assert_ne!(c1, c2);
}

fn stdout_has_secret(report: &Value, secret: &str) -> bool {
    report.to_string().contains(secret)
}

#[test]
fn every_ref_is_scanned_branches_tags_stash_and_ref_limits_it() {
    let (on_branch, on_tag, in_stash) = (xai_token(), xai_token(), xai_token());
    let mut repo = Repo::new();
    repo.write("a.txt", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write("feature.txt", &format!("{on_branch}\n"));
    let branch_commit = repo.commit("feature work");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.git(&["checkout", "--quiet", "-b", "release"]);
    repo.write("tagged.txt", &format!("{on_tag}\n"));
    let tag_commit = repo.commit("tagged work");
    repo.git(&["tag", "-a", "v1", "-m", "annotated tag"]);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.git(&["branch", "--quiet", "-D", "release"]);
    repo.write("a.txt", &format!("base\n{in_stash}\n"));
    repo.git(&["stash", "--quiet"]);
    let (code, report, err) = scan_json(&path_str(repo.path()), &[]);
    assert_eq!(code, 1, "{err}");
    let found = places(&report);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&("feature.txt".to_string(), branch_commit)));
    assert!(found.contains(&("tagged.txt".to_string(), tag_commit)));
    assert!(found.iter().any(|(path, _)| path == "a.txt"), "the stash is scanned: {found:?}");
    let (code, report, err) = scan_json(&path_str(repo.path()), &["--ref", "main"]);
    assert_eq!((code, places(&report).len()), (0, 0), "{err}");
    let (code, report, _) = scan_json(&path_str(repo.path()), &["--ref", "v1"]);
    assert_eq!((code, places(&report).len()), (1, 1));
    let (code, err) = scan_fails(&path_str(repo.path()), &["--ref", "no-such-ref"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-ref"), "{err}");
}

#[test]
fn renames_and_merges_keep_the_introducing_commit() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("base.txt", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write("old/name.py", &format!("K = '{secret}'\n"));
    let introduced = repo.commit("add");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write("other.txt", "main moves on\n");
    repo.commit("main work");
    repo.clock += 60;
    repo.git(&["merge", "--quiet", "--no-ff", "-m", "merge feature", "feature"]);
    std::fs::create_dir_all(repo.path().join("new")).expect("create directory");
    repo.git(&["mv", "old/name.py", "new/name.py"]);
    let renamed = repo.commit("rename");
    let (code, report, err) = scan_json(&path_str(repo.path()), &[]);
    assert_eq!(code, 1, "{err}");
    // The merge introduces nothing; the rename puts the same blob at a new path.
    assert_eq!(places(&report), [("new/name.py".to_string(), renamed), ("old/name.py".to_string(), introduced)]);
    assert_eq!(report["stats"]["files"], 3, "the secret blob is scanned once, at either path, beside two clean ones");
}

#[test]
fn shallow_clone_is_scanned_from_its_boundary() {
    let (old, new) = (xai_token(), xai_token());
    let mut origin = Repo::new();
    origin.write("keys.txt", &format!("{old}\n"));
    origin.commit("old key");
    for n in 0..3 {
        origin.write("log.txt", &format!("entry {n}\n"));
        origin.commit("log");
    }
    origin.write("more.txt", &format!("{new}\n"));
    let newest = origin.commit("new key");
    let clone = tempfile::tempdir().expect("temporary directory");
    let url = format!("file://{}", origin.path().display());
    git_in(clone.path(), &["clone", "--quiet", "--depth", "2", &url, "shallow"], 0);
    let shallow = clone.path().join("shallow");
    assert!(shallow.join(".git/shallow").exists(), "the clone is shallow");
    let (code, report, err) = scan_json(&path_str(&shallow), &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["stats"]["history"]["commits"], 2);
    assert_eq!(report["stats"]["errors"], 0, "the shallow boundary is not an error: {err}");
    let found = places(&report);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&("more.txt".to_string(), newest)));
    // The old key predates the clone: it is attributed to the boundary commit.
    let boundary = git_in(&shallow, &["rev-parse", "HEAD~1"], 0).trim().to_string();
    assert!(found.contains(&("keys.txt".to_string(), boundary)), "{found:?}");
}

#[test]
fn corrupt_object_is_a_warning_and_the_rest_is_still_scanned() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("clean.txt", "nothing to see here, just a longer line of text\n");
    repo.write("secret.txt", &format!("{secret}\n"));
    repo.commit("two files");
    let blob = repo.git(&["rev-parse", "HEAD:clean.txt"]).trim().to_string();
    let loose = repo.path().join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    let mut permissions = std::fs::metadata(&loose).expect("loose object").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&loose, permissions).expect("make writable");
    std::fs::write(&loose, b"this is not zlib data at all").expect("corrupt the object");
    let (code, report, err) = scan_json(&path_str(repo.path()), &[]);
    assert_eq!(code, 1, "findings still reported: {err}");
    assert_eq!(places(&report).len(), 1);
    assert_eq!(report["stats"]["errors"], 1);
    assert!(err.contains("warning") && err.contains(&blob), "{err}");
}

#[test]
fn file_url_is_cloned_and_scanned_like_the_local_path() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("app/settings.py", &format!("XAI = '{secret}'\n"));
    let commit = repo.commit("settings");
    repo.git(&["checkout", "--quiet", "-b", "other"]);
    let url = format!("file://{}", repo.path().display());
    let (code, report, err) = scan_json(&url, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(places(&report), [("app/settings.py".to_string(), commit)]);
    let (code, err) = scan_fails("file:///nonexistent/revokd-test-repo", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cloning"), "{err}");
}

#[test]
fn submodules_and_lfs_pointers_are_skipped_and_counted_in_every_format() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write(
        "big.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    repo.write("key.txt", &format!("{secret}\n"));
    repo.commit("lfs pointer and a key");
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{head},vendor/lib")]);
    repo.clock += 60;
    repo.git(&["commit", "--quiet", "-m", "submodule"]);
    let (code, report, err) = scan_json(&path_str(repo.path()), &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["stats"]["history"]["lfs_pointers"], 1);
    assert_eq!(report["stats"]["history"]["submodules"], 1);
    let target = path_str(repo.path());
    for format in ["human", "jsonl", "sarif"] {
        let output = revokd(Path::new("/"), &["scan", "--git", "--format", format, &target], b"");
        assert_eq!(output.status.code(), Some(1), "{format}: {}", stderr(&output));
        assert!(stdout(&output).contains(&head[..12]), "{format} carries the commit: {}", stdout(&output));
    }
}

#[test]
fn not_a_repository_is_an_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = revokd(dir.path(), &["scan", "--git", "."], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a git repository"), "{}", stderr(&output));
}
