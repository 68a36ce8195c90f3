//! The matching engine: a prefilter over every rule's literals, then each candidate
//! rule's regex only in a bounded window around the hit.
//!
//! Cost model: one pass of the prefilter over the input (sampled gram lookups, the same
//! cost for 5 rules or 500; see [`super::prefilter`]) plus, per literal hit, one regex
//! search over at most the rule's window. No regex ever runs over the whole input.
//!
//! No rule hides another: the prefilter reports every occurrence of every literal (a
//! literal starting inside another one's match, or one literal a prefix of another, is
//! still reported), and each hit is tried with every rule that owns the literal.

use std::ops::Range;
use std::sync::Arc;

use regex_automata::Anchored;
use regex_automata::util::primitives::NonMaxUsize;

use super::prefilter::{Literal, Prefilter};
use crate::patterns::{KEYWORD_DISTANCE, Rule, RuleSet};

/// A confirmed secret: the rule that matched and the secret's byte span in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawMatch {
    pub start: usize,
    pub end: usize,
    pub rule: usize,
}

/// A rule example that did not behave as its rule file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    pub file: String,
    pub rule: String,
    pub example: String,
    /// `true`: a positive example was not found; `false`: a negative one was.
    pub missed: bool,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.missed { "example does not match" } else { "negative example matches" };
        write!(f, "{}: rule {}: {what}: {:?}", self.file, self.rule, self.example)
    }
}

/// The rules that own one prefilter literal.
#[derive(Debug, Default)]
struct Owners {
    /// Rules for which the literal is a prefix (the secret starts at the hit).
    prefix_of: Vec<usize>,
    /// Rules for which the literal is a nearby keyword.
    keyword_of: Vec<usize>,
    /// The literal's length in bytes.
    len: usize,
}

/// A compiled scanner. Build once (a few milliseconds per hundred rules), then share it
/// across threads: [`Scanner::find`] takes `&self`.
#[derive(Debug)]
pub struct Scanner {
    rules: Arc<RuleSet>,
    prefilter: Prefilter,
    owners: Vec<Owners>,
    overlap: usize,
}

impl Scanner {
    /// Compiles the prefilter for `rules`.
    pub fn new(rules: Arc<RuleSet>) -> Result<Scanner, aho_corasick::BuildError> {
        let mut literals: Vec<Literal> = Vec::new();
        let mut owners: Vec<Owners> = Vec::new();
        for (index, rule) in rules.rules().iter().enumerate() {
            let prefixes = rule.prefixes.iter().map(|p| (p.as_bytes().to_vec(), false));
            let keywords = rule.keywords.iter().map(|k| (k.to_ascii_lowercase().into_bytes(), true));
            for (bytes, case_insensitive) in prefixes.chain(keywords) {
                let position =
                    match literals.iter().position(|l| l.bytes == bytes && l.case_insensitive == case_insensitive) {
                        Some(position) => position,
                        None => {
                            owners.push(Owners { len: bytes.len(), ..Owners::default() });
                            literals.push(Literal { bytes, case_insensitive });
                            literals.len() - 1
                        }
                    };
                let list =
                    if case_insensitive { &mut owners[position].keyword_of } else { &mut owners[position].prefix_of };
                if !list.contains(&index) {
                    list.push(index);
                }
            }
        }
        let prefilter = Prefilter::new(literals)?;
        let overlap = rules.rules().iter().map(needed_overlap).max().unwrap_or(0);
        Ok(Scanner { rules, prefilter, owners, overlap })
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Bytes a chunked reader must keep on both sides of a chunk cut so that every
    /// secret reported from a chunk was seen whole, with its keyword and context.
    pub fn overlap(&self) -> usize {
        self.overlap
    }

    /// Appends to `out` every secret in `hay` whose start lies in `report`, sorted by
    /// position and without duplicates. Bytes outside `report` are still used as context
    /// (look-behind, keywords, the rest of a secret). Cost: one prefilter pass over
    /// `hay`, plus one bounded regex search per literal hit.
    pub fn find(&self, hay: &[u8], report: Range<usize>, out: &mut Vec<RawMatch>) {
        let first = out.len();
        self.prefilter.for_each(hay, |literal, at| self.confirm_literal(literal, hay, at, &report, out));
        let found = &mut out[first..];
        found.sort_unstable();
        let mut kept = first;
        for i in first..out.len() {
            if kept == first || out[kept - 1] != out[i] {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Every secret in `hay`.
    pub fn find_all(&self, hay: &[u8]) -> Vec<RawMatch> {
        let mut out = Vec::new();
        self.find(hay, 0..hay.len(), &mut out);
        out
    }

    /// The rules that match the whole of `token` (format, checksum and entropy; nothing
    /// before or after it): how a reported or imported key is classified.
    pub fn rules_matching_whole(&self, token: &str) -> impl Iterator<Item = &Rule> {
        let len = token.len();
        self.find_all(token.as_bytes())
            .into_iter()
            .filter(move |m| m.start == 0 && m.end == len)
            .map(|m| self.rules.get(m.rule))
    }

    /// Runs every rule's examples and negative examples through the real engine.
    pub fn example_failures(&self) -> Vec<ExampleFailure> {
        self.example_failures_where(|_| true)
    }

    /// The same for the rules that `include` selects (e.g. only user rule files: the
    /// shipped ones are checked by the test suite, and skipping them saves start-up time).
    pub fn example_failures_where(&self, include: impl Fn(&Rule) -> bool) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for (index, rule) in self.rules.rules().iter().enumerate().filter(|(_, r)| include(r)) {
            let cases =
                rule.examples.iter().map(|e| (e, true)).chain(rule.negative_examples.iter().map(|e| (e, false)));
            for (example, positive) in cases {
                let matched = self.find_all(example.as_bytes()).iter().any(|m| m.rule == index);
                if matched != positive {
                    failures.push(ExampleFailure {
                        file: rule.source.clone(),
                        rule: rule.id.clone(),
                        example: example.clone(),
                        missed: positive,
                    });
                }
            }
        }
        failures
    }

    fn confirm_literal(&self, literal: usize, hay: &[u8], at: usize, report: &Range<usize>, out: &mut Vec<RawMatch>) {
        let owners = &self.owners[literal];
        if report.contains(&at) {
            for &index in &owners.prefix_of {
                let rule = self.rules.get(index);
                let end = hay.len().min(at + rule.window);
                confirm(index, rule, hay, at..end, Anchored::Yes, report, out);
            }
        }
        for &index in &owners.keyword_of {
            let rule = self.rules.get(index);
            let reach = KEYWORD_DISTANCE + rule.window;
            let window = at.saturating_sub(reach)..hay.len().min(at + owners.len + reach);
            confirm(index, rule, hay, window, Anchored::No, report, out);
        }
    }
}

/// Runs `rule`'s regex in `window` and records each accepted secret starting in `report`.
fn confirm(
    index: usize,
    rule: &Rule,
    hay: &[u8],
    window: Range<usize>,
    anchored: Anchored,
    report: &Range<usize>,
    out: &mut Vec<RawMatch>,
) {
    let Some(regex) = rule.regex() else { return };
    let group = rule.secret_group.unwrap_or(0);
    let mut slots: Vec<Option<NonMaxUsize>> = vec![None; 2 * (group + 1)];
    let mut at = window.start;
    while at < window.end {
        let input = regex_automata::Input::new(hay).range(at..window.end).anchored(anchored);
        if regex.search_slots(&input, &mut slots).is_none() {
            return;
        }
        let span = |slot: usize| slots[slot].zip(slots[slot + 1]).map(|(s, e)| (s.get(), e.get()));
        let Some((match_start, match_end)) = span(0) else {
            return;
        };
        let (start, end) = span(2 * group).unwrap_or((match_start, match_end));
        if start < end && report.contains(&start) && rule.accepts(&hay[start..end]) {
            out.push(RawMatch { start, end, rule: index });
        }
        if anchored == Anchored::Yes {
            return;
        }
        at = match_end.max(at + 1);
    }
}

/// The overlap a rule needs between chunks: its whole keyword reach on both sides.
fn needed_overlap(rule: &Rule) -> usize {
    if rule.is_prefix_rule() {
        rule.window
    } else {
        let longest = rule.keywords.iter().map(String::len).max().unwrap_or(0);
        2 * (KEYWORD_DISTANCE + rule.window) + longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn scanner(rules: &str) -> Scanner {
        let set = RuleSet::from_sources(vec![("t.toml".into(), rules.into())]).unwrap();
        Scanner::new(Arc::new(set)).unwrap()
    }

    const OVERLAPPING: &str = r#"
[[rules]]
id = "short"
name = "Short"
prefixes = ["sk-"]
regex = 'sk-[a-zA-Z0-9]{20}\b'
[[rules]]
id = "long"
name = "Long"
prefixes = ["sk-ant-"]
regex = 'sk-ant-[a-zA-Z0-9]{16}\b'
[[rules]]
id = "inner"
name = "Inner"
prefixes = ["ant-"]
regex = 'ant-[a-zA-Z0-9]{16}\b'
"#;

    #[test]
    fn overlapping_rules_do_not_hide_each_other() {
        let s = scanner(OVERLAPPING);
        let found = s.find_all(b"x sk-ant-abcdefghijklmnop y");
        let ids: Vec<&str> = found.iter().map(|m| s.rules().get(m.rule).id.as_str()).collect();
        assert_eq!(ids, ["long", "inner"]);
        let found = s.find_all(b"sk-abcdefghij0123456789");
        assert_eq!(found.len(), 1);
        assert_eq!(s.rules().get(found[0].rule).id, "short");
    }

    #[test]
    fn two_rules_sharing_a_literal_both_run() {
        let s = scanner(
            r#"
[[rules]]
id = "a"
name = "A"
prefixes = ["tok_"]
regex = 'tok_[0-9]{8}\b'
[[rules]]
id = "b"
name = "B"
prefixes = ["tok_"]
regex = 'tok_[0-9]{4}\b'
"#,
        );
        let found = s.find_all(b"tok_12345678 tok_1234");
        assert_eq!(found.len(), 2);
        assert_ne!(found[0].rule, found[1].rule);
    }

    #[test]
    fn keyword_rule_finds_secret_group_near_keyword_case_insensitively() {
        let s = scanner(
            r#"
[[rules]]
id = "kw"
name = "Keyword"
keywords = ["password"]
regex = '(?i)password\s*[:=]\s*"(?P<secret>[^"\s]{8,64})"'
"#,
        );
        let hay = br#"db: PASSWORD = "hunter2hunter2""#;
        let found = s.find_all(hay);
        assert_eq!(found.len(), 1);
        assert_eq!(&hay[found[0].start..found[0].end], b"hunter2hunter2");
    }

    #[test]
    fn report_range_limits_what_is_reported_but_not_context() {
        let s = scanner(OVERLAPPING);
        let hay = b"aaaa sk-abcdefghij0123456789 bbbb";
        let mut out = Vec::new();
        s.find(hay, 0..5, &mut out);
        assert!(out.is_empty());
        s.find(hay, 5..6, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn shipped_examples_all_behave() {
        let s = Scanner::new(Arc::new(RuleSet::load(&[]).unwrap())).unwrap();
        assert_eq!(s.example_failures(), []);
    }

    #[test]
    fn bad_checksum_and_low_entropy_placeholder_are_rejected() {
        let s = Scanner::new(Arc::new(RuleSet::load(&[]).unwrap())).unwrap();
        let good = crate::patterns::checksum::with_crc32_base62("ghp_", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123");
        assert_eq!(s.find_all(good.as_bytes()).len(), 1);
        let bad = good.replace("ghp_a", "ghp_b");
        assert!(s.find_all(bad.as_bytes()).is_empty());
        let placeholder = format!("xai-{}", "X".repeat(80));
        assert!(s.find_all(placeholder.as_bytes()).is_empty());
        let aws_doc = b"AKIAIOSFODNN7EXAMPLE";
        assert!(s.find_all(aws_doc).is_empty());
    }
}
