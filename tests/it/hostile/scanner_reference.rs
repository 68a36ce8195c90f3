//! The scanner fuzz target's property on a `cargo test` budget: the engine over a whole
//! input, and the chunked reader at any chunk size, find exactly what the slow reference
//! finds. The reference and the input decoder are the fuzz crate's own files
//! (`fuzz/src/`), compiled here too so that CI checks the property without libFuzzer.

#[path = "../../../fuzz/src/reference.rs"]
#[allow(dead_code)]
mod reference;
#[path = "../../../fuzz/src/scanner_input.rs"]
#[allow(dead_code)]
mod scanner_input;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use revokd::scan::Scanner;
use revokd::scan::reader::{InputOutcome, ReadOptions, scan_reader};

struct Setup {
    scanners: Vec<Scanner>,
    atoms: Vec<Vec<u8>>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let sets = scanner_input::rule_sets();
        let atoms = scanner_input::atoms(&sets[0]);
        let scanners = sets.into_iter().map(|set| Scanner::new(Arc::clone(&set)).unwrap()).collect();
        Setup { scanners, atoms }
    })
}

/// The fuzz target's assertions, for one decoded input.
fn check(data: &[u8]) {
    let setup = setup();
    let case = scanner_input::decode(data, &setup.atoms);
    for scanner in &setup.scanners {
        let rules = scanner.rules();
        let expected = reference::spans(rules, &case.hay);
        let found: BTreeSet<_> = scanner.find_all(&case.hay).into_iter().map(|m| (m.start, m.end, m.rule)).collect();
        assert_eq!(found, expected, "engine (left) and reference (right) differ for {data:?}");
        let options = ReadOptions { chunk_size: case.chunk_size, scan_binary: true };
        let Ok(InputOutcome::Scanned { findings, .. }) =
            scan_reader(scanner, case.hay.as_slice(), "f", options, &mut Vec::new())
        else {
            panic!("a slice is read and scanned");
        };
        let mut findings: Vec<reference::FindingKey> = findings
            .into_iter()
            .map(|f| (f.rule, f.line, f.column, f.end_line, f.end_column, f.secret.expose().as_bytes().to_vec()))
            .collect();
        findings.sort();
        let mut expected = reference::findings(rules, &case.hay);
        for key in &mut expected {
            key.5 = String::from_utf8_lossy(&key.5).into_owned().into_bytes();
        }
        expected.sort();
        assert_eq!(findings, expected, "reader (left, chunk {}) and reference (right) differ", case.chunk_size);
    }
}

#[test]
fn seed_corpus_matches_the_reference() {
    let seeds = crate::support::root().join("fuzz/seeds/scanner_reference");
    let mut checked = 0;
    for entry in std::fs::read_dir(&seeds).unwrap() {
        check(&std::fs::read(entry.unwrap().path()).unwrap());
        checked += 1;
    }
    assert!(checked > 0, "no seeds in {}", seeds.display());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Short random programs for the decoder: literals, examples and bytes in any order,
    /// any chunk size (pads are kept small so that a debug build stays fast).
    #[test]
    fn random_inputs_match_the_reference(
        chunk in 1u16..2048,
        ops in proptest::collection::vec((0u8..0x13, proptest::num::u8::ANY), 0..120),
    ) {
        let mut data = chunk.to_le_bytes().to_vec();
        for (op, arg) in ops {
            match op {
                0x10 => data.extend_from_slice(&[0x10, arg, 0, b'.']),
                0x11 => data.extend_from_slice(&[0x11, arg % 4]),
                0x12 => data.extend_from_slice(&[0x12, arg]),
                _ => data.extend_from_slice(&[op % 0x10, arg]),
            }
        }
        check(&data);
    }
}
