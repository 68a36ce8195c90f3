//! The hooks as developers meet them: through the real `pre-commit` framework (this
//! checkout's `.pre-commit-hooks.yaml`, offline, with the freshly built binary on PATH)
//! and through `revokd hook install`, committing and pushing with the real `git`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::scan_changes::git_hooked;
use crate::scan_git::{Repo, git_in};
use crate::support::{revokd, root, stderr, stdout};
use crate::testdb::xai_token;

/// Everything a hook printed (pre-commit and git interleave both streams).
fn printed(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

/// PATH with the directory of the freshly built revokd first.
fn path_with_revokd() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_revokd")).parent().expect("the binary has a directory");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// A hook repository for pre-commit: a git repository holding only this checkout's
/// `.pre-commit-hooks.yaml`, committed. Returns its commit id.
fn hook_repository(dir: &Path) -> String {
    git_in(dir, &["init", "--quiet", "--initial-branch=main"], 1_700_000_000);
    std::fs::copy(root().join(".pre-commit-hooks.yaml"), dir.join(".pre-commit-hooks.yaml"))
        .expect("the checkout has .pre-commit-hooks.yaml");
    git_in(dir, &["add", "--all"], 1_700_000_000);
    git_in(dir, &["commit", "--quiet", "-m", "hooks"], 1_700_000_000);
    git_in(dir, &["rev-parse", "HEAD"], 1_700_000_000).trim().to_string()
}

/// A work repository using both revokd hooks through pre-commit, with a bare remote.
struct Framework {
    repo: Repo,
    _hooks: tempfile::TempDir,
    _remote: tempfile::TempDir,
    home: tempfile::TempDir,
    path: String,
}

impl Framework {
    fn new() -> Framework {
        let hooks = tempfile::tempdir().expect("temporary directory");
        let rev = hook_repository(hooks.path());
        let remote = tempfile::tempdir().expect("temporary directory");
        git_in(remote.path(), &["init", "--quiet", "--bare", "--initial-branch=main"], 0);
        let repo = Repo::new();
        repo.git(&["remote", "add", "origin", &remote.path().display().to_string()]);
        repo.write(
            ".pre-commit-config.yaml",
            &format!(
                "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: revokd\n  - id: revokd-pre-push\n",
                hooks.path().display()
            ),
        );
        let framework = Framework {
            repo,
            _hooks: hooks,
            _remote: remote,
            home: tempfile::tempdir().expect("temporary directory"),
            path: path_with_revokd(),
        };
        let install = framework.run(&["pre-commit", "install", "--hook-type", "pre-commit", "--hook-type", "pre-push"]);
        assert!(install.status.success(), "pre-commit install: {}", printed(&install));
        framework
    }

    fn env(&self) -> Vec<(&str, &str)> {
        let home = self.home.path().to_str().expect("temporary paths are UTF-8");
        vec![("PATH", self.path.as_str()), ("PRE_COMMIT_HOME", home), ("PRE_COMMIT_COLOR", "never")]
    }

    /// Runs a program in the work repository with PATH and PRE_COMMIT_HOME set.
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(args[0]);
        command.args(&args[1..]).current_dir(self.repo.path()).env("GIT_CONFIG_GLOBAL", "/dev/null");
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command.output().unwrap_or_else(|e| panic!("{} runs: {e}", args[0]))
    }

    /// `git add --all && git commit -m MESSAGE` through the installed hooks.
    fn commit(&self, message: &str) -> Output {
        let env = self.env();
        let added = git_hooked(self.repo.path(), &["add", "--all"], &env);
        assert!(added.status.success(), "{}", printed(&added));
        git_hooked(self.repo.path(), &["commit", "--quiet", "-m", message], &env)
    }

    fn git(&self, args: &[&str]) -> Output {
        git_hooked(self.repo.path(), args, &self.env())
    }
}

#[test]
fn pre_commit_framework_blocks_a_new_key_and_lets_allowed_baselined_and_untouched_ones_pass() {
    let f = Framework::new();
    let (old, new, accepted, also) = (xai_token(), xai_token(), xai_token(), xai_token());
    f.repo.write("README.md", "hello\n");
    let first = f.commit("config and readme");
    assert!(first.status.success(), "a clean commit passes: {}", printed(&first));

    // An old finding, committed before the hook existed.
    f.repo.write("settings.py", &format!("DEBUG = False\nOLD_KEY = '{old}'\n"));
    f.git(&["add", "--all"]);
    let skipped = f.git(&["commit", "--quiet", "--no-verify", "-m", "old key"]);
    assert!(skipped.status.success(), "{}", printed(&skipped));

    // A commit adding a key is blocked, with what (redacted), where, and the ways out.
    f.repo.write("app.py", &format!("import os\n\nCLIENT_KEY = '{new}'\n"));
    let blocked = f.commit("add a client");
    let text = printed(&blocked);
    assert!(!blocked.status.success(), "{text}");
    assert!(text.contains("app.py:3:15 xai_api_key xai-"), "{text}");
    assert!(!text.contains(&new), "the key itself is never printed: {text}");
    for way_out in ["remove it", "revokd:allow", "revokd scan --write-baseline .revokd-baseline.json"] {
        assert!(text.contains(way_out), "{way_out:?} in {text}");
    }
    let head = String::from_utf8_lossy(&f.git(&["log", "--format=%s", "-1"]).stdout).trim().to_string();
    assert_eq!(head, "old key", "nothing was committed");

    // The same line marked `revokd:allow` passes.
    f.repo.write("app.py", &format!("import os\n\nCLIENT_KEY = '{new}'  # revokd:allow\n"));
    let marked = f.commit("add a client (test key)");
    assert!(marked.status.success(), "{}", printed(&marked));

    // A change elsewhere in the file holding the old finding passes.
    f.repo.write("settings.py", &format!("DEBUG = True\nOLD_KEY = '{old}'\nLOG_LEVEL = 'info'\n"));
    let untouched = f.commit("settings: debug on");
    assert!(untouched.status.success(), "{}", printed(&untouched));

    // A finding recorded in the repository baseline (as the message says) passes.
    f.repo.write("fixtures/keys.py", &format!("ACCEPTED = '{accepted}'\nALSO = '{also}'\n"));
    let blocked = f.commit("fixtures");
    assert!(!blocked.status.success(), "{}", printed(&blocked));
    let baseline = revokd(f.repo.path(), &["scan", "--write-baseline", ".revokd-baseline.json"], b"");
    assert_eq!(baseline.status.code(), Some(1), "{}", stderr(&baseline));
    let baselined = f.commit("fixtures, baselined");
    assert!(baselined.status.success(), "{}", printed(&baselined));
}

#[test]
fn pre_commit_framework_pre_push_blocks_only_unpushed_keys() {
    let f = Framework::new();
    let (old, new) = (xai_token(), xai_token());
    f.repo.write("settings.py", &format!("OLD = '{old}'\n"));
    f.git(&["add", "--all"]);
    let committed = f.git(&["commit", "--quiet", "--no-verify", "-m", "old key"]);
    assert!(committed.status.success(), "{}", printed(&committed));
    let pushed = f.git(&["push", "--quiet", "--no-verify", "origin", "main"]);
    assert!(pushed.status.success(), "{}", printed(&pushed));

    // A clean commit on top of the pushed key pushes fine: the old key is not in the range.
    f.repo.write("settings.py", &format!("OLD = '{old}'\nMORE = 1\n"));
    assert!(f.commit("more settings").status.success());
    let clean = f.git(&["push", "--quiet", "origin", "main"]);
    assert!(clean.status.success(), "{}", printed(&clean));

    // A key committed past the commit hook (--no-verify) is stopped at push time.
    f.repo.write("deploy.sh", &format!("export XAI='{new}'\n"));
    f.git(&["add", "--all"]);
    let sneaked = f.git(&["commit", "--quiet", "--no-verify", "-m", "deploy script"]);
    assert!(sneaked.status.success(), "{}", printed(&sneaked));
    let blocked = f.git(&["push", "--quiet", "origin", "main"]);
    let text = printed(&blocked);
    assert!(!blocked.status.success(), "{text}");
    assert!(text.contains("deploy.sh:1:13 xai_api_key xai-") && text.contains("(commit "), "{text}");
    assert!(!text.contains("settings.py"), "pushed keys are not reported again: {text}");
    assert!(text.contains("git rebase -i"), "{text}");
}

/// A hooks directory's `name` hook.
fn hook_file(repo: &Repo, name: &str) -> PathBuf {
    repo.path().join(".git").join("hooks").join(name)
}

#[test]
fn hook_install_writes_a_working_pre_commit_hook_and_keeps_foreign_ones() {
    use std::os::unix::fs::PermissionsExt;
    let mut repo = Repo::new();
    repo.write("README.md", "hello\n");
    repo.commit("readme");
    let installed = revokd(repo.path(), &["hook", "install"], b"");
    assert_eq!(installed.status.code(), Some(0), "{}", stderr(&installed));
    let hook = hook_file(&repo, "pre-commit");
    let text = std::fs::read_to_string(&hook).expect("the hook is written");
    assert!(text.contains(env!("CARGO_BIN_EXE_revokd")) && text.contains("scan --staged"), "{text}");
    assert_eq!(std::fs::metadata(&hook).expect("hook").permissions().mode() & 0o111, 0o111, "executable");

    // The real git runs it: a key is blocked, a clean change passes.
    let key = xai_token();
    repo.write("app.py", &format!("KEY = '{key}'\n"));
    git_in(repo.path(), &["add", "--all"], 1_700_000_100);
    let blocked = git_hooked(repo.path(), &["commit", "--quiet", "-m", "key"], &[]);
    assert!(!blocked.status.success());
    assert!(printed(&blocked).contains("app.py:1:8 xai_api_key") && !printed(&blocked).contains(&key));
    repo.write("app.py", "KEY = os.environ['KEY']\n");
    git_in(repo.path(), &["add", "--all"], 1_700_000_100);
    let clean = git_hooked(repo.path(), &["commit", "--quiet", "-m", "env"], &[]);
    assert!(clean.status.success(), "{}", printed(&clean));

    // `git commit -a` and `git commit PATH` commit an index the hook gets in
    // GIT_INDEX_FILE, not .git/index: the key is caught in both.
    repo.write("app.py", &format!("KEY = os.environ['KEY']\nFALLBACK = '{key}'\n"));
    for args in [&["commit", "--quiet", "-a", "-m", "all"][..], &["commit", "--quiet", "-m", "path", "app.py"][..]] {
        let blocked = git_hooked(repo.path(), args, &[]);
        assert!(!blocked.status.success(), "{args:?}");
        assert!(printed(&blocked).contains("app.py:2:13 xai_api_key"), "{args:?}: {}", printed(&blocked));
    }
    git_in(repo.path(), &["checkout", "--", "app.py"], 1_700_000_100);

    // Installing again replaces our own hook; a foreign hook is left alone without --force.
    assert_eq!(revokd(repo.path(), &["hook", "install"], b"").status.code(), Some(0));
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").expect("write a foreign hook");
    let refused = revokd(repo.path(), &["hook", "install"], b"");
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(&hook).expect("hook"), "#!/bin/sh\necho mine\n");
    let forced = revokd(repo.path(), &["hook", "install", "--force"], b"");
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(std::fs::read_to_string(&hook).expect("hook").contains("scan --staged"));
    let backup = hook_file(&repo, "pre-commit.bak");
    assert_eq!(std::fs::read_to_string(backup).expect("backup"), "#!/bin/sh\necho mine\n");
}

#[test]
fn hook_install_pre_push_stops_a_push_of_a_committed_key() {
    let remote = tempfile::tempdir().expect("temporary directory");
    git_in(remote.path(), &["init", "--quiet", "--bare", "--initial-branch=main"], 0);
    let mut repo = Repo::new();
    repo.git(&["remote", "add", "origin", &remote.path().display().to_string()]);
    repo.write("README.md", "hello\n");
    repo.commit("readme");
    let installed = revokd(repo.path(), &["hook", "install", "--pre-push"], b"");
    assert_eq!(installed.status.code(), Some(0), "{}", stderr(&installed));
    assert!(!hook_file(&repo, "pre-commit").exists(), "only the hook asked for");
    let first = git_hooked(repo.path(), &["push", "--quiet", "origin", "main"], &[]);
    assert!(first.status.success(), "a clean new branch pushes: {}", printed(&first));
    repo.write("ci.yml", &format!("token: {}\n", xai_token()));
    repo.commit("ci token");
    let blocked = git_hooked(repo.path(), &["push", "--quiet", "origin", "main"], &[]);
    assert!(!blocked.status.success());
    assert!(printed(&blocked).contains("ci.yml:1:8 xai_api_key"), "{}", printed(&blocked));
    let remote_head = git_in(remote.path(), &["rev-parse", "main"], 0);
    assert_ne!(remote_head.trim(), repo.git(&["rev-parse", "HEAD"]).trim(), "the push did not happen");
}

#[test]
fn hook_install_outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = revokd(dir.path(), &["hook", "install"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not in a git repository"), "{}", stderr(&output));
}
