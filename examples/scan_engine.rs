//! The scanner engine's own single-thread throughput, without the file system: every
//! text file under a directory is read into memory once, then [`Scanner::find`] runs
//! over each of them, `RUNS` times; the best run counts, in CPU time of the scanning
//! thread (Linux), which other processes on a busy machine do not inflate.
//!
//! ```sh
//! cargo run --release --example scan_engine -- DIR                 # every rule in patterns/
//! cargo run --release --example scan_engine -- DIR --rules a,b,c   # only these rule ids
//! ```
//!
//! `bench/scan.sh` runs it with all rules and with the starter rules (issue 2's five) to
//! show that the engine's cost stays nearly flat as the library grows.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use revokd::patterns::RuleSet;
use revokd::scan::Scanner;

const RUNS: usize = 5;
/// Files above this are skipped, as `revokd scan` skips them by default.
const MAX_FILE: u64 = 64 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, ids) = match args.as_slice() {
        [dir] => (dir, None),
        [dir, flag, ids] if flag == "--rules" => (dir, Some(ids.split(',').map(str::to_owned).collect::<Vec<_>>())),
        _ => return Err("usage: scan_engine DIR [--rules ID,ID,...]".into()),
    };
    let patterns = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns");
    let rules = rule_set(&patterns, ids.as_deref())?;
    let rule_count = rules.rules().len();
    let scanner = Scanner::new(Arc::new(rules))?;
    let mut files = Vec::new();
    read_texts(Path::new(dir), &mut files)?;
    let bytes: usize = files.iter().map(Vec::len).sum();
    let (mut best_cpu, mut best_wall) = (f64::INFINITY, f64::INFINITY);
    let mut matches = Vec::new();
    for _ in 0..RUNS {
        matches.clear();
        let (cpu, wall) = (thread_cpu_seconds(), Instant::now());
        for file in &files {
            scanner.find(file, 0..file.len(), &mut matches);
        }
        best_wall = best_wall.min(wall.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(thread_cpu_seconds().zip(cpu).map_or(f64::NAN, |(end, start)| end - start));
    }
    // CPU time first: on a shared machine the wall time also counts other processes' turns.
    let seconds = if best_cpu.is_finite() { best_cpu } else { best_wall };
    println!(
        "rules {rule_count} files {} bytes {bytes} best of {RUNS}: {seconds:.3} s = {:.2} GB/s ({} time; wall {best_wall:.3} s), {} matches",
        files.len(),
        bytes as f64 / seconds / 1e9,
        if best_cpu.is_finite() { "cpu" } else { "wall" },
        matches.len()
    );
    Ok(())
}

/// Every rule in `patterns/`, or only those with the given ids (each must exist).
fn rule_set(patterns: &Path, ids: Option<&[String]>) -> Result<RuleSet, Box<dyn std::error::Error>> {
    let Some(ids) = ids else { return Ok(RuleSet::load_dir(patterns)?) };
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(patterns)? {
        let path = entry?.path();
        let mut file: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
        if let Some(toml::Value::Array(rules)) = file.get_mut("rules") {
            rules.retain(|r| r.get("id").and_then(toml::Value::as_str).is_some_and(|id| ids.iter().any(|i| i == id)));
            if !rules.is_empty() {
                sources.push((path.display().to_string(), toml::to_string(&file)?));
            }
        }
    }
    let rules = RuleSet::from_sources(sources)?;
    match ids.iter().find(|id| rules.find(id).is_none()) {
        Some(missing) => Err(format!("no rule {missing} in {}", patterns.display()).into()),
        None => Ok(rules),
    }
}

/// This thread's CPU time so far (Linux: `/proc/thread-self/schedstat`, nanoseconds on
/// the CPU), or `None` where that is not available.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}

/// Every regular file under `dir` without a NUL in its first 8 KiB (what `revokd scan`
/// would read as text), up to [`MAX_FILE`] bytes each.
fn read_texts(dir: &Path, out: &mut Vec<Vec<u8>>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_texts(&entry.path(), out)?;
        } else if kind.is_file() && entry.metadata()?.len() <= MAX_FILE {
            let data = std::fs::read(entry.path())?;
            if !data[..data.len().min(8192)].contains(&0) {
                out.push(data);
            }
        }
    }
    Ok(())
}
