//! Embeds the shipped rule files (`patterns/*.toml`) into the binary, so an installed
//! `revokd` needs no data directory.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    println!("cargo::rerun-if-changed=patterns");
    // sqlx::migrate! embeds migrations/ at compile time.
    println!("cargo::rerun-if-changed=migrations");
    // At run time, not `env!`: a build script compiled in another checkout of the same
    // target directory must still read this one's rules.
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let dir = Path::new(&manifest_dir).join("patterns");
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
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shipped_patterns.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
