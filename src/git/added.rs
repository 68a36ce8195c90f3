//! Scans what a change added (`scan --staged`, `scan --git --range`): each changed
//! file's new content is scanned whole, so a rule that needs context from an unchanged
//! line still matches, and only findings that touch an added line are kept.
//!
//! A line counts as added when its exact text is in none of the file's earlier
//! versions. This differs from `git diff` only for a line moved or duplicated within
//! the file, which holds nothing that was not committed there already; it costs one
//! hash per line of the earlier versions and needs no diff algorithm.

use std::collections::HashSet;

use memchr::memchr_iter;

use super::BlobScanOptions;
use super::changes::FileChange;
use crate::scan::reader::{InputOutcome, scan_reader};
use crate::scan::{Finding, Provenance, ScanOutput, Scanner};

/// Which lines of a file's new content are added (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLines {
    /// `added[i]`: line `i + 1`. `None`: every line (the file is new).
    added: Option<Vec<bool>>,
}

impl AddedLines {
    /// Lines of `after` whose text is in none of `before` (every line if `before` is
    /// empty). Cost: one pass over each input.
    pub fn between(before: &[&[u8]], after: &[u8]) -> AddedLines {
        if before.is_empty() {
            return AddedLines { added: None };
        }
        let old: HashSet<&[u8]> = before.iter().flat_map(|text| lines(text)).collect();
        AddedLines { added: Some(lines(after).map(|line| !old.contains(line)).collect()) }
    }

    /// True when a line in `first..=last` (1-based) is added.
    pub fn touches(&self, first: u64, last: u64) -> bool {
        let Some(added) = &self.added else { return true };
        let from = first.saturating_sub(1) as usize;
        let to = (last as usize).min(added.len());
        from < to && added[from..to].iter().any(|&a| a)
    }

    /// True when no line is added (nothing to scan).
    pub fn is_empty(&self) -> bool {
        self.added.as_ref().is_some_and(|added| !added.contains(&true))
    }
}

/// The lines of `text`, without their `\n` (a `\r` stays: both sides keep it alike).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr_iter(b'\n', text).map(Some).chain(std::iter::once(None)).map(move |end| {
        let end = end.unwrap_or(text.len());
        let line = &text[start.min(end)..end];
        start = end + 1;
        line
    })
}

/// Scans the new content of each of `changes` and adds the findings on added lines to
/// `output`, with `provenance` (the commit, for range scans). Unreadable blobs are
/// warnings; files over the size limit are skipped with a warning, binary files are
/// skipped and counted (as in a directory scan).
pub fn scan_changes(
    repo: &gix::Repository,
    scanner: &Scanner,
    changes: &[FileChange],
    provenance: Option<&Provenance>,
    options: &BlobScanOptions,
    output: &mut ScanOutput,
) {
    let mut buf = Vec::new();
    for change in changes {
        let path = &change.path;
        let after = match repo.find_object(change.after) {
            Ok(object) => object.detach().data,
            Err(e) => {
                output.stats.errors += 1;
                output.warnings.push(format!("blob {} ({path}): {e}", change.after));
                continue;
            }
        };
        if after.len() as u64 > options.max_file_size {
            output.stats.skipped_large += 1;
            output.warnings.push(format!("{path}: skipped, {} bytes is over the size limit", after.len()));
            continue;
        }
        let mut before = Vec::with_capacity(change.before.len());
        for id in &change.before {
            match repo.find_object(*id) {
                Ok(object) => before.push(object.detach().data),
                // Without the old version every line counts as added: report more, never less.
                Err(e) => {
                    output.stats.errors += 1;
                    output.warnings.push(format!("blob {id} ({path}, before the change): {e}"));
                    before.clear();
                    break;
                }
            }
        }
        let before: Vec<&[u8]> = before.iter().map(Vec::as_slice).collect();
        let added = AddedLines::between(&before, &after);
        if added.is_empty() {
            continue;
        }
        match scan_reader(scanner, after.as_slice(), path, options.read, &mut buf) {
            Ok(InputOutcome::Scanned { bytes, findings }) => {
                output.stats.files += 1;
                output.stats.bytes += bytes;
                let kept = findings.into_iter().filter(|f| added.touches(f.line, f.end_line));
                output.findings.extend(kept.map(|f| with_provenance(f, provenance)));
            }
            Ok(InputOutcome::Binary { bytes }) => {
                output.stats.skipped_binary += 1;
                output.stats.bytes += bytes;
            }
            // Reading from a slice cannot fail; kept total for the type's sake.
            Err(e) => {
                output.stats.errors += 1;
                output.warnings.push(format!("{path}: {e}"));
            }
        }
    }
}

fn with_provenance(mut finding: Finding, provenance: Option<&Provenance>) -> Finding {
    finding.provenance = provenance.cloned();
    finding
}

#[cfg(test)]
mod tests {
    use super::AddedLines;

    #[test]
    fn a_new_file_adds_every_line() {
        let added = AddedLines::between(&[], b"a\nb\n");
        assert!(added.touches(1, 1) && added.touches(2, 2) && added.touches(99, 99));
        assert!(!added.is_empty());
    }

    #[test]
    fn only_lines_new_to_the_file_are_added() {
        let before = b"one\ntwo\nthree\n".as_slice();
        let after = b"zero\none\ntwo\nthree changed\ntwo\n";
        let added = AddedLines::between(&[before], after);
        let flags: Vec<bool> = (1..=6).map(|line| added.touches(line, line)).collect();
        // zero, one, two, "three changed", two (a duplicate), and the empty tail.
        assert_eq!(flags, [true, false, false, true, false, false]);
        assert!(added.touches(3, 4), "a span touching one added line counts");
        assert!(!added.touches(2, 3));
    }

    #[test]
    fn a_merge_adds_only_what_no_parent_had() {
        let ours = b"base\nours\n".as_slice();
        let theirs = b"base\ntheirs\n".as_slice();
        let added = AddedLines::between(&[ours, theirs], b"base\nours\ntheirs\nresolution\n");
        assert_eq!((1..=4).map(|l| added.touches(l, l)).collect::<Vec<_>>(), [false, false, false, true]);
    }

    #[test]
    fn removing_lines_adds_nothing() {
        let added = AddedLines::between(&[b"a\nb\nc".as_slice()], b"a\nc");
        assert!(added.is_empty());
    }

    #[test]
    fn crlf_and_a_missing_final_newline_compare_as_written() {
        let added = AddedLines::between(&[b"key\r\nend".as_slice()], b"key\r\nend\nnew");
        assert_eq!((1..=3).map(|l| added.touches(l, l)).collect::<Vec<_>>(), [false, false, true]);
        let added = AddedLines::between(&[b"key\nend".as_slice()], b"key\r\nend");
        assert!(added.touches(1, 1), "a line ending changed from LF to CRLF is rewritten");
    }
}
