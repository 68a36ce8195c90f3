//! Git history as a scan source: every blob reachable from the selected refs, each
//! distinct blob scanned once, each finding attributed to the commit that introduced it.
//!
//! The pipeline is [`source`] (open a local repository or clone a URL into a temporary
//! directory) → [`history`] (refs → commits in topological order → the first commit
//! that introduced each (path, blob) pair) → [`blobs`] (scan the distinct blobs in
//! parallel with the [`Scanner`](crate::scan::Scanner), then fan findings out to every
//! path and introducing commit). The scanner itself stays a pure library: this module
//! only feeds it bytes.
//!
//! Change scans (`scan --staged`, `scan --git --range`) take another path: [`changes`]
//! lists the files the index or each commit changed, and [`added`] scans their new
//! content, keeping only findings on added lines.

pub mod added;
pub mod blobs;
pub mod changes;
pub mod history;
pub mod source;

pub use added::{AddedLines, scan_changes};
pub use blobs::{BlobScanOptions, HistoryScan, author_and_date, scan_history, scan_key};
pub use changes::{CommitRange, FileChange, RangeCommit};
pub use history::{Depth, History, RefSelection, enumerate};
pub use source::{CloneOptions, OpenedRepo, Pin, Redirects, open, open_with};

/// Why a history scan could not run at all. Problems with single objects (a corrupt
/// blob, a missing parent) are warnings in the scan output instead.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path}: not a git repository: {message}")]
    Open { path: String, message: String },
    #[error("cloning {url}: {message}")]
    Clone { url: String, message: String },
    #[error("creating a temporary directory for the clone: {0}")]
    TempDir(std::io::Error),
    #[error("listing references: {0}")]
    Refs(String),
    #[error("no reference or commit named {0:?}")]
    UnknownRef(String),
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("{0}")]
    Output(String),
    #[error("stopped on request")]
    Stopped,
}

/// Progress callbacks of a history scan, called from worker threads, and its way to be
/// stopped. Every method defaults to doing nothing (and never stopping).
pub trait Progress: Sync {
    /// Asked between commits while enumerating and before each blob is scanned: `true`
    /// stops the scan early (cooperative cancellation). Must be cheap (an atomic load).
    fn stop_requested(&self) -> bool {
        false
    }
    /// `commits` commits and `objects` trees and blobs enumerated so far.
    fn enumerated(&self, _commits: u64, _objects: u64) {}
    /// Enumeration is done: `blobs` distinct blobs are about to be scanned.
    fn scanning(&self, _blobs: u64) {}
    /// One blob of `bytes` bytes was scanned (or skipped).
    fn blob_done(&self, _bytes: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
