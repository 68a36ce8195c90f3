//! Baselines: findings already known and accepted, by fingerprint.
//!
//! A baseline is any JSON report written by `revokd scan --format json` (or by
//! `--write-baseline`): only each finding's `fingerprint` is read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::finding::Finding;

/// Fingerprints to suppress.
#[derive(Debug, Default)]
pub struct Baseline {
    fingerprints: HashSet<String>,
}

#[derive(Deserialize)]
struct BaselineFile {
    findings: Vec<BaselineEntry>,
}

#[derive(Deserialize)]
struct BaselineEntry {
    fingerprint: String,
}

/// Why a baseline file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("baseline {path} is not a revokd JSON report: {source}")]
    Format { path: PathBuf, source: serde_json::Error },
}

impl Baseline {
    /// Loads the fingerprints of a JSON report.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let text = std::fs::read(path).map_err(|source| BaselineError::Io { path: path.into(), source })?;
        let file: BaselineFile =
            serde_json::from_slice(&text).map_err(|source| BaselineError::Format { path: path.into(), source })?;
        Ok(Baseline { fingerprints: file.findings.into_iter().map(|f| f.fingerprint).collect() })
    }

    /// True when `finding` is in the baseline.
    pub fn contains(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
    }
}
