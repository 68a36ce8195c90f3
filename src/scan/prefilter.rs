//! The prefilter: finds every position where some rule literal occurs, with SIMD
//! (Teddy) searches over cache-sized blocks of the input.
//!
//! Teddy is fast only for at most 64 patterns, and only for case-sensitive ones. So the
//! automata do not search the literals themselves but *anchors*: the rarest short window
//! of each literal, shared by several literals when that costs no extra hits. Anchors
//! are split into automata of [`AUTOMATON_SIZE`]; each automaton searches every
//! 64 KiB block while it is still in cache. Each anchor hit is verified against the
//! literals it stands for (a memcmp). Case-sensitive literals (rule prefixes) are
//! searched in the original bytes; case-insensitive ones (rule keywords) by their own
//! automata over a lowercased copy of the block, with lowercase anchors.
//!
//! Cost: per 64 KiB block, one lowercasing pass (only with keywords) and one Teddy pass
//! per automaton, then per anchor hit a few byte comparisons.

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, Input, MatchKind, Span, packed};

/// Anchors per automaton. Teddy accepts up to 64, but its false-candidate rate grows
/// with patterns per bucket: on the Linux source corpus, 136 anchors ran fastest in
/// automata of 16 (slim Teddy, 2 per bucket): 31 ms per 32 MB, against 49 ms in groups
/// of 24, 98 ms in groups of 32 and 63 ms in groups of 8.
pub const AUTOMATON_SIZE: usize = 16;

/// Shortest anchor: Teddy fingerprints up to 3 bytes; shorter anchors hit everywhere.
const MIN_ANCHOR: usize = 3;

/// Longest anchor kept for a literal of its own (longer adds nothing to selectivity that
/// the literal check does not already give).
const MAX_SOLO_ANCHOR: usize = 8;

/// Bytes searched at a time: small enough that every automaton's pass and the
/// lowercasing hit L2 cache.
const BLOCK: usize = 64 * 1024;

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
    bytes: Vec<u8>,
}

/// A multi-literal searcher: Teddy when the CPU and pattern set allow it (the point of
/// this module), else a general Aho-Corasick automaton.
#[derive(Debug)]
enum Searcher {
    Teddy(packed::Searcher),
    General(AhoCorasick),
}

impl Searcher {
    fn new(patterns: &[&[u8]]) -> Result<Searcher, aho_corasick::BuildError> {
        let teddy =
            packed::Config::new().match_kind(packed::MatchKind::LeftmostFirst).builder().extend(patterns).build();
        match teddy {
            Some(searcher) => Ok(Searcher::Teddy(searcher)),
            None => Ok(Searcher::General(AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(patterns)?)),
        }
    }

    /// The leftmost-first match starting at or after `at`: (start, pattern id).
    fn find(&self, text: &[u8], at: usize) -> Option<(usize, usize)> {
        let found = match self {
            Searcher::Teddy(searcher) => searcher.find_in(text, Span::from(at..text.len())),
            Searcher::General(automaton) => automaton.find(Input::new(text).span(at..text.len())),
        };
        found.map(|m| (m.start(), m.pattern().as_usize()))
    }
}

/// One Teddy-sized automaton over some of the anchors.
#[derive(Debug)]
struct Automaton {
    /// Searches lowercased text (its anchors are lowercase).
    folded: bool,
    searcher: Searcher,
    /// Pattern id → anchor index.
    anchors: Vec<usize>,
    /// Pattern id → other pattern ids that can start at the same position (one a
    /// prefix of the other): leftmost-first reports only one of them.
    also: Vec<Vec<usize>>,
}

impl Automaton {
    fn new(anchors: &[Anchor], ids: &[usize], folded: bool) -> Result<Automaton, aho_corasick::BuildError> {
        let bytes: Vec<&[u8]> = ids.iter().map(|&i| anchors[i].bytes.as_slice()).collect();
        let also = (0..bytes.len())
            .map(|i| {
                (0..bytes.len())
                    .filter(|&j| j != i && (bytes[i].starts_with(bytes[j]) || bytes[j].starts_with(bytes[i])))
                    .collect()
            })
            .collect();
        Ok(Automaton { folded, searcher: Searcher::new(&bytes)?, anchors: ids.to_vec(), also })
    }
}

/// Finds literal occurrences. Build once, share across threads.
#[derive(Debug)]
pub struct Prefilter {
    automata: Vec<Automaton>,
    anchors: Vec<Anchor>,
    literals: Vec<Literal>,
    /// Some automaton searches lowercased blocks.
    fold: bool,
    longest_anchor: usize,
}

thread_local! {
    static FOLDED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Prefilter {
    /// Builds the anchor automata for `literals` (each at least [`MIN_ANCHOR`] bytes).
    /// Case-sensitive literals get automata over the original bytes; case-insensitive
    /// ones, over lowercased blocks.
    pub fn new(literals: Vec<Literal>) -> Result<Prefilter, aho_corasick::BuildError> {
        let mut anchors = Vec::new();
        let mut automata = Vec::new();
        for folded in [false, true] {
            let members: Vec<usize> = (0..literals.len()).filter(|&i| literals[i].case_insensitive == folded).collect();
            let searched: Vec<Vec<u8>> = members
                .iter()
                .map(|&i| if folded { literals[i].bytes.to_ascii_lowercase() } else { literals[i].bytes.clone() })
                .collect();
            let first = anchors.len();
            for mut anchor in choose_anchors(&searched, folded) {
                anchor.entries.iter_mut().for_each(|(index, _)| *index = members[*index]);
                anchors.push(anchor);
            }
            let ids: Vec<usize> = (first..anchors.len()).collect();
            for chunk in ids.chunks(AUTOMATON_SIZE) {
                automata.push(Automaton::new(&anchors, chunk, folded)?);
            }
        }
        let longest_anchor = anchors.iter().map(|a| a.bytes.len()).max().unwrap_or(1);
        let fold = automata.iter().any(|a| a.folded);
        Ok(Prefilter { automata, anchors, literals, fold, longest_anchor })
    }

    /// Number of anchors the automata search for.
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// Calls `found(literal, position)` for every occurrence of every literal in `hay`.
    pub fn for_each(&self, hay: &[u8], mut found: impl FnMut(usize, usize)) {
        FOLDED.with(|cell| {
            let mut folded = cell.borrow_mut();
            let mut block = 0;
            while block < hay.len() {
                // Anchors starting in this block may end in the next one.
                let end = hay.len().min(block + BLOCK + self.longest_anchor - 1);
                let report = (hay.len() - block).min(BLOCK);
                if self.fold {
                    folded.clear();
                    folded.extend(hay[block..end].iter().map(u8::to_ascii_lowercase));
                }
                for automaton in &self.automata {
                    let text = if automaton.folded { folded.as_slice() } else { &hay[block..end] };
                    self.search_block(automaton, hay, text, block, report, &mut found);
                }
                block += BLOCK;
            }
        });
    }

    /// Searches `text` (== `hay[base..]`, possibly lowercased) for anchors starting
    /// before `report`, and verifies each hit's literals on `hay`.
    fn search_block(
        &self,
        automaton: &Automaton,
        hay: &[u8],
        text: &[u8],
        base: usize,
        report: usize,
        found: &mut impl FnMut(usize, usize),
    ) {
        let mut at = 0;
        while at < report {
            let Some((start, pattern)) = automaton.searcher.find(text, at) else { return };
            if start >= report {
                return;
            }
            self.verify(automaton.anchors[pattern], hay, base + start, found);
            for &other in &automaton.also[pattern] {
                let anchor = automaton.anchors[other];
                let bytes = &self.anchors[anchor].bytes;
                if text.get(start..start + bytes.len()) == Some(bytes.as_slice()) {
                    self.verify(anchor, hay, base + start, found);
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

/// Picks anchors: each literal's rarest substring, then moves literals under a shared
/// substring whenever that substring is expected to hit no more often than the anchors
/// it replaces, choosing each time the one that removes the most anchors per unit of
/// expected hit rate. Cost: about
/// candidates × literals byte comparisons once, then a linear pass per merge; a few
/// milliseconds for hundreds of literals.
fn choose_anchors(literals: &[Vec<u8>], fold: bool) -> Vec<Anchor> {
    let cost = |s: &[u8]| expected_rate(s, fold);
    // Start: every literal alone, under its rarest window; equal windows share a group.
    let mut anchor_of: Vec<Vec<u8>> = literals
        .iter()
        .map(|lit| {
            let best = (0..=lit.len().saturating_sub(MIN_ANCHOR))
                .min_by(|&a, &b| cost(&lit[a..a + MIN_ANCHOR]).total_cmp(&cost(&lit[b..b + MIN_ANCHOR])))
                .unwrap_or(0);
            lit[best..lit.len().min(best + MAX_SOLO_ANCHOR)].to_vec()
        })
        .collect();
    let mut groups: Vec<Vec<u8>> = anchor_of.clone();
    groups.sort();
    groups.dedup();
    let mut group_of: Vec<usize> = anchor_of.iter().map(|a| groups.binary_search(a).unwrap_or(0)).collect();
    let mut live = groups.len();
    if live > 1 {
        // Every substring of 3 or 4 bytes, with the literals containing it.
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        for lit in literals {
            for len in MIN_ANCHOR..=4.min(lit.len()) {
                for piece in lit.windows(len) {
                    if seen.insert(piece) {
                        let covers = (0..literals.len()).filter(|&i| contains(&literals[i], piece)).collect();
                        candidates.push((piece.to_vec(), covers));
                    }
                }
            }
        }
        let mut size: Vec<usize> = vec![0; groups.len()];
        let mut group_cost: Vec<f64> = groups.iter().map(|g| cost(g)).collect();
        for &g in &group_of {
            size[g] += 1;
        }
        let mut seen_in = vec![0usize; groups.len() + candidates.len()];
        while live > 1 {
            let mut best: Option<(f64, usize)> = None;
            for (index, (piece, covers)) in candidates.iter().enumerate() {
                // Groups wholly inside `covers` disappear; one new group appears.
                let mut emptied = 0;
                let mut replaced = 0.0;
                for &lit in covers {
                    let g = group_of[lit];
                    seen_in[g] += 1;
                    if seen_in[g] == size[g] {
                        emptied += 1;
                        replaced += group_cost[g];
                    }
                }
                for &lit in covers {
                    seen_in[group_of[lit]] = 0;
                }
                if emptied < 2 {
                    continue;
                }
                // Merge only when the shared anchor is no more frequent than the anchors
                // it replaces together: fewer automata, no more hits.
                if cost(piece) > replaced {
                    continue;
                }
                let score = (emptied - 1) as f64 / (cost(piece) + 1e-12);
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, index));
                }
            }
            let Some((_, index)) = best else { break };
            let new_group = size.len();
            size.push(0);
            group_cost.push(cost(&candidates[index].0));
            for &lit in &candidates[index].1 {
                let old = group_of[lit];
                size[old] -= 1;
                if size[old] == 0 {
                    live -= 1;
                }
                group_of[lit] = new_group;
                size[new_group] += 1;
                anchor_of[lit] = candidates[index].0.clone();
            }
            live += 1;
        }
    }
    let mut anchors: Vec<Anchor> = Vec::new();
    for (index, (lit, anchor)) in literals.iter().zip(&anchor_of).enumerate() {
        let offset = find(lit, anchor).unwrap_or(0);
        match anchors.iter_mut().find(|a| &a.bytes == anchor) {
            Some(existing) => existing.entries.push((index, offset)),
            None => anchors.push(Anchor { entries: vec![(index, offset)], bytes: anchor.clone() }),
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

/// Expected occurrences per input byte of `s`: the frequency of its most selective
/// 3-byte window in source code ([`TRIGRAMS`]), shrunk for each byte beyond three. Windows
/// outside the table are rarer than everything in it; for them the independent-bytes
/// estimate is used, capped below the table's smallest entry. Case is folded, so the
/// estimate is an upper bound for case-sensitive literals.
fn expected_rate(s: &[u8], _fold: bool) -> f64 {
    let TrigramTable { ppm: table, floor } = trigram_table();
    let best = s
        .windows(3)
        .map(|w| {
            let key = [w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase()];
            match table.get(&key) {
                Some(&ppm) => f64::from(ppm),
                None => independent_ppm(&key).min(f64::from(*floor) / 2.0),
            }
        })
        .fold(f64::INFINITY, f64::min);
    let extra = s.len().saturating_sub(3) as i32;
    best / 1e6 * 0.05f64.powi(extra)
}

/// Per-million frequency of `key` if its bytes were independent ([`BYTE_PPM`]).
fn independent_ppm(key: &[u8; 3]) -> f64 {
    key.iter().map(|&b| f64::from(BYTE_PPM[b as usize]) / 1e6).product::<f64>() * 1e6
}

/// Frequent 3-byte windows of source code, per million bytes (see the file's header).
const TRIGRAMS: &str = include_str!("trigrams.txt");

/// [`TRIGRAMS`] parsed, with its smallest frequency.
struct TrigramTable {
    ppm: std::collections::HashMap<[u8; 3], u32>,
    floor: u32,
}

fn trigram_table() -> &'static TrigramTable {
    static TABLE: std::sync::OnceLock<TrigramTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let ppm: std::collections::HashMap<[u8; 3], u32> = TRIGRAMS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (hex, ppm) = line.split_once(' ')?;
                let bytes = hex::decode(hex).ok()?;
                Some(([*bytes.first()?, *bytes.get(1)?, *bytes.get(2)?], ppm.parse().ok()?))
            })
            .collect();
        let floor = ppm.values().copied().min().unwrap_or(1);
        TrigramTable { ppm, floor }
    })
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
        assert!(p.anchor_count() < 300, "shared anchors were merged: {}", p.anchor_count());
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
    fn literals_across_blocks_are_found_once() {
        let p = Prefilter::new(vec![literal("password", true)]).unwrap();
        for shift in [0usize, 1, 3, 7] {
            let mut hay = vec![b'.'; BLOCK - shift];
            hay.extend_from_slice(b"PassWord");
            hay.extend_from_slice(&[b'.'; 100]);
            assert_eq!(occurrences(&p, &hay), [(0, BLOCK - shift)], "shift {shift}");
        }
    }
}
