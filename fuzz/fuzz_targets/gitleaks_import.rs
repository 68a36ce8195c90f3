//! `revokd patterns import-gitleaks`: any text either imports or is an `ImportError`, and
//! what imports is a pattern file our loader accepts as it is (the importer's promise).

#![no_main]

use libfuzzer_sys::fuzz_target;
use revokd::patterns::RuleSet;
use revokd::patterns::gitleaks::import;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(imported) = import(text) else { return };
    if imported.rules.is_empty() {
        return;
    }
    let toml = imported.to_toml().expect("converted rules render as TOML");
    if let Err(err) = RuleSet::from_sources(vec![("imported.toml".to_owned(), toml.clone())]) {
        panic!("the imported rules do not load: {err}\n{toml}");
    }
});
