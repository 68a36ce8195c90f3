//! Embeds the shipped rule files (`patterns/*.toml`) into the binary, so an installed
//! `revokd` needs no data directory.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    println!("cargo::rerun-if-changed=patterns");
    // sqlx::migrate! embeds migrations/ at compile time.
    println!("cargo::rerun-if-changed=migrations");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns");
    let mut files: Vec<String> = fs::read_dir(&dir)
        .expect("patterns/ exists in the source tree")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    let mut out =
        String::from("/// Shipped rule files: (file name, contents).\npub static SHIPPED: &[(&str, &str)] = &[\n");
    for name in &files {
        let path = dir.join(name);
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shipped_patterns.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
