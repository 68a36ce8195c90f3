//! [`Finding`]: one secret found at one place, with everything a report needs.

use serde::Serialize;

use crate::patterns::{Confidence, Rule};
use crate::secret::{Secret, redact, sha256_hex};

/// Where in history a finding was introduced (git scans only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub commit: String,
    pub author: String,
    pub date: String,
}

/// One secret at one place. Positions are 1-based; columns count Unicode characters and
/// `end_column` is one past the secret's last character (as in SARIF).
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: String,
    pub path: String,
    pub line: u64,
    pub column: u64,
    pub end_line: u64,
    pub end_column: u64,
    pub secret: Secret,
    pub secret_sha256: String,
    pub redacted: String,
    pub fingerprint: String,
    pub revocable: bool,
    pub confidence: Confidence,
    pub provenance: Option<Provenance>,
}

/// Position of a secret in its input, as computed by the reader.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub end_line: u64,
    pub end_column: u64,
}

impl Finding {
    /// Builds a finding for `secret` found by `rule` at `position` of `path`.
    pub fn new(rule: &Rule, path: &str, position: Position, secret: &[u8]) -> Finding {
        let clear = String::from_utf8_lossy(secret).into_owned();
        let secret_sha256 = sha256_hex(secret);
        Finding {
            rule: rule.id.clone(),
            path: path.to_string(),
            line: position.line,
            column: position.column,
            end_line: position.end_line,
            end_column: position.end_column,
            redacted: redact(&clear, &rule.prefixes),
            fingerprint: fingerprint(&rule.id, path, &secret_sha256),
            secret: Secret::new(clear),
            secret_sha256,
            revocable: rule.revocable,
            confidence: rule.confidence,
            provenance: None,
        }
    }

    /// The same secret at the same position of the same content found at another `path`
    /// and in history (git scans: a blob is scanned once, reported where it appeared).
    pub fn relocated(&self, path: &str, provenance: Provenance) -> Finding {
        Finding {
            path: path.to_string(),
            fingerprint: fingerprint(&self.rule, path, &self.secret_sha256),
            provenance: Some(provenance),
            ..self.clone()
        }
    }

    /// Sort key for stable report order.
    pub fn sort_key(&self) -> (&str, u64, u64, &str) {
        (&self.path, self.line, self.column, &self.rule)
    }
}

/// A stable id for "this secret, of this rule, in this file": unchanged when lines move,
/// so baselines survive edits elsewhere in the file.
pub fn fingerprint(rule: &str, path: &str, secret_sha256: &str) -> String {
    let joined = format!("{rule}\0{path}\0{secret_sha256}");
    sha256_hex(joined.as_bytes())[..32].to_string()
}
