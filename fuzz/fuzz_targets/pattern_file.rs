//! The pattern file loader (`patterns/*.toml`, `--patterns DIR`): any text either loads
//! or is a `PatternError`; what loads compiles into a scanner whose examples can be run,
//! and scanning the file's own text does not panic.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use revokd::patterns::RuleSet;
use revokd::scan::Scanner;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(rules) = RuleSet::from_sources(vec![("fuzz.toml".to_owned(), text.to_owned())]) else { return };
    let scanner = Scanner::new(Arc::new(rules)).expect("a loaded rule set builds a prefilter");
    let _ = scanner.example_failures();
    let _ = scanner.find_all(data);
});
