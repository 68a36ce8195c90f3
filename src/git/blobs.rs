//! Scans the distinct blobs of an enumerated [`History`] in parallel and reports each
//! finding at every (path, introducing commit) of its blob.
//!
//! Each blob is read once (gix, one thread-local repository handle per rayon worker)
//! and scanned once through [`scan_reader`], so memory per worker is one decoded blob
//! plus one chunk buffer. Blobs listed in `remembered` (scanned clean before, under the
//! same rules) are not read at all.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use gix::ObjectId;
use rayon::prelude::*;

use super::Progress;
use super::history::{BlobEntry, History};
use crate::scan::reader::{InputOutcome, ReadOptions, scan_reader};
use crate::scan::{Finding, HistoryStats, Provenance, ScanOutput, ScanStats, Scanner};

/// The first line of a Git LFS pointer file: the content lives elsewhere, and the
/// pointer itself holds only a hash and a size.
const LFS_POINTER_START: &[u8] = b"version https://git-lfs.github.com/spec/v1";

/// LFS pointer files are about 130 bytes; anything much larger is real content.
const LFS_POINTER_MAX_LEN: usize = 1024;

/// How to scan blobs.
#[derive(Debug, Clone)]
pub struct BlobScanOptions {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Blobs larger than this are skipped with a warning.
    pub max_file_size: u64,
    pub read: ReadOptions,
}

/// A history scan's result: the report, and the blobs that were scanned and found
/// clean (to remember for the next scan).
#[derive(Debug, Default)]
pub struct HistoryScan {
    pub output: ScanOutput,
    pub clean_blobs: Vec<ObjectId>,
    /// [`Progress::stop_requested`] stopped the scan: blobs were left unscanned, so the
    /// report is incomplete (`clean_blobs` is still true of the blobs it lists).
    pub stopped: bool,
}

/// What a scan depends on besides a blob's content (the rule-set version and whether
/// binary content is scanned): blobs remembered as clean under another key must be
/// scanned again.
pub fn scan_key(rules_version: &str, read: &ReadOptions) -> String {
    format!("rules={rules_version};binary={}", read.scan_binary)
}

enum BlobOutcome {
    Remembered,
    Clean { bytes: u64 },
    Binary { bytes: u64 },
    Found { bytes: u64, findings: Vec<Finding> },
    Large { bytes: u64 },
    LfsPointer,
    Unreadable(String),
    Stopped,
}

/// Scans every blob of `history` not in `remembered`; see the module doc. Once
/// `progress` asks to stop, the blobs not yet started are skipped.
pub fn scan_history(
    repo: &gix::Repository,
    scanner: &Scanner,
    history: &History,
    remembered: &HashSet<ObjectId>,
    options: &BlobScanOptions,
    progress: &dyn Progress,
) -> HistoryScan {
    progress.scanning(history.blobs.len() as u64);
    let shared = repo.clone().into_sync();
    let scanned = AtomicU64::new(0);
    let work = || -> Vec<BlobOutcome> {
        history
            .blobs
            .par_iter()
            .map_init(
                || (shared.to_thread_local(), Vec::new()),
                |(repo, buf), blob| {
                    let outcome = scan_blob(repo, scanner, blob, remembered, options, progress, buf);
                    let bytes = match &outcome {
                        BlobOutcome::Clean { bytes }
                        | BlobOutcome::Binary { bytes }
                        | BlobOutcome::Found { bytes, .. }
                        | BlobOutcome::Large { bytes } => *bytes,
                        _ => 0,
                    };
                    scanned.fetch_add(1, Ordering::Relaxed);
                    progress.blob_done(bytes);
                    outcome
                },
            )
            .collect()
    };
    let outcomes = match rayon::ThreadPoolBuilder::new().num_threads(options.threads).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    collect(repo, history, outcomes)
}

fn scan_blob(
    repo: &gix::Repository,
    scanner: &Scanner,
    blob: &BlobEntry,
    remembered: &HashSet<ObjectId>,
    options: &BlobScanOptions,
    progress: &dyn Progress,
    buf: &mut Vec<u8>,
) -> BlobOutcome {
    if remembered.contains(&blob.id) {
        return BlobOutcome::Remembered;
    }
    if progress.stop_requested() {
        return BlobOutcome::Stopped;
    }
    let path = &blob.introductions[0].path;
    let object = match repo.find_object(blob.id) {
        Ok(object) => object,
        Err(e) => return BlobOutcome::Unreadable(format!("blob {} ({path}): {e}", blob.id)),
    };
    let data = &object.data;
    let bytes = data.len() as u64;
    if bytes > options.max_file_size {
        return BlobOutcome::Large { bytes };
    }
    if data.len() <= LFS_POINTER_MAX_LEN && data.starts_with(LFS_POINTER_START) {
        return BlobOutcome::LfsPointer;
    }
    match scan_reader(scanner, data.as_slice(), path, options.read, buf) {
        Ok(InputOutcome::Scanned { bytes, findings }) if findings.is_empty() => BlobOutcome::Clean { bytes },
        Ok(InputOutcome::Scanned { bytes, findings }) => BlobOutcome::Found { bytes, findings },
        Ok(InputOutcome::Binary { bytes }) => BlobOutcome::Binary { bytes },
        // Reading from a slice cannot fail; kept total for the type's sake.
        Err(e) => BlobOutcome::Unreadable(format!("blob {} ({path}): {e}", blob.id)),
    }
}

/// Folds per-blob outcomes into one report, in the order of `history.blobs`.
fn collect(repo: &gix::Repository, history: &History, outcomes: Vec<BlobOutcome>) -> HistoryScan {
    let mut result = HistoryScan::default();
    let mut stats = ScanStats { errors: history.stats.errors, ..ScanStats::default() };
    let mut totals = HistoryStats {
        refs: history.stats.refs,
        commits: history.stats.commits,
        blobs: history.blobs.len() as u64,
        submodules: history.stats.submodules,
        ..HistoryStats::default()
    };
    let mut warnings = history.warnings.clone();
    let mut located: Vec<Located<'_>> = Vec::new();
    let mut provenance = ProvenanceCache::default();
    for (blob, outcome) in history.blobs.iter().zip(&outcomes) {
        match outcome {
            BlobOutcome::Remembered => totals.blobs_remembered += 1,
            BlobOutcome::Clean { bytes } => {
                stats.files += 1;
                stats.bytes += *bytes;
                result.clean_blobs.push(blob.id);
            }
            BlobOutcome::Binary { bytes } => {
                stats.skipped_binary += 1;
                stats.bytes += *bytes;
                result.clean_blobs.push(blob.id);
            }
            BlobOutcome::Found { bytes, findings } => {
                stats.files += 1;
                stats.bytes += *bytes;
                let mut occurrences: HashMap<(&str, &str), u32> = HashMap::new();
                for finding in findings {
                    let nth = occurrences.entry((&finding.rule, &finding.secret_sha256)).or_insert(0);
                    *nth += 1;
                    for intro in &blob.introductions {
                        located.push(Located { finding, nth: *nth, path: &intro.path, commit: intro.commit });
                    }
                }
            }
            BlobOutcome::Large { bytes } => {
                stats.skipped_large += 1;
                let path = &blob.introductions[0].path;
                warnings.push(format!("blob {} ({path}): skipped, {bytes} bytes is over the size limit", blob.id));
            }
            BlobOutcome::LfsPointer => totals.lfs_pointers += 1,
            BlobOutcome::Unreadable(message) => {
                stats.errors += 1;
                warnings.push(message.clone());
            }
            BlobOutcome::Stopped => result.stopped = true,
        }
    }
    stats.history = Some(totals);
    let findings = first_sightings(located)
        .into_iter()
        .map(|l| l.finding.relocated(l.path, provenance.get(repo, history, l.commit)))
        .collect();
    result.output = ScanOutput { findings, stats, warnings };
    result
}

/// A finding of a scanned blob, placed at one (path, commit) where the blob appeared.
struct Located<'a> {
    finding: &'a Finding,
    /// 1 for the first occurrence of this secret (and rule) in the blob, 2 for the next…
    nth: u32,
    path: &'a str,
    commit: u32,
}

/// Keeps, for each secret at each path, only its earliest commit: a file edited after
/// the secret was committed is a new blob holding the same secret, which is the same
/// finding, introduced by the first commit. Occurrences are told apart by their rank in
/// the blob (not their line, which edits above them shift), so a secret written twice in
/// one file is two findings, as in a directory scan. Sorted by path, line, column.
fn first_sightings(mut located: Vec<Located<'_>>) -> Vec<Located<'_>> {
    located.sort_by_key(|l| l.commit);
    let mut seen = HashSet::new();
    located.retain(|l| seen.insert((l.path, l.finding.rule.as_str(), l.finding.secret_sha256.as_str(), l.nth)));
    located.sort_by(|a, b| {
        (a.path, a.finding.line, a.finding.column, &a.finding.rule, a.commit).cmp(&(
            b.path,
            b.finding.line,
            b.finding.column,
            &b.finding.rule,
            b.commit,
        ))
    });
    located
}

/// Author and date of the commits that findings point at, read once each.
#[derive(Default)]
struct ProvenanceCache {
    by_commit: HashMap<u32, Provenance>,
}

impl ProvenanceCache {
    fn get(&mut self, repo: &gix::Repository, history: &History, commit: u32) -> Provenance {
        self.by_commit
            .entry(commit)
            .or_insert_with(|| {
                let id = history.commits[commit as usize];
                let (author, date) = author_and_date(repo, id).unwrap_or_default();
                Provenance { commit: id.to_string(), author, date }
            })
            .clone()
    }
}

/// `Name <email>` and the author date as RFC 3339 UTC, or `None` if the commit cannot
/// be read.
pub fn author_and_date(repo: &gix::Repository, id: ObjectId) -> Option<(String, String)> {
    let commit = repo.find_commit(id).ok()?;
    let author = commit.author().ok()?;
    let seconds = author.time().map(|t| t.seconds).unwrap_or(0);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    Some((format!("{} <{}>", author.name, author.email), date))
}
