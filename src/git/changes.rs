//! Which files a change touched: the staged index against `HEAD`, or each commit of a
//! range against its parents, as (path, blob before, blob after) triples.
//!
//! This asks the `git` command's diff plumbing (`git diff-index`, `git diff-tree`,
//! `git rev-list`) rather than gix, for two reasons:
//! - **speed**: `git diff-index --cached` skips every directory whose cache-tree entry in
//!   the index still matches `HEAD`'s tree, so staging one file in a tree of 80,000
//!   files reads a handful of tree objects: it neither walks nor hashes the tree;
//! - **correctness**: git hooks run with the index git is about to commit in
//!   `GIT_INDEX_FILE` (a temporary index for `git commit -a` or `git commit PATH`), and
//!   a range is any revision syntax users know (`origin/main..HEAD`, `@{u}..`), both of
//!   which the `git` command honours by construction.
//!
//! Only the lists come from git (raw `-z` output: no quoting, no colour, no external
//! diff tools, no user configuration can change the format); blobs are read with gix.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gix::ObjectId;

use super::GitError;

/// A regular file that a change created or modified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path after the change, relative to the repository root.
    pub path: String,
    /// The file's content before the change, one blob per parent that had the file
    /// (for a rename or copy: the source's). Empty for a file new to every parent.
    pub before: Vec<ObjectId>,
    /// The file's content after the change.
    pub after: ObjectId,
}

/// One commit of a range, with its parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCommit {
    pub id: ObjectId,
    pub parents: Vec<ObjectId>,
}

/// Which commits a range scan covers, as `git rev-list` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRange {
    /// Revisions (`A..B`, `B ^A`, commit ids); never interpreted as options.
    pub revisions: Vec<String>,
    /// Also exclude every commit on a remote-tracking branch of this remote (for a new
    /// branch pushed to it).
    pub exclude_remote: Option<String>,
}

impl CommitRange {
    /// `A..B` or any other revision range `git rev-list` accepts.
    pub fn spec(range: &str) -> CommitRange {
        CommitRange { revisions: vec![range.to_string()], exclude_remote: None }
    }

    /// The commits after `base` up to `HEAD` (`base..HEAD`).
    pub fn since(base: &str) -> CommitRange {
        CommitRange::spec(&format!("{base}..HEAD"))
    }
}

/// The repository that `dir` is in, as git itself finds it (honouring `GIT_DIR`, which
/// git sets for some hooks).
pub fn git_dir(dir: &Path) -> Result<PathBuf, GitError> {
    let out = run(dir, &["rev-parse", "--absolute-git-dir"])?;
    let text = String::from_utf8(out).map_err(|_| GitError::Output("git rev-parse: path is not UTF-8".into()))?;
    Ok(PathBuf::from(text.trim_end_matches('\n')))
}

/// Files whose staged content (the index git will commit) differs from `head`: the
/// `HEAD` commit, or the empty tree before the first commit. Cost: one `git
/// diff-index` (see the module doc), independent of the tree's size.
pub fn staged(dir: &Path, head: &str) -> Result<Vec<FileChange>, GitError> {
    let out = run(dir, &["diff-index", "--cached", "-z", "-M", "--raw", "--no-abbrev", head, "--"])?;
    Ok(parse_raw(&out)?.into_iter().map(|entry| entry.into_change()).collect())
}

/// The commits of `range`, parents before children.
pub fn range_commits(dir: &Path, range: &CommitRange) -> Result<Vec<RangeCommit>, GitError> {
    let mut args = vec!["rev-list".to_string(), "--reverse".into(), "--topo-order".into(), "--parents".into()];
    if let Some(remote) = &range.exclude_remote {
        args.push("--not".into());
        args.push(format!("--remotes={remote}"));
        args.push("--not".into());
    }
    args.push("--end-of-options".into());
    args.extend(range.revisions.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir, &args)?;
    let text = String::from_utf8(out).map_err(|_| GitError::Output("git rev-list: output is not UTF-8".into()))?;
    text.lines()
        .map(|line| {
            let mut ids = line.split(' ').map(|hex| {
                ObjectId::from_hex(hex.as_bytes()).map_err(|_| GitError::Output(format!("git rev-list: {line:?}")))
            });
            let id = ids.next().ok_or_else(|| GitError::Output("git rev-list: empty line".into()))??;
            Ok(RangeCommit { id, parents: ids.collect::<Result<_, _>>()? })
        })
        .collect()
}

/// Files `commit` created or modified. For a merge, only files that differ from every
/// parent (what the merge itself brought), with each parent's version as `before`.
/// Cost: one `git diff-tree` per parent (one for a root commit).
pub fn commit_changes(dir: &Path, commit: &RangeCommit) -> Result<Vec<FileChange>, GitError> {
    let id = commit.id.to_string();
    let Some((first, others)) = commit.parents.split_first() else {
        let out = run(dir, &["diff-tree", "-r", "-z", "-M", "--raw", "--no-abbrev", "--no-commit-id", "--root", &id])?;
        return Ok(parse_raw(&out)?.into_iter().map(|entry| entry.into_change()).collect());
    };
    let mut changes: Vec<FileChange> = tree_diff(dir, first, &id)?;
    for parent in others {
        let against: Vec<FileChange> = tree_diff(dir, parent, &id)?;
        changes.retain_mut(|change| match against.iter().find(|other| other.path == change.path) {
            Some(other) => {
                change.before.extend_from_slice(&other.before);
                true
            }
            // Identical to this parent's version: nothing new.
            None => false,
        });
    }
    Ok(changes)
}

fn tree_diff(dir: &Path, parent: &ObjectId, commit: &str) -> Result<Vec<FileChange>, GitError> {
    let parent = parent.to_string();
    let out = run(dir, &["diff-tree", "-r", "-z", "-M", "--raw", "--no-abbrev", &parent, commit])?;
    Ok(parse_raw(&out)?.into_iter().map(|entry| entry.into_change()).collect())
}

/// One record of `--raw -z` output that leaves a regular file behind.
struct RawEntry {
    old: ObjectId,
    new: ObjectId,
    path: String,
}

impl RawEntry {
    fn into_change(self) -> FileChange {
        let before = if self.old.is_null() { Vec::new() } else { vec![self.old] };
        FileChange { path: self.path, before, after: self.new }
    }
}

/// Git's file modes for a regular file and an executable one; symbolic links (120000)
/// and submodules (160000) hold no file content to scan.
const REGULAR_FILE_MODES: [&[u8]; 2] = [b"100644", b"100755"];

/// Parses `:old_mode new_mode old_id new_id STATUS\0path\0[new_path\0]` records,
/// keeping additions, modifications, renames, copies and type changes into a regular
/// file (deletions and unmerged entries leave nothing to scan).
fn parse_raw(out: &[u8]) -> Result<Vec<RawEntry>, GitError> {
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut entries = Vec::new();
    while let Some(header) = fields.next() {
        let bad = || GitError::Output(format!("unexpected git diff output: {}", String::from_utf8_lossy(header)));
        let header = header.strip_prefix(b":").ok_or_else(bad)?;
        let parts: Vec<&[u8]> = header.split(|&b| b == b' ').collect();
        let [_, new_mode, old, new, status] = parts.as_slice() else { return Err(bad()) };
        let id = |hex: &[u8]| ObjectId::from_hex(hex).map_err(|_| bad());
        let (old, new) = (id(old)?, id(new)?);
        let mut path = fields.next().ok_or_else(bad)?;
        if matches!(status.first(), Some(b'R' | b'C')) {
            path = fields.next().ok_or_else(bad)?;
        }
        let keep = matches!(status.first(), Some(b'A' | b'M' | b'R' | b'C' | b'T'))
            && REGULAR_FILE_MODES.contains(new_mode)
            && !new.is_null();
        if keep {
            let path = String::from_utf8_lossy(path).into_owned();
            entries.push(RawEntry { old, new, path });
        }
    }
    Ok(entries)
}

/// Runs `git -C dir ARGS`; its stdout, or its stderr as the error.
fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let shown = || format!("git {}", args.first().copied().unwrap_or_default());
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError::Command { command: shown(), message: format!("cannot run git: {e}") })?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(GitError::Command { command: shown(), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn oid(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    #[test]
    fn raw_records_keep_regular_files_that_remain_after_the_change() {
        let out = format!(
            ":000000 100644 {Z} {A} A\0new file.txt\0\
             :100644 100644 {A} {B} M\0dir/mod.rs\0\
             :100644 000000 {A} {Z} D\0gone.txt\0\
             :100644 100755 {A} {B} R087\0old/name\0new/name\0\
             :000000 120000 {Z} {A} A\0link\0\
             :160000 160000 {A} {B} M\0submodule\0\
             :100644 100644 {A} {Z} U\0conflicted\0"
        );
        let changes: Vec<FileChange> =
            parse_raw(out.as_bytes()).unwrap().into_iter().map(RawEntry::into_change).collect();
        assert_eq!(
            changes,
            [
                FileChange { path: "new file.txt".into(), before: vec![], after: oid(A) },
                FileChange { path: "dir/mod.rs".into(), before: vec![oid(A)], after: oid(B) },
                FileChange { path: "new/name".into(), before: vec![oid(A)], after: oid(B) },
            ]
        );
    }

    #[test]
    fn malformed_output_is_an_error_not_a_panic() {
        for out in [":100644 100644 zz\0p\0", "garbage\0", &format!(":100644 100644 {A} {B} M\0")] {
            assert!(parse_raw(out.as_bytes()).is_err(), "{out:?}");
        }
    }
}
