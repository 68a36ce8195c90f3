//! Scans files and directories in parallel with the `ignore` walker.
//!
//! `.gitignore`, `.ignore` and git excludes are honoured unless `no_ignore` is set (in a
//! git repository or not); hidden files such as `.env` are scanned; `.git/` is never
//! walked as files. Each worker thread reuses one read buffer, so memory is bounded by
//! `threads × (chunk size + overlap)` whatever the file sizes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::{WalkBuilder, WalkState};

use super::engine::Scanner;
use super::finding::Finding;
use super::reader::{InputOutcome, ReadOptions, scan_reader};

/// Default size above which a file is skipped with a warning: larger files are almost
/// always data dumps, archives or build output, and would dominate scan time.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// How to walk and read.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Do not honour `.gitignore` and friends.
    pub no_ignore: bool,
    /// Files larger than this are skipped with a warning.
    pub max_file_size: u64,
    pub read: ReadOptions,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { threads: 0, no_ignore: false, max_file_size: DEFAULT_MAX_FILE_SIZE, read: ReadOptions::default() }
    }
}

/// Counters for one scan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ScanStats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    pub skipped_large: u64,
    pub errors: u64,
    /// Git history scans only: what was enumerated and skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryStats>,
}

/// Counters of a git history scan (`files` then counts the blobs actually scanned).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HistoryStats {
    pub refs: u64,
    pub commits: u64,
    /// Distinct blobs reachable from the refs.
    pub blobs: u64,
    /// Blobs not scanned again: remembered as clean under the same rule set.
    pub blobs_remembered: u64,
    pub lfs_pointers: u64,
    pub submodules: u64,
}

/// Findings (sorted by path, line, column), counters, and the warnings to show the user.
#[derive(Debug, Default)]
pub struct ScanOutput {
    pub findings: Vec<Finding>,
    pub stats: ScanStats,
    pub warnings: Vec<String>,
}

/// Why a scan could not run at all (per-file problems are warnings instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error("reading standard input: {0}")]
    Stdin(std::io::Error),
}

#[derive(Default)]
struct Shared {
    files: AtomicU64,
    bytes: AtomicU64,
    skipped_binary: AtomicU64,
    skipped_large: AtomicU64,
    errors: AtomicU64,
    findings: Mutex<Vec<Finding>>,
    warnings: Mutex<Vec<String>>,
}

/// Scans `paths` (files or directories). `progress` is called with the bytes of each
/// scanned file, from worker threads.
pub fn scan_paths(
    scanner: &Scanner,
    paths: &[PathBuf],
    options: &WalkOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ScanOutput, ScanError> {
    if let Some(missing) = paths.iter().find(|p| p.symlink_metadata().is_err()) {
        return Err(ScanError::NotFound(missing.clone()));
    }
    let Some((first, rest)) = paths.split_first() else {
        return Ok(ScanOutput::default());
    };
    let mut builder = WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    let respect = !options.no_ignore;
    builder
        .hidden(false)
        .git_ignore(respect)
        .git_global(respect)
        .git_exclude(respect)
        .ignore(respect)
        .parents(respect)
        .require_git(false)
        .follow_links(false)
        .threads(options.threads)
        .filter_entry(|entry| entry.file_name() != ".git");
    let shared = Shared::default();
    builder.build_parallel().run(|| {
        let mut buf = Vec::new();
        let shared = &shared;
        Box::new(move |entry| {
            match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    scan_file(scanner, entry.path(), options, &mut buf, shared, progress);
                }
                Ok(_) => {}
                Err(err) => shared.warn(format!("{err}")),
            }
            WalkState::Continue
        })
    });
    Ok(shared.into_output())
}

/// Scans standard input as one file named `-`.
pub fn scan_stdin(scanner: &Scanner, options: &WalkOptions) -> Result<ScanOutput, ScanError> {
    let stdin = std::io::stdin().lock();
    let outcome = scan_reader(scanner, stdin, "-", options.read, &mut Vec::new()).map_err(ScanError::Stdin)?;
    let shared = Shared::default();
    shared.record(outcome);
    Ok(shared.into_output())
}

fn scan_file(
    scanner: &Scanner,
    path: &Path,
    options: &WalkOptions,
    buf: &mut Vec<u8>,
    shared: &Shared,
    progress: &(dyn Fn(u64) + Sync),
) {
    let shown = display_path(path);
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => return shared.error(format!("{shown}: {err}")),
    };
    let limit = options.max_file_size;
    let mut input = SizeLimited { file, limit, unchecked: Some(limit.min(options.read.chunk_size as u64)) };
    match scan_reader(scanner, &mut input, &shown, options.read, buf) {
        Ok(outcome) => {
            progress(match &outcome {
                InputOutcome::Scanned { bytes, .. } | InputOutcome::Binary { bytes } => *bytes,
            });
            shared.record(outcome);
        }
        Err(err) => match err.get_ref().and_then(|inner| inner.downcast_ref::<TooLarge>()) {
            Some(TooLarge(size)) => {
                shared.skipped_large.fetch_add(1, Ordering::Relaxed);
                shared.warn(format!("{shown}: skipped, {size} bytes is over the {} byte limit", options.max_file_size));
            }
            None => shared.error(format!("{shown}: {err}")),
        },
    }
}

/// A file that fails with [`TooLarge`] when it is over `limit` bytes. Its size is asked
/// (one `fstat`) only if it has more than `unchecked` (at most `limit`) bytes: most files
/// end within the first read buffer, and a system call per file is a measurable share of
/// a scan of many small files.
struct SizeLimited {
    file: std::fs::File,
    limit: u64,
    /// Bytes still readable before the size must be checked; `None` once it was.
    unchecked: Option<u64>,
}

/// The error [`SizeLimited`] reads fail with: the file's size.
#[derive(Debug)]
struct TooLarge(u64);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes is over the size limit", self.0)
    }
}

impl std::error::Error for TooLarge {}

impl std::io::Read for SizeLimited {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.unchecked {
            None => self.file.read(buf),
            Some(0) => {
                let size = self.file.metadata()?.len();
                if size > self.limit {
                    return Err(std::io::Error::other(TooLarge(size)));
                }
                self.unchecked = None;
                self.file.read(buf)
            }
            // Not past the allowance before the size is known.
            Some(left) => {
                let allowed = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.file.read(&mut buf[..allowed])?;
                self.unchecked = Some(left - n as u64);
                Ok(n)
            }
        }
    }
}

/// The path as the user will read it: without a leading `./`.
fn display_path(path: &Path) -> String {
    let shown = path.strip_prefix(".").unwrap_or(path);
    shown.to_string_lossy().into_owned()
}

impl Shared {
    fn record(&self, outcome: InputOutcome) {
        match outcome {
            InputOutcome::Scanned { bytes, findings } => {
                self.files.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(bytes, Ordering::Relaxed);
                if !findings.is_empty() {
                    lock(&self.findings).extend(findings);
                }
            }
            InputOutcome::Binary { .. } => {
                self.skipped_binary.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn warn(&self, message: String) {
        lock(&self.warnings).push(message);
    }

    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.warn(message);
    }

    fn into_output(self) -> ScanOutput {
        let mut findings = self.findings.into_inner().unwrap_or_else(|e| e.into_inner());
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut warnings = self.warnings.into_inner().unwrap_or_else(|e| e.into_inner());
        warnings.sort();
        ScanOutput {
            findings,
            warnings,
            stats: ScanStats {
                files: self.files.into_inner(),
                bytes: self.bytes.into_inner(),
                skipped_binary: self.skipped_binary.into_inner(),
                skipped_large: self.skipped_large.into_inner(),
                errors: self.errors.into_inner(),
                history: None,
            },
        }
    }
}

/// Locks a mutex even if another worker panicked while holding it: the data (a list of
/// findings or warnings) stays valid whatever happened in between.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
