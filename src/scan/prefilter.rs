//! The prefilter: finds every position where some rule literal occurs, with one SIMD
//! (Teddy) pass over the input.
//!
//! Teddy is fast only for at most 64 patterns, and only for case-sensitive ones. So the
//! automaton does not search the literals themselves but *anchors*: a short, rare
//! substring of each literal, shared by several literals when there are more than
//! [`ANCHOR_LIMIT`] of them. Each anchor hit is then verified against the literals it
//! stands for (a memcmp). When any literal is case-insensitive (rule keywords), the input
//! is lowercased block by block into a small buffer that stays in cache, and the
//! anchors are lowercase; case-sensitive literals are still verified on the original bytes.
//!
//! Cost: one pass of Teddy over the input (plus one lowercasing pass when keywords
//! exist), then per anchor hit a few byte comparisons.

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, Input, MatchKind};

/// Most anchors the automaton gets: Teddy's limit (fat Teddy, AVX2).
pub const ANCHOR_LIMIT: usize = 64;

/// Shortest anchor: Teddy fingerprints up to 3 bytes; shorter anchors hit everywhere.
const MIN_ANCHOR: usize = 3;

/// Longest anchor kept for a literal of its own (longer adds nothing to selectivity that
/// the literal check does not already give).
const MAX_SOLO_ANCHOR: usize = 8;

/// Bytes lowercased and searched at a time in folding mode: small enough to stay in L2.
const FOLD_BLOCK: usize = 64 * 1024;

/// A literal the prefilter reports.
#[derive(Debug, Clone)]
pub struct Literal {
    pub bytes: Vec<u8>,
    pub case_insensitive: bool,
}

#[derive(Debug)]
struct Anchor {
    /// (literal index, offset of the anchor inside the literal).
    entries: Vec<(usize, usize)>,
    /// Other anchors that can start at the same position (one a prefix of the other).
    also: Vec<usize>,
    bytes: Vec<u8>,
}

/// Finds literal occurrences. Build once, share across threads.
#[derive(Debug)]
pub struct Prefilter {
    automaton: AhoCorasick,
    anchors: Vec<Anchor>,
    literals: Vec<Literal>,
    fold: bool,
    longest_anchor: usize,
}

thread_local! {
    static FOLDED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Prefilter {
    /// Builds the anchor automaton for `literals` (each at least [`MIN_ANCHOR`] bytes).
    pub fn new(literals: Vec<Literal>) -> Result<Prefilter, aho_corasick::BuildError> {
        let fold = literals.iter().any(|l| l.case_insensitive);
        let searched: Vec<Vec<u8>> =
            literals.iter().map(|l| if fold { l.bytes.to_ascii_lowercase() } else { l.bytes.clone() }).collect();
        let mut anchors = choose_anchors(&searched, fold);
        for i in 0..anchors.len() {
            anchors[i].also = (0..anchors.len())
                .filter(|&j| {
                    let (a, b) = (&anchors[i].bytes, &anchors[j].bytes);
                    j != i && (a.starts_with(b) || b.starts_with(a))
                })
                .collect();
        }
        let automaton =
            AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(anchors.iter().map(|a| &a.bytes))?;
        let longest_anchor = anchors.iter().map(|a| a.bytes.len()).max().unwrap_or(0);
        Ok(Prefilter { automaton, anchors, literals, fold, longest_anchor })
    }

    /// Number of anchors the automaton searches for.
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// Calls `found(literal, position)` for every occurrence of every literal in `hay`,
    /// in increasing position order per anchor.
    pub fn for_each(&self, hay: &[u8], mut found: impl FnMut(usize, usize)) {
        if !self.fold {
            self.search_block(hay, hay, 0, hay.len(), &mut found);
            return;
        }
        FOLDED.with(|cell| {
            let mut folded = cell.borrow_mut();
            let mut block = 0;
            while block < hay.len() {
                let end = hay.len().min(block + FOLD_BLOCK + self.longest_anchor - 1);
                folded.clear();
                folded.extend(hay[block..end].iter().map(u8::to_ascii_lowercase));
                let report = (hay.len() - block).min(FOLD_BLOCK);
                self.search_block(hay, &folded, block, report, &mut found);
                block += FOLD_BLOCK;
            }
        });
    }

    /// Searches `text` (== `hay[base..]`, possibly lowercased) for anchors starting
    /// before `report`, and verifies each hit's literals on `hay`.
    fn search_block(&self, hay: &[u8], text: &[u8], base: usize, report: usize, found: &mut impl FnMut(usize, usize)) {
        let mut at = 0;
        while at < report {
            let Some(hit) = self.automaton.find(Input::new(text).span(at..text.len())) else { return };
            let start = hit.start();
            if start >= report {
                return;
            }
            let first = hit.pattern().as_usize();
            self.verify(first, hay, base + start, found);
            for &other in &self.anchors[first].also {
                let bytes = &self.anchors[other].bytes;
                if text.get(start..start + bytes.len()) == Some(bytes.as_slice()) {
                    self.verify(other, hay, base + start, found);
                }
            }
            at = start + 1;
        }
    }

    /// Reports each literal of `anchor` that really occurs around the anchor hit at `at`.
    fn verify(&self, anchor: usize, hay: &[u8], at: usize, found: &mut impl FnMut(usize, usize)) {
        for &(index, offset) in &self.anchors[anchor].entries {
            let Some(start) = at.checked_sub(offset) else { continue };
            let literal = &self.literals[index];
            let Some(window) = hay.get(start..start + literal.bytes.len()) else { continue };
            let matches = if literal.case_insensitive {
                window.eq_ignore_ascii_case(&literal.bytes)
            } else {
                window == literal.bytes.as_slice()
            };
            if matches {
                found(index, start);
            }
        }
    }
}

/// Picks anchors: each literal's rarest substring, then, while there are more than
/// [`ANCHOR_LIMIT`], merges literals under a shared substring, choosing the merge that
/// saves the most anchors per unit of expected hit rate.
fn choose_anchors(literals: &[Vec<u8>], fold: bool) -> Vec<Anchor> {
    let cost = |s: &[u8]| expected_rate(s, fold);
    // Start: every literal alone, under its rarest window.
    let mut owner: Vec<Vec<u8>> = literals
        .iter()
        .map(|lit| {
            let best = (0..=lit.len().saturating_sub(MIN_ANCHOR))
                .min_by(|&a, &b| cost(&lit[a..a + MIN_ANCHOR]).total_cmp(&cost(&lit[b..b + MIN_ANCHOR])))
                .unwrap_or(0);
            lit[best..lit.len().min(best + MAX_SOLO_ANCHOR)].to_vec()
        })
        .collect();
    let distinct = |owner: &[Vec<u8>]| {
        let mut set: Vec<&Vec<u8>> = owner.iter().collect();
        set.sort();
        set.dedup();
        set.len()
    };
    while distinct(&owner) > ANCHOR_LIMIT {
        // Candidates: every substring of MIN_ANCHOR..=4 bytes of any literal.
        let mut best: Option<(f64, Vec<u8>)> = None;
        let mut seen = std::collections::HashSet::new();
        for lit in literals {
            for len in MIN_ANCHOR..=4.min(lit.len()) {
                for start in 0..=lit.len() - len {
                    let candidate = &lit[start..start + len];
                    if !seen.insert(candidate.to_vec()) {
                        continue;
                    }
                    let mut groups: Vec<&Vec<u8>> = literals
                        .iter()
                        .zip(&owner)
                        .filter(|(l, _)| contains(l, candidate))
                        .map(|(_, anchor)| anchor)
                        .collect();
                    groups.sort();
                    groups.dedup();
                    let saved = groups.len().saturating_sub(1);
                    if saved == 0 {
                        continue;
                    }
                    let score = saved as f64 / (cost(candidate) + 1e-9);
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, candidate.to_vec()));
                    }
                }
            }
        }
        let Some((_, anchor)) = best else { break };
        for (lit, slot) in literals.iter().zip(owner.iter_mut()) {
            if contains(lit, &anchor) {
                *slot = anchor.clone();
            }
        }
    }
    let mut anchors: Vec<Anchor> = Vec::new();
    for (index, (lit, anchor)) in literals.iter().zip(&owner).enumerate() {
        let offset = find(lit, anchor).unwrap_or(0);
        match anchors.iter_mut().find(|a| &a.bytes == anchor) {
            Some(existing) => existing.entries.push((index, offset)),
            None => anchors.push(Anchor { entries: vec![(index, offset)], also: Vec::new(), bytes: anchor.clone() }),
        }
    }
    anchors
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Expected occurrences per input byte of `s`, assuming independent bytes with the
/// frequencies of [`BYTE_PPM`]. When `fold`, a letter stands for both its cases.
fn expected_rate(s: &[u8], fold: bool) -> f64 {
    s.iter()
        .map(|&b| {
            let ppm = if fold && b.is_ascii_alphabetic() {
                BYTE_PPM[b.to_ascii_lowercase() as usize] + BYTE_PPM[b.to_ascii_uppercase() as usize]
            } else {
                BYTE_PPM[b as usize]
            };
            f64::from(ppm) / 1e6
        })
        .product()
}

/// Byte frequencies in source code, per million bytes, measured by us over 150 MB of
/// Rust, C header, Python and text files (minimum 1).
#[rustfmt::skip]
const BYTE_PPM: [u32; 256] = [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 893, 24892, 1, 1, 74, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    159510, 934, 4575, 5562, 307, 32, 1067, 1568, 12735, 12742, 7862, 241, 12460, 2315, 4360, 8150,
    6962, 5864, 6868, 5203, 2294, 2839, 2202, 1245, 2210, 2398, 14219, 6526, 1622, 5200, 2350, 162,
    297, 10519, 3407, 10349, 5941, 16122, 5196, 3861, 2077, 11396, 387, 2103, 9860, 4977, 10910, 11051,
    9064, 458, 10966, 18041, 13190, 4369, 2394, 1261, 3305, 1916, 323, 2015, 697, 2009, 44, 47030,
    1304, 23274, 9589, 21502, 16448, 52200, 13789, 7144, 9053, 27975, 349, 7031, 17272, 9637, 32629, 25636,
    17884, 791, 27007, 33912, 41170, 19976, 3990, 4090, 4103, 7282, 1179, 2233, 407, 2227, 15, 1,
    110, 47, 52, 45, 196, 200, 165, 48, 45, 34, 34, 30, 32, 37, 32, 32,
    72, 108, 33, 29, 34, 62, 103, 22, 24, 36, 38, 30, 28, 71, 51, 39,
    42, 28, 26, 34, 33, 35, 31, 31, 37, 38, 37, 39, 39, 38, 75, 39,
    52, 41, 45, 45, 48, 43, 29, 51, 44, 47, 53, 37, 43, 40, 38, 43,
    1, 1, 6, 15, 7, 7, 4, 6, 6, 3, 2, 2, 132, 18, 21, 10,
    4, 5, 5, 6, 4, 2, 64, 3, 12, 15, 1, 3, 2, 1, 1, 2,
    66, 571, 132, 38, 3, 8, 6, 6, 5, 4, 62, 87, 87, 42, 1, 39,
    181, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(s: &str, ci: bool) -> Literal {
        Literal { bytes: s.as_bytes().to_vec(), case_insensitive: ci }
    }

    fn occurrences(p: &Prefilter, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        p.for_each(hay, |lit, at| out.push((lit, at)));
        out.sort();
        out
    }

    #[test]
    fn finds_prefix_related_and_nested_literals() {
        let p = Prefilter::new(vec![literal("sk-", false), literal("sk-ant-", false), literal("ant-", false)]).unwrap();
        assert_eq!(occurrences(&p, b"x sk-ant-y"), [(0, 2), (1, 2), (2, 5)]);
    }

    #[test]
    fn case_insensitive_literals_fold_and_sensitive_ones_do_not() {
        let p = Prefilter::new(vec![literal("sendgrid", true), literal("AKIA", false)]).unwrap();
        assert_eq!(occurrences(&p, b"SendGrid akia AKIA"), [(0, 0), (1, 14)]);
    }

    #[test]
    fn many_literals_are_merged_under_at_most_the_limit_and_all_found() {
        let literals: Vec<Literal> = (0..300).map(|i| literal(&format!("tok{i:03}_"), i % 3 == 0)).collect();
        let p = Prefilter::new(literals.clone()).unwrap();
        assert!(p.anchor_count() <= ANCHOR_LIMIT, "{}", p.anchor_count());
        let mut hay = Vec::new();
        for lit in &literals {
            hay.extend_from_slice(b" ");
            hay.extend_from_slice(&lit.bytes);
        }
        let found = occurrences(&p, &hay);
        assert_eq!(found.len(), 300);
        assert!(found.iter().enumerate().all(|(i, (lit, _))| *lit == i));
    }

    #[test]
    fn literals_across_fold_blocks_are_found_once() {
        let p = Prefilter::new(vec![literal("password", true)]).unwrap();
        for shift in [0usize, 1, 3, 7] {
            let mut hay = vec![b'.'; FOLD_BLOCK - shift];
            hay.extend_from_slice(b"PassWord");
            hay.extend_from_slice(&[b'.'; 100]);
            assert_eq!(occurrences(&p, &hay), [(0, FOLD_BLOCK - shift)], "shift {shift}");
        }
    }
}
