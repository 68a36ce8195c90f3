//! `revokd scan --git`: opens (or clones) each repository, enumerates its history, skips
//! blobs the database remembers as clean, scans the rest and remembers the new clean ones.

use std::collections::HashSet;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ScanArgs;
use revokd::config::{Config, DEFAULT_CONFIG_PATH, redact_url};
use revokd::git::{self, BlobScanOptions, Progress, RefSelection};
use revokd::scan::{HistoryStats, ScanOutput, Scanner, WalkOptions};
use revokd::store::Store;

/// Scans the history of every repository in `specs` (paths or URLs) into one output.
pub fn scan_git(
    args: &ScanArgs,
    specs: &[PathBuf],
    config_path: Option<&Path>,
    scanner: &Scanner,
    options: &WalkOptions,
) -> Result<ScanOutput> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let store = match database_configured(config_path) {
        true => {
            let config = Config::load(config_path)?;
            let url = &config.database.url;
            let store =
                runtime.block_on(Store::open(url)).with_context(|| format!("opening database {}", redact_url(url)))?;
            Some(store)
        }
        false => None,
    };
    let refs = if args.refs.is_empty() { RefSelection::All } else { RefSelection::Only(args.refs.clone()) };
    let blob_options =
        BlobScanOptions { threads: options.threads, max_file_size: options.max_file_size, read: options.read };
    let scan_key = git::scan_key(scanner.rules().version(), &options.read);
    let mut total = ScanOutput::default();
    for spec in specs {
        let spec = spec.to_string_lossy();
        let opened = git::open(&spec)?;
        let progress = BarProgress::new(args.no_progress);
        let history = git::enumerate(&opened.repo, &refs, git::Depth::History, &progress)?;
        let remembered: HashSet<gix::ObjectId> = match (&store, args.full) {
            (Some(store), false) => runtime
                .block_on(store.remembered_blobs(&opened.key, &scan_key))
                .context("reading remembered blobs")?
                .iter()
                .filter_map(|hex| gix::ObjectId::from_hex(hex.as_bytes()).ok())
                .collect(),
            _ => HashSet::new(),
        };
        let scan = git::scan_history(&opened.repo, scanner, &history, &remembered, &blob_options, &progress);
        progress.bar.finish_and_clear();
        if let Some(store) = &store {
            let clean: Vec<String> = scan.clean_blobs.iter().map(|id| id.to_string()).collect();
            runtime
                .block_on(store.remember_blobs(&opened.key, &scan_key, &clean))
                .context("remembering scanned blobs")?;
        }
        merge(&mut total, scan.output);
    }
    if let Some(store) = store {
        runtime.block_on(store.close());
    }
    total.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    if let Some(h) = total.stats.history
        && io::stderr().is_terminal()
    {
        eprintln!(
            "git: {} ref(s), {} commit(s), {} distinct blob(s): {} remembered as clean, {} LFS pointer(s) and {} submodule(s) skipped",
            h.refs, h.commits, h.blobs, h.blobs_remembered, h.lfs_pointers, h.submodules
        );
    }
    Ok(total)
}

/// The database remembers scanned blobs only when the user configured one (a config
/// file, or `REVOKD_DATABASE_URL`): a plain `revokd scan --git` creates no files.
fn database_configured(config_path: Option<&Path>) -> bool {
    config_path.is_some()
        || Path::new(DEFAULT_CONFIG_PATH).exists()
        || std::env::var_os("REVOKD_DATABASE_URL").is_some_and(|v| !v.is_empty())
}

fn merge(total: &mut ScanOutput, one: ScanOutput) {
    total.findings.extend(one.findings);
    total.warnings.extend(one.warnings);
    let (t, o) = (&mut total.stats, one.stats);
    t.files += o.files;
    t.bytes += o.bytes;
    t.skipped_binary += o.skipped_binary;
    t.skipped_large += o.skipped_large;
    t.errors += o.errors;
    let h = o.history.unwrap_or_default();
    let th = t.history.get_or_insert_with(HistoryStats::default);
    th.refs += h.refs;
    th.commits += h.commits;
    th.blobs += h.blobs;
    th.blobs_remembered += h.blobs_remembered;
    th.lfs_pointers += h.lfs_pointers;
    th.submodules += h.submodules;
}

/// Progress on stderr when it is a terminal: objects enumerated, then blobs scanned and MB/s.
struct BarProgress {
    bar: ProgressBar,
    bytes: AtomicU64,
    started: Instant,
}

impl BarProgress {
    fn new(disabled: bool) -> BarProgress {
        let bar = if disabled || !io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        BarProgress { bar, bytes: AtomicU64::new(0), started: Instant::now() }
    }
}

impl Progress for BarProgress {
    fn enumerated(&self, commits: u64, objects: u64) {
        self.bar.set_message(format!("enumerated {commits} commits, {objects} trees and blobs"));
    }

    fn scanning(&self, blobs: u64) {
        self.bar.set_length(blobs);
        self.bar.set_position(0);
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} blobs {msg} {elapsed}") {
            self.bar.set_style(style);
        }
        self.bar.set_message(String::new());
    }

    fn blob_done(&self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.bar.inc(1);
        if self.bar.position().is_multiple_of(64) {
            let seconds = self.started.elapsed().as_secs_f64().max(0.001);
            self.bar.set_message(format!("{:.1} MB/s", total as f64 / 1e6 / seconds));
        }
    }
}
