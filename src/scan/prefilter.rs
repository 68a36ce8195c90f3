//! The prefilter: finds every position where some rule literal occurs, in one pass over
//! the input whose cost does not grow with the number of literals.
//!
//! Each literal is represented by two overlapping *grams* that lie inside it: for a
//! literal of 5 bytes or more, the two 4-byte grams of its rarest 5-byte window (by
//! measured source-code frequency); for a 4-byte literal, its two 3-byte grams. One of
//! the two starts at an even offset of the input wherever the literal occurs, so the scan
//! looks at every second position only. There it folds ASCII case (`| 0x20` on each
//! byte), hashes the 3 bytes that start there, and tests two bits in a
//! 2^[`TABLE_BITS`]-bit set (128 KiB) holding every literal's grams. Both bits lie in the
//! 32-bit word that the 3-byte gram's hash picks (a 4-byte gram's fourth byte picks only
//! its bit), so a position costs one table read: with AVX2, 16 positions a step. A set
//! bit (a gram, or a hash collision: ~0.1% of bits are set) sends the position to the
//! exact gram table, whose entries are compared with the input, case-insensitively for
//! rule keywords.
//!
//! A 3-byte literal has one 3-byte gram, which starts at an even offset only where the
//! literal does. Where the literal starts at an odd offset, the even position before it
//! starts a 4-byte gram of any byte and the literal: so its grams are its own and those
//! 128 4-byte grams (one per folded first byte), whose start is one byte before the
//! literal's. (The 3-byte grams of its last two bytes and any third would do too, but
//! two-byte tails such as `f_` of `hf_` are frequent in code: they cost more checks than
//! they saved.) Literals shorter than 3 bytes cannot be sampled; a small Aho-Corasick
//! searcher (SIMD Teddy for a few literals) finds them in a second pass, and at each of
//! its hits every short literal is compared (so that none hides another).
//!
//! Why this shape: searching the literals themselves with Teddy (the previous design)
//! costs a pass per 16 literals; one gram per literal at every position, or 3-byte grams
//! for long literals, mark several times more positions on source code, mostly words
//! like "and" or "api" inside keywords.

use aho_corasick::{AhoCorasick, Input, MatchKind};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// Literals at least this long are found by sampling.
const SAMPLED_MIN: usize = 3;

/// log2 of the gram bit set's size: 2^20 bits (128 KiB, in L2 cache). The shipped rules'
/// 1,185 grams (640 of them for the five 3-byte literals) set 1,101 bits, 0.1%, so hash
/// collisions add few false hits.
const TABLE_BITS: u32 = 20;

/// log2 of the bit set's 32-bit words.
const WORD_BITS: u32 = TABLE_BITS - 5;

/// Odd multiplier of the 3-byte gram hash (multiplicative hashing: the product's top
/// bits).
const MUL3: u32 = 0x9E37_79B1;

/// Positions sampled per unrolled block of the portable loop (every second byte).
const LANES: usize = 8;

/// Bytes a block reads: the last lane's 4-byte gram starts at `2 × (LANES − 1)`.
const BLOCK_READ: usize = 2 * (LANES - 1) + 4;

/// A literal the prefilter reports.
#[derive(Debug, Clone)]
pub struct Literal {
    pub bytes: Vec<u8>,
    pub case_insensitive: bool,
}

/// Finds literal occurrences. Build once, share across threads.
#[derive(Debug)]
pub struct Prefilter {
    literals: Vec<Literal>,
    grams: GramIndex,
    /// A searcher for the literals shorter than [`SAMPLED_MIN`], and those literals.
    short: Option<(AhoCorasick, Vec<usize>)>,
}

/// The sampled literals' grams: a bit set for the scan, an exact table for its hits.
#[derive(Debug, Clone)]
struct GramIndex {
    bits: Box<[u32; 1 << (TABLE_BITS - 5)]>,
    /// The loop that samples the input (tests set each to compare them).
    sampler: Sampler,
    /// Open-addressed (linear probing) table of the distinct gram keys, a power of two at
    /// least twice their number: (key or [`EMPTY`], range of `entries`).
    lookup: Vec<(u32, u32, u32)>,
    /// (literal index, offset of the gram from the literal's start: -1 for a gram that
    /// starts one byte before it), grouped by key.
    entries: Vec<(usize, isize)>,
}

/// The loop that samples the input for [`GramIndex::for_each_hit`]. All give the same
/// hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Sampler {
    /// Portable Rust, 8 positions a block.
    Portable,
    /// AVX2, 16 positions a step, the table words fetched by scalar loads.
    Avx2Loads,
    /// AVX2, 16 positions a step, the table words fetched by the gather instruction.
    Avx2Gather,
    /// AVX-512 (F, BW, VBMI), 32 positions a step, the words fetched by gathers.
    Avx512Gather,
}

impl Sampler {
    /// Every sampler, the portable one first.
    const ALL: [Sampler; 4] = [Sampler::Portable, Sampler::Avx2Loads, Sampler::Avx2Gather, Sampler::Avx512Gather];

    /// Whether this CPU can run the sampler.
    fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                Sampler::Portable => true,
                Sampler::Avx2Loads | Sampler::Avx2Gather => has!("avx2"),
                Sampler::Avx512Gather => has!("avx512f") && has!("avx512bw") && has!("avx512vbmi"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Sampler::Portable
        }
    }

    /// Runs the sampler's SIMD loop over `hay`: calls `marked(start, lanes)` for each of
    /// its blocks with a set gram bit (bit `j` of `lanes`: the position `start + 2j`) and
    /// returns where the blocks stopped; the caller scans the rest. The portable sampler
    /// has no such loop (returns 0), nor has a sampler this CPU cannot run.
    fn marked_blocks(self, bits: &[u32; 1 << (TABLE_BITS - 5)], hay: &[u8], marked: impl FnMut(usize, u32)) -> usize {
        if !self.runs_here() {
            return 0;
        }
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the CPU has the instructions each loop needs (`runs_here`).
            match self {
                Sampler::Portable => 0,
                Sampler::Avx2Loads => unsafe { avx2::marked_blocks::<false>(bits, hay, marked) },
                Sampler::Avx2Gather => unsafe { avx2::marked_blocks::<true>(bits, hay, marked) },
                Sampler::Avx512Gather => unsafe { avx512::marked_blocks(bits, hay, marked) },
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (bits, hay, marked);
            0
        }
    }
}

/// An unused `lookup` slot. Keys never take this value: a 3-byte gram's key has 24 bits,
/// and a 4-byte one's has its top byte folded (`| 0x20`), so the two kinds never collide
/// either.
const EMPTY: u32 = u32::MAX;

impl Prefilter {
    /// Builds the gram index for `literals` of [`SAMPLED_MIN`] bytes or more and an
    /// automaton for the shorter ones.
    pub fn new(literals: Vec<Literal>) -> Result<Prefilter, aho_corasick::BuildError> {
        let mut grams: Vec<(u32, usize, isize)> = Vec::new();
        let mut short_ids = Vec::new();
        for (index, literal) in literals.iter().enumerate() {
            let bytes = &literal.bytes;
            if bytes.len() < SAMPLED_MIN {
                short_ids.push(index);
                continue;
            }
            if let &[first, second, third] = bytes.as_slice() {
                // Its own gram, and any byte followed by the literal (from offset -1).
                grams.push((key3(u32::from_le_bytes([first, second, third, 0])), index, 0));
                for any in 0..=u8::MAX {
                    grams.push((key4(u32::from_le_bytes([any, first, second, third])), index, -1));
                }
                continue;
            }
            // Gram length: 3 for a 4-byte literal, else 4; the window is one byte longer.
            let gram = if bytes.len() == 4 { 3 } else { 4 };
            let cost = |at: usize| expected_rate(&bytes[at..at + gram]) + expected_rate(&bytes[at + 1..at + 1 + gram]);
            let window = (0..bytes.len() - gram).min_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap_or(0);
            for offset in [window, window + 1] {
                // A 3-byte gram may end the literal: its key ignores the fourth byte.
                let fourth = bytes.get(offset + 3).copied().unwrap_or(0);
                let word = u32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], fourth]);
                grams.push((if gram == 3 { key3(word) } else { key4(word) }, index, offset as isize));
            }
        }
        let short = if short_ids.is_empty() {
            None
        } else {
            let patterns: Vec<&[u8]> = short_ids.iter().map(|&i| literals[i].bytes.as_slice()).collect();
            let fold = short_ids.iter().any(|&i| literals[i].case_insensitive);
            // Leftmost-first, not overlapping: only this kind uses the SIMD prefilter.
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .ascii_case_insensitive(fold)
                .build(patterns)?;
            Some((automaton, short_ids))
        };
        Ok(Prefilter { literals, grams: GramIndex::new(grams), short })
    }

    /// Calls `found(literal, position)` for every occurrence of every literal in `hay`,
    /// in no particular order.
    pub fn for_each(&self, hay: &[u8], mut found: impl FnMut(usize, usize)) {
        self.grams.for_each_hit(hay, |at, key| {
            for &(index, offset) in self.grams.entries_of(key) {
                if let Some(start) = at.checked_add_signed(-offset)
                    && self.occurs_at(index, hay, start)
                {
                    found(index, start);
                }
            }
        });
        if let Some((automaton, short)) = &self.short {
            let mut at = 0;
            while let Some(hit) = automaton.find(Input::new(hay).span(at..hay.len())) {
                for &index in short {
                    if self.occurs_at(index, hay, hit.start()) {
                        found(index, hit.start());
                    }
                }
                at = hit.start() + 1;
            }
        }
    }

    /// Whether literal `index` occurs at `start` (in its own case sensitivity).
    fn occurs_at(&self, index: usize, hay: &[u8], start: usize) -> bool {
        let literal = &self.literals[index];
        let Some(window) = hay.get(start..start + literal.bytes.len()) else { return false };
        if literal.case_insensitive {
            window.eq_ignore_ascii_case(&literal.bytes)
        } else {
            window == literal.bytes.as_slice()
        }
    }
}

impl GramIndex {
    fn new(mut grams: Vec<(u32, usize, isize)>) -> GramIndex {
        grams.sort_unstable();
        grams.dedup();
        let mut bits = Box::new([0u32; 1 << (TABLE_BITS - 5)]);
        let distinct = grams.windows(2).filter(|w| w[0].0 != w[1].0).count() + 1;
        let mut lookup = vec![(EMPTY, 0, 0); (2 * distinct).next_power_of_two()];
        let mask = lookup.len() - 1;
        let mut entries = Vec::with_capacity(grams.len());
        for group in grams.chunk_by(|a, b| a.0 == b.0) {
            let key = group[0].0;
            let bit = if key < 1 << 24 { bit3(key) } else { bit4(key) };
            bits[word_of(key & 0x00FF_FFFF)] |= 1 << bit;
            let mut at = probe_start(key, mask);
            while lookup[at].0 != EMPTY {
                at = (at + 1) & mask;
            }
            lookup[at] = (key, entries.len() as u32, (entries.len() + group.len()) as u32);
            entries.extend(group.iter().map(|&(_, index, offset)| (index, offset)));
        }
        let sampler = fastest_sampler(&bits);
        GramIndex { bits, sampler, lookup, entries }
    }

    fn entries_of(&self, key: u32) -> &[(usize, isize)] {
        let mask = self.lookup.len() - 1;
        let mut at = probe_start(key, mask);
        loop {
            let (slot_key, start, end) = self.lookup[at];
            if slot_key == key {
                return &self.entries[start as usize..end as usize];
            }
            if slot_key == EMPTY {
                return &[];
            }
            at = (at + 1) & mask;
        }
    }

    /// Whether the 3-byte gram `key3` and the 4-byte gram `key4` starting at the same
    /// position have their bits set: (3-byte, 4-byte).
    #[inline(always)]
    fn are_set(&self, key3: u32, key4: u32) -> (bool, bool) {
        let word = self.bits[word_of(key3)];
        ((word >> bit3(key3)) & 1 != 0, (word >> bit4(key4)) & 1 != 0)
    }

    /// Calls `hit(position, key)` for each even position whose 3- or 4-byte gram's bit is
    /// set (both, when both are).
    fn for_each_hit(&self, hay: &[u8], mut hit: impl FnMut(usize, u32)) {
        if self.entries.is_empty() {
            return;
        }
        let mut at = self.sampler.marked_blocks(&self.bits, hay, |start, mut lanes| {
            while lanes != 0 {
                self.recheck(hay, start + 2 * lanes.trailing_zeros() as usize, 1, &mut hit);
                lanes &= lanes - 1;
            }
        });
        while let Some(block) = hay.get(at..at + BLOCK_READ) {
            let mut any = false;
            for lane in 0..LANES {
                let i = 2 * lane;
                let word = u32::from_le_bytes([block[i], block[i + 1], block[i + 2], block[i + 3]]);
                let (set3, set4) = self.are_set(key3(word), key4(word));
                any |= set3 | set4;
            }
            if any {
                self.recheck(hay, at, 2 * LANES, &mut hit);
            }
            at += 2 * LANES;
        }
        self.recheck(hay, at, hay.len() - at, &mut hit);
    }

    /// Calls `hit(position, key)` for each even offset of `start..start + len` whose 3- or
    /// 4-byte gram (where the input has that many bytes) has its bit set: the slow path,
    /// for positions the fast loops flagged and for the input's tail.
    fn recheck(&self, hay: &[u8], start: usize, len: usize, hit: &mut impl FnMut(usize, u32)) {
        for at in (start..start + len).step_by(2) {
            let Some(&[a, b, c]) = hay.get(at..at + 3) else { return };
            // Past the input's end the 4-byte gram does not exist: its key is never hit.
            let fourth = hay.get(at + 3).copied();
            let word = u32::from_le_bytes([a, b, c, fourth.unwrap_or(0)]);
            let (k3, k4) = (key3(word), key4(word));
            let (set3, set4) = self.are_set(k3, k4);
            if set3 {
                hit(at, k3);
            }
            if set4 && fourth.is_some() {
                hit(at, k4);
            }
        }
    }
}

/// The fastest sampler on this CPU: of those it can run, the one that was fastest when
/// all were timed on a sample of source-like text, once per process, with the table
/// `bits` of the first index built (any table shows the difference: it is the cost of
/// the loads). How the SIMD loops fetch table words decides it, and which way is faster
/// depends on the CPU (see `avx2`'s header).
fn fastest_sampler(bits: &[u32; 1 << (TABLE_BITS - 5)]) -> Sampler {
    static CHOSEN: std::sync::OnceLock<Sampler> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let candidates: Vec<Sampler> =
            Sampler::ALL.into_iter().filter(|&sampler| sampler != Sampler::Portable && sampler.runs_here()).collect();
        if candidates.len() < 2 {
            return candidates.first().copied().unwrap_or(Sampler::Portable);
        }
        // Pseudo-random text over an alphabet of source code (xorshift; fixed seed).
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz_ABCDEFG0123456789 (){};=.,\n\"";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let text: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ALPHABET[(state % ALPHABET.len() as u64) as usize]
            })
            .collect();
        // Each candidate three times, alternating (about 0.1 ms a round); best times.
        let mut best = vec![std::time::Duration::MAX; candidates.len()];
        for _ in 0..3 {
            for (sampler, best) in candidates.iter().zip(&mut best) {
                let mut marks = 0u32;
                let start = std::time::Instant::now();
                sampler.marked_blocks(bits, &text, |_, lanes| marks ^= lanes);
                std::hint::black_box(marks);
                *best = (*best).min(start.elapsed());
            }
        }
        let fastest = (0..candidates.len()).min_by_key(|&i| best[i]).unwrap_or(0);
        candidates[fastest]
    })
}

/// The key of the 3-byte gram at the start of little-endian `word`: ASCII case folded.
#[inline(always)]
fn key3(word: u32) -> u32 {
    (word | 0x2020_2020) & 0x00FF_FFFF
}

/// The key of the 4-byte gram `word` (little-endian): ASCII case folded.
#[inline(always)]
fn key4(word: u32) -> u32 {
    word | 0x2020_2020
}

/// The bit set word of the grams starting with the 3-byte gram `key3`: the top
/// [`WORD_BITS`] bits of its hash.
#[inline(always)]
fn word_of(key3: u32) -> usize {
    (key3.wrapping_mul(MUL3) >> (32 - WORD_BITS)) as usize
}

/// The bit of 3-byte gram `key3` in its word: the next 5 bits of its hash.
#[inline(always)]
fn bit3(key3: u32) -> u32 {
    (key3.wrapping_mul(MUL3) >> (32 - TABLE_BITS)) & 31
}

/// The bit of 4-byte gram `key4` in its 3-byte prefix's word: the low 5 bits of its
/// (folded) fourth byte. The word already stands for the first three bytes, and 32
/// classes of the fourth byte separate as well as a hash would, without a multiply.
#[inline(always)]
fn bit4(key4: u32) -> u32 {
    (key4 >> 24) & 31
}

/// Where `key`'s linear probe starts in a lookup table of `mask + 1` slots (a hash
/// independent of the bit set's, so that keys sharing a bit do not also share a probe).
fn probe_start(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0xC2B2_AE35) >> 8) as usize & mask
}

/// Expected occurrences per input byte of `s`: the frequency of its most selective
/// 3-byte window in source code ([`TRIGRAMS`]), shrunk for each byte beyond three. Windows
/// outside the table are rarer than everything in it; for them the independent-bytes
/// estimate is used, capped below the table's smallest entry. Case is folded, so the
/// estimate is an upper bound for case-sensitive literals.
fn expected_rate(s: &[u8]) -> f64 {
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
    use proptest::prelude::*;

    use super::*;

    fn literal(s: &str, ci: bool) -> Literal {
        Literal { bytes: s.as_bytes().to_vec(), case_insensitive: ci }
    }

    /// Sorted (literal, start) pairs, the same from every sampler the CPU can run.
    fn occurrences(p: &Prefilter, hay: &[u8]) -> Vec<(usize, usize)> {
        let run = |p: &Prefilter| {
            let mut out = Vec::new();
            p.for_each(hay, |lit, at| out.push((lit, at)));
            out.sort();
            out
        };
        let found = run(p);
        for sampler in available_samplers() {
            let other = Prefilter {
                literals: p.literals.clone(),
                grams: GramIndex { sampler, ..p.grams.clone() },
                short: p.short.clone(),
            };
            assert_eq!(found, run(&other), "{sampler:?} differs from {:?}", p.grams.sampler);
        }
        found
    }

    fn available_samplers() -> Vec<Sampler> {
        Sampler::ALL.into_iter().filter(|sampler| sampler.runs_here()).collect()
    }

    #[test]
    fn the_chosen_sampler_is_one_this_cpu_runs_and_simd_where_it_can() {
        let p = Prefilter::new(vec![literal("xai-", false)]).unwrap();
        assert!(p.grams.sampler.runs_here());
        assert_eq!(p.grams.sampler == Sampler::Portable, available_samplers().len() == 1);
    }

    #[test]
    fn a_sampler_the_cpu_cannot_run_leaves_the_input_to_the_portable_loop() {
        let bits = Box::new([u32::MAX; 1 << (TABLE_BITS - 5)]);
        for sampler in [Sampler::Avx2Loads, Sampler::Avx2Gather, Sampler::Avx512Gather] {
            let mut calls = 0;
            let stopped = sampler.marked_blocks(&bits, &[b'a'; 4096], |_, _| calls += 1);
            assert_eq!(stopped == 0, !sampler.runs_here(), "{sampler:?}");
            assert_eq!(calls == 0, !sampler.runs_here(), "{sampler:?}");
        }
    }

    /// Every (literal, start) by brute force.
    fn reference(literals: &[Literal], hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (index, lit) in literals.iter().enumerate() {
            for start in 0..hay.len() {
                let Some(window) = hay.get(start..start + lit.bytes.len()) else { break };
                let same =
                    if lit.case_insensitive { window.eq_ignore_ascii_case(&lit.bytes) } else { window == lit.bytes };
                if same {
                    out.push((index, start));
                }
            }
        }
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
        let p = Prefilter::new(vec![literal("sendgrid", true), literal("AKIA", false), literal("hf_", false)]).unwrap();
        assert_eq!(occurrences(&p, b"SendGrid akia AKIA HF_ hf_"), [(0, 0), (1, 14), (2, 23)]);
    }

    #[test]
    fn many_literals_are_all_found() {
        let literals: Vec<Literal> = (0..300).map(|i| literal(&format!("tok{i:03}_"), i % 3 == 0)).collect();
        let p = Prefilter::new(literals.clone()).unwrap();
        let mut hay = Vec::new();
        for lit in &literals {
            hay.extend_from_slice(b" ");
            hay.extend_from_slice(&lit.bytes);
        }
        let found = occurrences(&p, &hay);
        assert_eq!(found, reference(&literals, &hay));
        assert_eq!(found.len(), 300);
    }

    #[test]
    fn a_literal_is_found_once_at_every_offset_and_input_length() {
        let literals = vec![literal("xai-", false), literal("password", true), literal("eyJ", false)];
        let p = Prefilter::new(literals.clone()).unwrap();
        for secret in ["xai-", "PassWord", "eyJ"] {
            for before in 0..40 {
                for after in 0..20 {
                    let mut hay = vec![b'.'; before];
                    hay.extend_from_slice(secret.as_bytes());
                    hay.extend(std::iter::repeat_n(b'.', after));
                    let found = occurrences(&p, &hay);
                    assert_eq!(found.len(), 1, "{secret} after {before} bytes, {after} after");
                    assert_eq!(found[0].1, before);
                }
            }
        }
    }

    #[test]
    fn repeated_grams_inside_a_literal_report_each_occurrence_once() {
        let literals = vec![literal("aaaa", false), literal("abab", true)];
        let p = Prefilter::new(literals.clone()).unwrap();
        for hay in [&b"aaaaaaa"[..], b"xaaaaa", b"ababABAB", b"aaaaaaaaabababab"] {
            assert_eq!(occurrences(&p, hay), reference(&literals, hay), "{:?}", String::from_utf8_lossy(hay));
        }
    }

    proptest! {
        /// The prefilter reports exactly what a brute-force search finds, for random
        /// literals (short and long, both case modes) over random text from a small
        /// alphabet (so that literals and gram hash collisions occur often).
        #[test]
        fn equals_brute_force(
            raw in prop::collection::vec(("[abAB_\\-x]{3,9}", any::<bool>()), 1..12),
            hay in "[abAB_\\-x. ]{0,300}",
        ) {
            let literals: Vec<Literal> = raw.iter().map(|(s, ci)| literal(s, *ci)).collect();
            let p = Prefilter::new(literals.clone()).unwrap();
            prop_assert_eq!(occurrences(&p, hay.as_bytes()), reference(&literals, hay.as_bytes()));
        }
    }
}
