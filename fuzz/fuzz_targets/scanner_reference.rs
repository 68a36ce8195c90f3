//! The scanner on arbitrary bytes against the slow reference (`revokd_fuzz::reference`):
//! the engine over the whole input must find exactly the reference's (start, end, rule)
//! set, and the chunked reader, with a fuzz-chosen chunk size, exactly the reference's
//! findings with their lines and columns.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use revokd::scan::Scanner;
use revokd::scan::reader::{InputOutcome, ReadOptions, scan_reader};
use revokd_fuzz::{reference, scanner_input};

struct Setup {
    scanners: Vec<Scanner>,
    atoms: Vec<Vec<u8>>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let sets = scanner_input::rule_sets();
    let atoms = scanner_input::atoms(&sets[0]);
    let scanners = sets.into_iter().map(|set| Scanner::new(Arc::clone(&set)).expect("prefilter builds")).collect();
    Setup { scanners, atoms }
});

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;
    let case = scanner_input::decode(data, &setup.atoms);
    for scanner in &setup.scanners {
        let rules = scanner.rules();
        let expected = reference::spans(rules, &case.hay);
        let found: Vec<_> = scanner.find_all(&case.hay).into_iter().map(|m| (m.start, m.end, m.rule)).collect();
        let found_set: std::collections::BTreeSet<_> = found.iter().copied().collect();
        assert_eq!(found.len(), found_set.len(), "the engine reported a secret twice");
        assert_eq!(found_set, expected, "engine (left) and reference (right) differ");

        let options = ReadOptions { chunk_size: case.chunk_size, scan_binary: true };
        let outcome =
            scan_reader(scanner, case.hay.as_slice(), "f", options, &mut Vec::new()).expect("reading a slice");
        let InputOutcome::Scanned { bytes, findings } = outcome else { panic!("binary input scanned anyway") };
        assert_eq!(bytes, case.hay.len() as u64);
        let mut findings: Vec<reference::FindingKey> = findings
            .into_iter()
            .map(|f| (f.rule, f.line, f.column, f.end_line, f.end_column, f.secret.expose().as_bytes().to_vec()))
            .collect();
        findings.sort();
        let mut expected = reference::findings(rules, &case.hay);
        // A finding carries its secret as text: invalid UTF-8 is replaced, as the reader does.
        for key in &mut expected {
            key.5 = String::from_utf8_lossy(&key.5).into_owned().into_bytes();
        }
        expected.sort();
        assert_eq!(findings, expected, "chunked reader (left, chunk {}) and reference (right) differ", case.chunk_size);
    }
});
