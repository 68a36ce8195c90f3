//! Guards for the layering ARCHITECTURE.md promises.

use std::path::Path;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// The scanner is a pure library: no async runtime, database, HTTP or mail.
#[test]
fn scanner_and_patterns_touch_no_io_services() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let forbidden = ["tokio", "sqlx", "axum", "lettre", "reqwest", "crate::store", "crate::http", "crate::revoke"];
    for dir in ["scan", "patterns"] {
        for (path, text) in sources(&root.join(dir)) {
            for word in forbidden {
                assert!(!text.contains(word), "{path} mentions {word}");
            }
        }
    }
}
