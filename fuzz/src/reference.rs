//! A slow reference for the scanner, written from the rule semantics rather than from
//! the engine's data structures: no prefilter (literals are found by comparing at every
//! position), no chunks, no report ranges, and the regex crate's plain capture iterator.
//!
//! The semantics it implements (and what "equal" means for the fuzz target):
//! - a prefix rule reports the regex match anchored where one of its prefixes occurs,
//!   limited to the rule's window (a secret is at most `window` bytes);
//! - a keyword rule reports every leftmost-first match of its regex within
//!   `KEYWORD_DISTANCE + window` bytes either side of each keyword occurrence (ASCII
//!   case-insensitive);
//! - the secret is the `secret` group (else the whole match), non-empty, and passes the
//!   rule's entropy, stopword and checksum checks;
//! - findings are a *set* of (start, end, rule): overlapping findings of different rules,
//!   and of one rule at different starts, are all kept; the same one found twice (two
//!   keywords nearby, two chunks) counts once;
//! - line and column come from the whole input, whatever the chunking; a finding on a
//!   line with an allow marker is dropped.

use std::collections::{BTreeSet, HashMap};

use regex_automata::{Anchored, Input};
use revokd::patterns::{KEYWORD_DISTANCE, Rule, RuleSet};
use revokd::scan::allow::line_is_allowed;

/// (start, end, rule index), ordered like the engine's `RawMatch`.
pub type Span = (usize, usize, usize);

/// What a finding is compared on: (rule id, line, column, end line, end column, secret).
pub type FindingKey = (String, u64, u64, u64, u64, Vec<u8>);

/// Every secret in `hay` by the semantics above.
pub fn spans(rules: &RuleSet, hay: &[u8]) -> BTreeSet<Span> {
    let mut out = BTreeSet::new();
    for (index, rule) in rules.rules().iter().enumerate() {
        // A shipped rule that does not compile is a failing test elsewhere.
        let Some(regex) = rule.regex() else { continue };
        if rule.is_prefix_rule() {
            let starts: BTreeSet<usize> =
                rule.prefixes.iter().flat_map(|p| occurrences(hay, p.as_bytes(), false)).collect();
            for at in starts {
                let input = Input::new(hay).range(at..hay.len().min(at + rule.window)).anchored(Anchored::Yes);
                let mut caps = regex.create_captures();
                regex.search_captures(&input, &mut caps);
                accept(rule, index, hay, &caps, &mut out);
            }
        } else {
            let reach = KEYWORD_DISTANCE + rule.window;
            for keyword in &rule.keywords {
                for at in occurrences(hay, keyword.as_bytes(), true) {
                    let window = at.saturating_sub(reach)..hay.len().min(at + keyword.len() + reach);
                    for caps in regex.captures_iter(Input::new(hay).range(window)) {
                        accept(rule, index, hay, &caps, &mut out);
                    }
                }
            }
        }
    }
    out
}

/// The findings the reader must report for `hay`, sorted. Lines, characters and allow
/// markers are counted once per input, not once per finding: thousands of findings on
/// one long line would otherwise cost findings × line length.
pub fn findings(rules: &RuleSet, hay: &[u8]) -> Vec<FindingKey> {
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(hay.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i + 1)).collect();
    let mut chars_before: Vec<u64> = Vec::with_capacity(hay.len() + 1);
    chars_before.push(0);
    for &b in hay {
        chars_before.push(chars_before[chars_before.len() - 1] + chars(&[b]));
    }
    let mut allowed: HashMap<(usize, usize), bool> = HashMap::new();
    let mut out: Vec<FindingKey> = spans(rules, hay)
        .into_iter()
        .filter_map(|(start, end, index)| {
            // The line holding `start`, and the first newline at or after `end`.
            let line_index = line_starts.partition_point(|&s| s <= start) - 1;
            let line_start = line_starts[line_index];
            let line_end = line_starts.get(line_starts.partition_point(|&s| s <= end)).map_or(hay.len(), |&s| s - 1);
            if *allowed.entry((line_start, line_end)).or_insert_with(|| line_is_allowed(&hay[line_start..line_end])) {
                return None;
            }
            let secret = &hay[start..end];
            let line = 1 + line_index as u64;
            let column = 1 + chars_before[start] - chars_before[line_start];
            let end_column = match secret.iter().rposition(|&b| b == b'\n') {
                Some(last) => 1 + chars(&secret[last + 1..]),
                None => column + chars(secret),
            };
            let id = rules.get(index).id.clone();
            Some((id, line, column, line + newlines(secret), end_column, secret.to_vec()))
        })
        .collect();
    out.sort();
    out
}

fn accept(
    rule: &Rule,
    index: usize,
    hay: &[u8],
    caps: &regex_automata::util::captures::Captures,
    out: &mut BTreeSet<Span>,
) {
    let Some(whole) = caps.get_match() else { return };
    let group = rule.secret_group.unwrap_or(0);
    let span = caps.get_group(group).unwrap_or(whole.span());
    if span.start < span.end && rule.accepts(&hay[span.start..span.end]) {
        out.insert((span.start, span.end, index));
    }
}

/// Every position where `literal` occurs (overlapping occurrences included).
fn occurrences(hay: &[u8], literal: &[u8], fold: bool) -> Vec<usize> {
    let Some(last) = hay.len().checked_sub(literal.len()) else { return Vec::new() };
    (0..=last)
        .filter(|&at| {
            let window = &hay[at..at + literal.len()];
            if fold { window.eq_ignore_ascii_case(literal) } else { window == literal }
        })
        .collect()
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Characters as the reader counts them: every byte that is not a UTF-8 continuation.
fn chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}
