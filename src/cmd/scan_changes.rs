//! `revokd scan --staged`, `--git --range A..B`, `--git --since-commit REF` and
//! `--pre-push`: scans what a change adds (the index, or the commits of a range) and
//! reports only findings on added lines; on findings, tells the user the ways out.

use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::ScanArgs;
use revokd::git::{self, BlobScanOptions, CommitRange, changes};
use revokd::scan::{HistoryStats, ScanOutput, Scanner, WalkOptions};

/// The repository's own baseline, used by change scans when `--baseline` is not given:
/// accepted findings travel with the code, and every clone's hook honours them.
pub const REPO_BASELINE: &str = ".revokd-baseline.json";

/// The all-zero id git uses on a pre-push line for "no such ref" (a new or deleted branch).
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// What a change scan covered, for the message shown on findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Staged,
    Commits,
}

/// The result of a change scan.
pub struct ChangeScan {
    pub output: ScanOutput,
    pub kind: ChangeKind,
    /// `.revokd-baseline.json` at the root of the work tree, if it exists.
    pub repo_baseline: Option<PathBuf>,
}

/// Runs the change scan that `args` asks for (see [`ScanArgs::scans_changes`]).
pub fn scan_changes(args: &ScanArgs, scanner: &Scanner, options: &WalkOptions) -> Result<ChangeScan> {
    if args.paths.len() > 1 {
        bail!("--staged, --range, --since-commit and --pre-push scan one repository: give at most one PATH");
    }
    let dir = args.paths.first().map_or(Path::new("."), PathBuf::as_path);
    let git_dir = changes::git_dir(dir)?;
    let repo = gix::open(&git_dir).with_context(|| format!("opening the repository at {}", git_dir.display()))?;
    let blob_options =
        BlobScanOptions { threads: options.threads, max_file_size: options.max_file_size, read: options.read };
    let mut output = ScanOutput::default();
    let kind = if args.staged {
        let head = match repo.head_id() {
            Ok(id) => id.to_string(),
            // Before the first commit everything staged is new.
            Err(_) => repo.empty_tree().id.to_string(),
        };
        let staged = changes::staged(dir, &head)?;
        git::scan_changes(&repo, scanner, &staged, None, &blob_options, &mut output);
        ChangeKind::Staged
    } else {
        let range = match (&args.range, &args.since_commit) {
            (Some(range), _) => Some(CommitRange::spec(range)),
            (None, Some(base)) => Some(CommitRange::since(base)),
            (None, None) => pushed_range(args.remote.as_deref(), &repo)?,
        };
        if let Some(range) = range {
            scan_range(dir, &repo, &range, scanner, &blob_options, &mut output)?;
        }
        ChangeKind::Commits
    };
    output.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let repo_baseline = repo.workdir().map(|root| root.join(REPO_BASELINE)).filter(|path| path.is_file());
    Ok(ChangeScan { output, kind, repo_baseline })
}

/// Scans each commit of `range`, oldest first. A secret that a later commit of the
/// range adds again at the same path is reported once, with the first commit.
fn scan_range(
    dir: &Path,
    repo: &gix::Repository,
    range: &CommitRange,
    scanner: &Scanner,
    options: &BlobScanOptions,
    output: &mut ScanOutput,
) -> Result<()> {
    let commits = changes::range_commits(dir, range)?;
    let mut reported: HashSet<(String, String, String)> = HashSet::new();
    for commit in &commits {
        let changed = changes::commit_changes(dir, commit)?;
        let (author, date) = git::author_and_date(repo, commit.id).unwrap_or_default();
        let provenance = revokd::scan::Provenance { commit: commit.id.to_string(), author, date };
        let mut one = ScanOutput::default();
        git::scan_changes(repo, scanner, &changed, Some(&provenance), options, &mut one);
        let keys: Vec<_> =
            one.findings.iter().map(|f| (f.path.clone(), f.rule.clone(), f.secret_sha256.clone())).collect();
        output.findings.extend(
            one.findings
                .into_iter()
                .filter(|f| !reported.contains(&(f.path.clone(), f.rule.clone(), f.secret_sha256.clone()))),
        );
        reported.extend(keys);
        output.warnings.extend(one.warnings);
        let (s, o) = (&mut output.stats, one.stats);
        s.files += o.files;
        s.bytes += o.bytes;
        s.skipped_binary += o.skipped_binary;
        s.skipped_large += o.skipped_large;
        s.errors += o.errors;
    }
    output.stats.history = Some(HistoryStats { commits: commits.len() as u64, ..HistoryStats::default() });
    Ok(())
}

/// The commits a push sends, from the pre-commit framework's environment or from git's
/// pre-push lines on stdin (`<local ref> <local id> <remote ref> <remote id>`); `None`
/// when the push sends no commit (only deletions).
fn pushed_range(remote: Option<&str>, repo: &gix::Repository) -> Result<Option<CommitRange>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(from), Some(to)) = (env("PRE_COMMIT_FROM_REF"), env("PRE_COMMIT_TO_REF")) {
        return Ok(Some(CommitRange { revisions: vec![to, format!("^{from}")], exclude_remote: None }));
    }
    if let Some(remote) = env("PRE_COMMIT_REMOTE_NAME") {
        // pre-commit leaves FROM/TO unset when the branch is new down to its root commit.
        let branch = env("PRE_COMMIT_LOCAL_BRANCH").unwrap_or_else(|| "HEAD".into());
        return Ok(Some(CommitRange { revisions: vec![branch], exclude_remote: Some(remote) }));
    }
    if io::stdin().is_terminal() {
        bail!("--pre-push reads git's pre-push lines on standard input (it runs as a git pre-push hook)");
    }
    let mut revisions = Vec::new();
    let mut new_branch = false;
    for line in io::stdin().lock().lines() {
        let line = line.context("reading the pre-push lines on standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let &[_, local, _, remote_id] = fields.as_slice() else {
            bail!("not a pre-push line (<local ref> <local id> <remote ref> <remote id>): {line:?}");
        };
        if !is_commit_id(local) || !is_commit_id(remote_id) {
            bail!("not a pre-push line (<local ref> <local id> <remote ref> <remote id>): {line:?}");
        }
        if local == NO_COMMIT {
            continue; // a deletion pushes no commit
        }
        revisions.push(local.to_string());
        let known = gix::ObjectId::from_hex(remote_id.as_bytes()).is_ok_and(|id| repo.has_object(id));
        if remote_id != NO_COMMIT && known {
            revisions.push(format!("^{remote_id}"));
        } else {
            new_branch = true;
        }
    }
    if revisions.is_empty() {
        return Ok(None);
    }
    let exclude_remote = if new_branch { remote.map(str::to_string) } else { None };
    Ok(Some(CommitRange { revisions, exclude_remote }))
}

fn is_commit_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The message after a change scan's findings (listed on stdout): why the commit or
/// push stopped and the three ways out.
pub fn ways_out(kind: ChangeKind, findings: usize) -> String {
    match kind {
        ChangeKind::Staged => format!(
            "revokd: {findings} secret(s) in the staged changes (listed above): the commit is stopped.
For each one, either:
  1. remove it from the file and `git add` the file again (if the key is live, revoke it);
  2. or, if it is not a real secret (test data, an example), add `revokd:allow` in a comment on its line;
  3. or accept it knowingly: at the repository root run
       revokd scan --write-baseline {REPO_BASELINE}
     and commit {REPO_BASELINE} (findings recorded there are not reported again).
"
        ),
        ChangeKind::Commits => format!(
            "revokd: {findings} secret(s) added by commits not yet pushed (listed above with their commit): stopped.
A later commit that deletes a secret does not help: the push would still carry it. For each one, either:
  1. remove it from the commit that added it (`git commit --amend` for the last commit, `git rebase -i` for
     an older one; if the key is live, revoke it);
  2. or, if it is not a real secret, rewrite that commit with `revokd:allow` in a comment on its line;
  3. or accept it knowingly without rewriting anything: at the repository root run
       revokd scan --write-baseline {REPO_BASELINE}
     and commit {REPO_BASELINE} (findings recorded there are not reported again).
"
        ),
    }
}
