//! Where a history scan reads from: a local repository (a work tree, a subdirectory of
//! one, or a bare repository) or a git URL, cloned into a temporary directory.
//!
//! Cloning runs the `git` command (`git clone --mirror`), because gix's own clone needs
//! its network client features and, for `file://` and ssh, spawns `git-upload-pack`
//! anyway. Everything after the clone is gix.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::GitError;

/// An opened repository, and the temporary clone it lives in (deleted on drop).
pub struct OpenedRepo {
    pub repo: gix::Repository,
    /// A stable name for this repository, for remembering what was scanned: the
    /// canonical git directory of a local repository, or the URL without credentials.
    pub key: String,
    _clone: Option<tempfile::TempDir>,
}

/// True when `spec` names a remote repository rather than a local path: a URL with a
/// scheme (`https://`, `ssh://`, `file://`, …) or scp-like `user@host:path`.
pub fn is_url(spec: &str) -> bool {
    if spec.contains("://") {
        return true;
    }
    match (spec.find('@'), spec.find(':')) {
        (Some(at), Some(colon)) => at < colon && !spec[..colon].contains('/'),
        _ => false,
    }
}

/// Opens `spec`: clones it first when it is a URL (see [`is_url`]).
pub fn open(spec: &str) -> Result<OpenedRepo, GitError> {
    if is_url(spec) {
        let dir = tempfile::Builder::new().prefix("revokd-clone-").tempdir().map_err(GitError::TempDir)?;
        let target = dir.path().join("repo.git");
        clone_mirror(spec, &target)?;
        let repo = open_local(&target)?;
        Ok(OpenedRepo { repo, key: crate::config::redact_url(spec), _clone: Some(dir) })
    } else {
        let repo = open_local(Path::new(spec))?;
        let key = std::fs::canonicalize(repo.git_dir()).unwrap_or_else(|_| repo.git_dir().to_path_buf());
        Ok(OpenedRepo { repo, key: key.display().to_string(), _clone: None })
    }
}

fn open_local(path: &Path) -> Result<gix::Repository, GitError> {
    let mut repo =
        gix::discover(path).map_err(|e| GitError::Open { path: path.display().to_string(), message: e.to_string() })?;
    // Trees are read once per (path, tree) pair; a decoded-object cache mostly helps
    // the delta bases shared by neighbouring trees.
    repo.object_cache_size_if_unset(32 * 1024 * 1024);
    Ok(repo)
}

/// `git clone --mirror`: every ref of the remote (branches, tags, notes, pull refs).
fn clone_mirror(url: &str, target: &PathBuf) -> Result<(), GitError> {
    let shown = crate::config::redact_url(url);
    let output = Command::new("git")
        .args(["clone", "--mirror", "--quiet", "--"])
        .arg(url)
        .arg(target)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError::Clone { url: shown.clone(), message: format!("running git: {e}") })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // git may echo the URL (with credentials) in its message: show the redacted form.
    let message = stderr.trim().replace(url, &shown);
    Err(GitError::Clone { url: shown, message })
}

#[cfg(test)]
mod tests {
    use super::is_url;

    #[test]
    fn urls_and_paths_are_told_apart() {
        for url in ["https://github.com/o/r.git", "file:///tmp/r", "ssh://git@h/r", "git@github.com:o/r.git"] {
            assert!(is_url(url), "{url}");
        }
        for path in [".", "/tmp/repo", "repo", "dir/with@at:colon", "C:/x"] {
            assert!(!is_url(path), "{path}");
        }
    }
}
