//! Turns fuzz bytes into scanner input that is rich in what the engine reacts to: rule
//! literals (in any case), whole rule examples, separators and long fillers (to cross
//! the prefilter's 64 KiB blocks and the reader's chunk cuts). Random bytes alone would
//! almost never contain a 4-byte literal, let alone a valid token.
//!
//! Format: two bytes of chunk size, then operations:
//! - `0x00..=0x0F` + one byte: append atom number `(op << 8 | byte) % atoms`;
//! - `0x10` + three bytes: append `u16` copies of the third byte;
//! - `0x11` + one byte: append the previous piece that many more times;
//! - `0x12` + one byte: append that byte as it is;
//! - any other byte: append it as it is.

use std::sync::Arc;

use revokd::patterns::RuleSet;

/// Largest input built: a few prefilter blocks and several reader chunks.
pub const MAX_INPUT: usize = 300 * 1024;

/// Extra rules that stress what shipped rules rarely combine: literals nested in each
/// other and shared by two rules, a self-overlapping literal, an unbounded regex cut by
/// `max_len`, keyword rules whose secret is anywhere in the keyword's reach, and
/// start/end-of-input assertions. Their windows are small, so chunk cuts fall inside
/// short inputs.
pub const STRESS_RULES: &str = r#"
[[rules]]
id = "fz_short"
name = "short"
prefixes = ["sk-"]
regex = 'sk-[a-zA-Z0-9]{20}\b'
stopwords = ["example"]
[[rules]]
id = "fz_long"
name = "long"
prefixes = ["sk-ant-"]
regex = 'sk-ant-[a-zA-Z0-9]{16}\b'
[[rules]]
id = "fz_inner"
name = "inner"
prefixes = ["ant-"]
regex = 'ant-[a-zA-Z0-9]{16}\b'
[[rules]]
id = "fz_unbounded"
name = "unbounded"
prefixes = ["tok_"]
regex = 'tok_[0-9a-f]+'
max_len = 40
[[rules]]
id = "fz_shared"
name = "shares tok_"
prefixes = ["tok_", "tok_x"]
regex = 'tok_x?[0-9]{4}\b'
[[rules]]
id = "fz_repeat"
name = "self-overlapping literal"
prefixes = ["aaa"]
regex = 'aaa[ab]{5}'
[[rules]]
id = "fz_keyword"
name = "keyword with secret group"
keywords = ["password", "passwd"]
regex = '(?i)pass(?:word|wd)\s*[:=]\s*"(?P<secret>[^"\s]{8,64})"'
[[rules]]
id = "fz_far"
name = "secret anywhere near its keyword"
keywords = ["secret"]
regex = '(?P<secret>[A-Z0-9]{12,20})'
min_entropy = 2.0
[[rules]]
id = "fz_edges"
name = "start and end of input"
keywords = ["edge"]
regex = '(?:^|[^a-z])(?P<secret>edge[0-9]{4})(?:[^a-z]|$)'
"#;

/// The two rule sets the scanner target checks: the shipped rules plus the stress rules
/// (large windows: chunk cuts need large inputs), and the stress rules alone.
pub fn rule_sets() -> [Arc<RuleSet>; 2] {
    let stress = ("fuzz-stress.toml".to_owned(), STRESS_RULES.to_owned());
    let mut files: Vec<(String, String)> =
        revokd::patterns::SHIPPED.iter().map(|(name, text)| (format!("<shipped>/{name}"), text.to_string())).collect();
    files.push(stress.clone());
    let combined = RuleSet::from_sources(files).expect("shipped + stress rules load");
    let alone = RuleSet::from_sources(vec![stress]).expect("stress rules load");
    [Arc::new(combined), Arc::new(alone)]
}

/// Pieces the decoder appends by number: every literal (as written, lowercased and
/// uppercased), every example and negative example, and separators.
pub fn atoms(rules: &RuleSet) -> Vec<Vec<u8>> {
    let mut atoms: Vec<Vec<u8>> = ["\n", "\r\n", "\t", " ", "=", ":", "\"", "'", " = \"", "revokd:allow", "é", "\0"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    for rule in rules.rules() {
        for literal in rule.prefixes.iter().chain(&rule.keywords) {
            atoms.push(literal.as_bytes().to_vec());
            atoms.push(literal.to_ascii_uppercase().into_bytes());
            atoms.push(literal.to_ascii_lowercase().into_bytes());
        }
        for example in rule.examples.iter().chain(&rule.negative_examples) {
            atoms.push(example.as_bytes().to_vec());
        }
    }
    atoms.sort();
    atoms.dedup();
    atoms
}

/// One decoded case.
pub struct Case {
    pub hay: Vec<u8>,
    pub chunk_size: usize,
}

/// Decodes `data` (see the module doc).
pub fn decode(data: &[u8], atoms: &[Vec<u8>]) -> Case {
    let chunk_size = match data {
        [a, b, ..] => 1 + usize::from(u16::from_le_bytes([*a, *b])),
        _ => 4096,
    };
    let mut hay = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    let mut ops = data.iter().skip(2).copied();
    while hay.len() < MAX_INPUT {
        let Some(op) = ops.next() else { break };
        let piece: Vec<u8> = match op {
            0x00..=0x0F => {
                let low = ops.next().unwrap_or(0);
                atoms[(usize::from(op) << 8 | usize::from(low)) % atoms.len()].clone()
            }
            0x10 => {
                let n = u16::from_le_bytes([ops.next().unwrap_or(0), ops.next().unwrap_or(0)]);
                vec![ops.next().unwrap_or(b'.'); usize::from(n)]
            }
            0x11 => {
                let times = usize::from(ops.next().unwrap_or(0));
                let repeated = last.repeat(times);
                hay.extend_from_slice(&repeated);
                continue;
            }
            0x12 => vec![ops.next().unwrap_or(0)],
            byte => vec![byte],
        };
        hay.extend_from_slice(&piece);
        last = piece;
    }
    hay.truncate(MAX_INPUT);
    Case { hay, chunk_size }
}
