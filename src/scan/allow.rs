//! Inline allow markers: a finding on a line carrying one of these is not reported.

use memchr::memmem;

/// Markers that suppress a finding on their line: ours, and for compatibility gitleaks'
/// and detect-secrets'.
pub const ALLOW_MARKERS: &[&str] = &["revokd:allow", "gitleaks:allow", "pragma: allowlist secret"];

/// The length of the longest marker, in bytes.
pub const LONGEST_MARKER: usize = {
    let (mut i, mut longest) = (0, 0);
    while i < ALLOW_MARKERS.len() {
        if ALLOW_MARKERS[i].len() > longest {
            longest = ALLOW_MARKERS[i].len();
        }
        i += 1;
    }
    longest
};

/// True when `line` carries an allow marker. Cost: one substring search per marker,
/// run only for lines that hold a finding.
pub fn line_is_allowed(line: &[u8]) -> bool {
    ALLOW_MARKERS.iter().any(|marker| memmem::find(line, marker.as_bytes()).is_some())
}

#[cfg(test)]
mod tests {
    use super::line_is_allowed;

    #[test]
    fn each_marker_is_recognised() {
        assert!(line_is_allowed(b"key = 'x' # revokd:allow"));
        assert!(line_is_allowed(b"key = 'x' // gitleaks:allow"));
        assert!(line_is_allowed(b"key = 'x'  # pragma: allowlist secret"));
        assert!(!line_is_allowed(b"key = 'x' # revokd: allow"));
    }
}
