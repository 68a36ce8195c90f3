//! Scans one input (a file, stdin, a git blob) in bounded chunks.
//!
//! Memory per call is one buffer of `chunk_size + 2 × overlap` bytes, whatever the input
//! size. Consecutive chunks share `overlap` bytes of context on each side of the cut, and
//! a secret is reported only from the chunk in which it starts before the cut, so a
//! secret straddling a cut is found exactly once. A line can be longer than a chunk: an
//! allow marker seen on a line is carried across cuts, and a finding on a line that goes
//! on past its chunk waits until the line ends (a marker may still follow).

use std::io::{self, Read};

use memchr::{memchr_iter, memrchr};

use super::allow::{LONGEST_MARKER, line_is_allowed};
use super::engine::{RawMatch, Scanner};
use super::finding::{Finding, Position};

/// Default bytes read per chunk: large enough that the per-chunk costs vanish, small
/// enough that 2 × threads buffers stay far below the RSS budget.
pub const DEFAULT_CHUNK_SIZE: usize = 4 * 1024 * 1024;

/// How many leading bytes are checked for a NUL to call an input binary (as git does).
const BINARY_SNIFF_LEN: usize = 8 * 1024;

/// What to do with one input.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub chunk_size: usize,
    /// Scan inputs that look binary instead of skipping them.
    pub scan_binary: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { chunk_size: DEFAULT_CHUNK_SIZE, scan_binary: false }
    }
}

/// What happened to one input.
#[derive(Debug)]
pub enum InputOutcome {
    Scanned { bytes: u64, findings: Vec<Finding> },
    Binary { bytes: u64 },
}

/// Reads `input` to the end and returns its findings (allow-marked lines removed).
/// `buf` is reused between calls to avoid an allocation per file.
pub fn scan_reader(
    scanner: &Scanner,
    mut input: impl Read,
    path: &str,
    options: ReadOptions,
    buf: &mut Vec<u8>,
) -> io::Result<InputOutcome> {
    // Every allow marker then lies whole inside some chunk.
    let overlap = scanner.overlap().max(LONGEST_MARKER);
    let target = options.chunk_size.max(1) + 2 * overlap;
    if buf.len() < target {
        // Zeroed once per buffer, not per input: `len` below tracks the valid bytes.
        buf.resize(target, 0);
    }
    let mut len = 0;
    let mut total: u64 = 0;
    let mut before = Before::default();
    let mut report_from = 0;
    let mut findings = Vec::new();
    let mut matches = Vec::new();
    let mut first = true;
    loop {
        let kept = len;
        let eof = fill(&mut input, &mut buf[..target], &mut len)?;
        total += (len - kept) as u64;
        let data = &buf[..len];
        if first && !options.scan_binary && memchr::memchr(0, &data[..len.min(BINARY_SNIFF_LEN)]).is_some() {
            io::copy(&mut input, &mut io::sink()).map(|n| total += n)?;
            return Ok(InputOutcome::Binary { bytes: total });
        }
        first = false;
        let until = if eof { len } else { len - overlap };
        matches.clear();
        scanner.find(data, report_from..until, &mut matches);
        collect(scanner, data, path, eof, &mut before, &matches, &mut findings);
        if eof {
            return Ok(InputOutcome::Scanned { bytes: total, findings });
        }
        let keep_from = until - overlap;
        before.advance(data, keep_from);
        buf.copy_within(keep_from..len, 0);
        len -= keep_from;
        report_from = until - keep_from;
    }
}

/// Reads into `buf[*len..]` until it is full or the input ends; returns true at the end.
fn fill(input: &mut impl Read, buf: &mut [u8], len: &mut usize) -> io::Result<bool> {
    while *len < buf.len() {
        match input.read(&mut buf[*len..]) {
            Ok(0) => return Ok(true),
            Ok(n) => *len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// What a chunk inherits from the input before it.
#[derive(Default)]
struct Before {
    /// Newlines before the chunk.
    lines: u64,
    /// Characters between the last newline before the chunk and its first byte, for the
    /// column of a finding whose line began in an earlier chunk.
    columns: u64,
    /// The line holding the chunk's first byte carries an allow marker in a part that an
    /// earlier chunk held.
    marked: bool,
    /// Findings on the line that was still open where the previous chunk ended, not yet
    /// reported: the rest of the line may carry an allow marker.
    waiting: Vec<Finding>,
    /// Where that line starts in the chunk (0 when it began before).
    waiting_line: usize,
}

impl Before {
    /// Moves the chunk's start to `keep_from` of `buf`, which is dropped.
    fn advance(&mut self, buf: &[u8], keep_from: usize) {
        let dropped = &buf[..keep_from];
        self.lines += memchr_iter(b'\n', dropped).count() as u64;
        let line_start = match memrchr(b'\n', dropped) {
            Some(last) => {
                self.columns = char_count(&dropped[last + 1..]);
                last + 1
            }
            None => {
                self.columns += char_count(dropped);
                0
            }
        };
        let (line_end, _) = line_end(buf, line_start, false);
        self.marked = self.line_marked(buf, line_start, line_end);
        self.waiting_line = self.waiting_line.saturating_sub(keep_from);
    }

    /// Whether the line `start..end` of `buf` carries an allow marker, counting the part
    /// before `buf` when the line began there.
    fn line_marked(&self, buf: &[u8], start: usize, end: usize) -> bool {
        (start == 0 && self.marked) || line_is_allowed(&buf[start..end])
    }
}

/// The end of the line that holds `at` (its newline, or the end of `buf`), and whether
/// the line ends there: a newline was found, or the input ends with `buf`.
fn line_end(buf: &[u8], at: usize, eof: bool) -> (usize, bool) {
    match memchr::memchr(b'\n', &buf[at..]) {
        Some(i) => (at + i, true),
        None => (buf.len(), eof),
    }
}

/// Turns sorted raw matches into findings with line and column, dropping those on lines
/// with an allow marker; findings on a line that goes on past `buf` (unless `eof`) wait
/// in `before` for its end.
///
/// Linear in `buf` whatever the number of matches: line, line start and column advance
/// from one match to the next, and a line's allow-marker check is reused by every
/// single-line secret on it (a minified line with thousands of matches is read once).
fn collect(
    scanner: &Scanner,
    buf: &[u8],
    path: &str,
    eof: bool,
    before: &mut Before,
    matches: &[RawMatch],
    out: &mut Vec<Finding>,
) {
    if !before.waiting.is_empty() {
        let (end, ended) = line_end(buf, before.waiting_line, eof);
        if before.line_marked(buf, before.waiting_line, end) {
            before.waiting.clear();
        } else if ended {
            out.append(&mut before.waiting);
        }
    }
    let mut cursor = 0;
    let mut line = before.lines + 1;
    let mut line_start = 0;
    // Characters from the start of the cursor's line (possibly before `buf`) to the cursor.
    let mut columns = before.columns;
    // The last line checked for allow markers: (start, allowed, ended).
    let mut checked: Option<(usize, bool, bool)> = None;
    for m in matches {
        let gap = &buf[cursor..m.start];
        match memrchr(b'\n', gap) {
            Some(last) => {
                line += memchr_iter(b'\n', gap).count() as u64;
                line_start = cursor + last + 1;
                columns = char_count(&buf[line_start..m.start]);
            }
            None => columns += char_count(gap),
        }
        cursor = m.start;
        let secret = &buf[m.start..m.end];
        let last_newline = memrchr(b'\n', secret);
        let (allowed, ended) = match checked {
            Some((start, allowed, ended)) if start == line_start && last_newline.is_none() => (allowed, ended),
            _ => {
                let (end, ended) = line_end(buf, m.end, eof);
                let allowed = before.line_marked(buf, line_start, end);
                if last_newline.is_none() {
                    checked = Some((line_start, allowed, ended));
                }
                (allowed, ended)
            }
        };
        if allowed {
            continue;
        }
        let column = columns + 1;
        let newlines = memchr_iter(b'\n', secret).count() as u64;
        let end_column = match last_newline {
            None => column + char_count(secret),
            Some(last) => char_count(&secret[last + 1..]) + 1,
        };
        let position = Position { line, column, end_line: line + newlines, end_column };
        let finding = Finding::new(scanner.rules().get(m.rule), path, position, secret);
        if ended {
            out.push(finding);
        } else {
            before.waiting_line = line_start;
            before.waiting.push(finding);
        }
    }
}

/// Characters in UTF-8 `bytes` (invalid bytes count one each).
fn char_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::patterns::RuleSet;

    fn scanner() -> Scanner {
        Scanner::new(Arc::new(RuleSet::load(&[]).unwrap())).unwrap()
    }

    /// A scanner with only the xAI rule: its overlap is small, so short texts span chunks.
    fn xai_scanner() -> Scanner {
        let xai = crate::patterns::SHIPPED.iter().find(|(name, _)| *name == "xai.toml").unwrap();
        let rules = RuleSet::from_sources(vec![(xai.0.to_string(), xai.1.to_string())]).unwrap();
        Scanner::new(Arc::new(rules)).unwrap()
    }

    pub(crate) const XAI: &str = "xai-Q7mZp3LwT9vKc2RxY8nB4hJd6FsG1aE5uWqN0oHiM3tVbC7yXkP2rD9eL4gS8fA6jU1zO5wI0lT3mR7q";

    fn scan(text: &[u8], chunk_size: usize) -> Vec<Finding> {
        scan_with(&scanner(), text, chunk_size)
    }

    fn scan_with(scanner: &Scanner, text: &[u8], chunk_size: usize) -> Vec<Finding> {
        let options = ReadOptions { chunk_size, scan_binary: false };
        match scan_reader(scanner, text, "f", options, &mut Vec::new()).unwrap() {
            InputOutcome::Scanned { findings, .. } => findings,
            InputOutcome::Binary { .. } => panic!("text input called binary"),
        }
    }

    #[test]
    fn secret_at_every_offset_across_a_chunk_boundary_is_found_once() {
        let s = xai_scanner();
        let chunk = 64;
        let step = chunk + s.overlap();
        for offset in 0..(2 * step + XAI.len()) {
            let mut text = vec![b'.'; offset];
            text.extend_from_slice(XAI.as_bytes());
            text.extend_from_slice(b"\n");
            let found = scan_with(&s, &text, chunk);
            assert_eq!(found.len(), 1, "offset {offset}");
            assert_eq!(found[0].column, offset as u64 + 1, "offset {offset}");
            assert_eq!(found[0].end_column, (offset + XAI.len()) as u64 + 1);
        }
    }

    #[test]
    fn lines_and_columns_count_across_chunks_crlf_and_unicode() {
        let mut text = "line one\r\n".repeat(5000).into_bytes();
        text.extend_from_slice(format!("π = \"{XAI}\"\r\n").as_bytes());
        for chunk in [100, 4096, DEFAULT_CHUNK_SIZE] {
            let found = scan(&text, chunk);
            assert_eq!(found.len(), 1, "chunk {chunk}");
            assert_eq!((found[0].line, found[0].column), (5001, 6), "chunk {chunk}");
        }
    }

    #[test]
    fn secrets_at_start_and_end_of_input() {
        let found = scan(XAI.as_bytes(), DEFAULT_CHUNK_SIZE);
        assert_eq!(found.len(), 1);
        let text = format!("{XAI}\n{XAI}");
        let found = scan(text.as_bytes(), DEFAULT_CHUNK_SIZE);
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn allow_markers_suppress_their_line_only() {
        let text = format!("a = '{XAI}' # revokd:allow\nb = '{XAI}'\nc = '{XAI}' // gitleaks:allow\n");
        let found = scan(text.as_bytes(), DEFAULT_CHUNK_SIZE);
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn an_allow_marker_anywhere_on_a_line_longer_than_a_chunk_suppresses_it() {
        let pad = ".".repeat(3000);
        let marked_first = format!("# revokd:allow {pad} {XAI} {pad} {XAI}\nb = {XAI}\n");
        let marked_last = format!("{pad} {XAI} {pad} {XAI} {pad} // gitleaks:allow\nb = {XAI}\n");
        let marked_at_the_end = format!("b = {XAI}\n{pad} {XAI} {pad} # pragma: allowlist secret");
        for (text, line) in [(marked_first, 2), (marked_last, 2), (marked_at_the_end, 1)] {
            for chunk in [1, 7, 100, 1000, 4000, DEFAULT_CHUNK_SIZE] {
                let lines: Vec<u64> =
                    scan_with(&xai_scanner(), text.as_bytes(), chunk).iter().map(|f| f.line).collect();
                assert_eq!(lines, [line], "chunk {chunk}");
            }
        }
        let unmarked = format!("{pad} {XAI} {pad} {XAI} {pad}\nb = {XAI}\n");
        for chunk in [1, 100, 4000, DEFAULT_CHUNK_SIZE] {
            let lines: Vec<u64> =
                scan_with(&xai_scanner(), unmarked.as_bytes(), chunk).iter().map(|f| f.line).collect();
            assert_eq!(lines, [1, 1, 2], "chunk {chunk}");
        }
    }

    #[test]
    fn many_secrets_on_long_lines_get_exact_columns_and_allow_markers() {
        // Line 1: 300 secrets behind multi-byte characters; line 2: allow-marked at its
        // end; line 3: two more. Columns count characters, from 1.
        let mut text = String::new();
        let mut expected = Vec::new();
        for _ in 0..300 {
            text.push_str("é ü ");
            expected.push((1, text.chars().count() as u64 + 1));
            text.push_str(XAI);
        }
        text.push_str(&format!("\nx {XAI} {XAI} # revokd:allow\n"));
        text.push_str(&format!("π {XAI} {XAI}\n"));
        expected.extend([(3, 3), (3, 3 + XAI.len() as u64 + 1)]);
        for chunk in [1000, DEFAULT_CHUNK_SIZE] {
            let found = scan(text.as_bytes(), chunk);
            let positions: Vec<(u64, u64)> = found.iter().map(|f| (f.line, f.column)).collect();
            assert_eq!(positions, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn binary_input_is_skipped_unless_asked() {
        let mut text = vec![0u8, 1, 2];
        text.extend_from_slice(XAI.as_bytes());
        let s = scanner();
        let outcome = scan_reader(&s, text.as_slice(), "b", ReadOptions::default(), &mut Vec::new()).unwrap();
        assert!(matches!(outcome, InputOutcome::Binary { bytes } if bytes == text.len() as u64));
        let options = ReadOptions { scan_binary: true, ..ReadOptions::default() };
        let outcome = scan_reader(&s, text.as_slice(), "b", options, &mut Vec::new()).unwrap();
        assert!(matches!(outcome, InputOutcome::Scanned { findings, .. } if findings.len() == 1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// A secret planted anywhere in random text, whatever surrounds it and wherever
        /// the chunk cuts fall, is found exactly once at its line and column.
        #[test]
        fn planted_secret_is_found_once_at_its_position(
            before in "[a-z0-9 \t\r\n=:π€\"'.,;-]{0,3000}",
            after in "[a-z0-9 \t\r\n=:π€\"'.,;-]{0,300}",
            left in "[ \t\n\"'=:(]",
            right in "[ \t\r\n\"',;)]",
            chunk in 1usize..400,
        ) {
            let text = format!("{before}{left}{XAI}{right}{after}");
            let found = scan_with(&xai_scanner(), text.as_bytes(), chunk);
            let head = format!("{before}{left}");
            let line = head.matches('\n').count() as u64 + 1;
            let column = head.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
            proptest::prop_assert_eq!(found.len(), 1);
            proptest::prop_assert_eq!((found[0].line, found[0].column), (line, column));
            proptest::prop_assert_eq!(found[0].secret.expose(), XAI);
        }
    }
}
