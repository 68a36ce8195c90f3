//! Where a history scan reads from: a local repository (a work tree, a subdirectory of
//! one, or a bare repository) or a git URL, cloned into a temporary directory.
//!
//! Cloning runs the `git` command (`git clone --mirror`), because gix's own clone needs
//! its network client features and, for `file://` and ssh, spawns `git-upload-pack`
//! anyway. Everything after the clone is gix. [`CloneOptions`] lets a caller that
//! checked where a URL leads (the scan API) pin the clone to the checked address and
//! refuse redirects.

use std::net::IpAddr;
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

/// How a URL is cloned. The default is git's own behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneOptions {
    /// Connect to this address whenever the clone reaches the pin's host and port over
    /// HTTP(S) (git's `http.curloptResolve`, curl's `--resolve`; git 2.37 or later):
    /// the address that was checked is the one cloned from, whatever DNS answers later.
    pub pin: Option<Pin>,
    pub redirects: Redirects,
}

/// A host name and port resolved to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

/// Whether an HTTP(S) clone follows redirects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Redirects {
    /// git's default: follow the first request's redirects.
    #[default]
    Follow,
    /// Fail on any redirect (`http.followRedirects=false`): a redirect could lead to a
    /// host that was never checked.
    Refuse,
}

impl CloneOptions {
    /// The `-c key=value` settings for `git clone`.
    pub fn git_config(&self) -> Vec<String> {
        let mut config = Vec::new();
        if let Some(pin) = &self.pin {
            let addr = match pin.addr {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            config.push(format!("http.curloptResolve={}:{}:{addr}", pin.host, pin.port));
        }
        if self.redirects == Redirects::Refuse {
            config.push("http.followRedirects=false".to_string());
        }
        config
    }
}

/// Opens `spec`: clones it first when it is a URL (see [`is_url`]).
pub fn open(spec: &str) -> Result<OpenedRepo, GitError> {
    open_with(spec, &CloneOptions::default())
}

/// [`open`], cloning a URL with `clone` options.
pub fn open_with(spec: &str, clone: &CloneOptions) -> Result<OpenedRepo, GitError> {
    if is_url(spec) {
        let dir = tempfile::Builder::new().prefix("revokd-clone-").tempdir().map_err(GitError::TempDir)?;
        let target = dir.path().join("repo.git");
        clone_mirror(spec, &target, clone)?;
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
fn clone_mirror(url: &str, target: &PathBuf, clone: &CloneOptions) -> Result<(), GitError> {
    let shown = crate::config::redact_url(url);
    let mut command = Command::new("git");
    for setting in clone.git_config() {
        command.arg("-c").arg(setting);
    }
    let output = command
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
    use super::*;

    #[test]
    fn clone_options_become_git_settings() {
        assert!(CloneOptions::default().git_config().is_empty());
        let pinned = |addr: &str| CloneOptions {
            pin: Some(Pin { host: "git.example.org".into(), port: 443, addr: addr.parse().unwrap() }),
            redirects: Redirects::Refuse,
        };
        assert_eq!(
            pinned("140.82.112.3").git_config(),
            ["http.curloptResolve=git.example.org:443:140.82.112.3", "http.followRedirects=false"]
        );
        assert_eq!(
            pinned("2606:50c0::153").git_config()[0],
            "http.curloptResolve=git.example.org:443:[2606:50c0::153]"
        );
    }

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
