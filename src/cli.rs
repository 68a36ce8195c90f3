//! Command-line definitions (clap). Only definitions: `main.rs` calls one function per
//! subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use revokd::patterns::Confidence;
use revokd::scan::report::Format;

/// Secret scanner and key-revocation daemon.
#[derive(Debug, Parser)]
#[command(name = "revokd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files, directories or standard input (`-`) for secrets.
    ///
    /// Exit status: 0 no findings, 1 findings, 2 error.
    Scan(ScanArgs),
    /// List and test the rule set.
    #[command(subcommand)]
    Patterns(PatternsCommand),
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to scan; `-` reads standard input. Default: `.`.
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also load every `*.toml` rule file in DIR (repeatable).
    #[arg(long = "patterns", value_name = "DIR")]
    pub pattern_dirs: Vec<PathBuf>,
    /// Worker threads. Default: one per core.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Do not report findings whose fingerprint is in FILE (a previous JSON report).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write every finding of this scan (baselined or not) to FILE as a JSON baseline.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Include raw secrets in the report. Never use in shared CI logs.
    #[arg(long)]
    pub show_secrets: bool,
    /// Report only findings of rules with at least this confidence.
    #[arg(long, value_enum, default_value_t = Confidence::Low)]
    pub min_confidence: Confidence,
    /// Do not honour .gitignore, .ignore and git excludes.
    #[arg(long)]
    pub no_ignore: bool,
    /// Skip files larger than this many bytes (with a warning). Default: 64 MiB.
    #[arg(long, value_name = "BYTES", default_value_t = revokd::scan::walk::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// Scan files that look binary (a NUL byte in the first 8 KiB) instead of skipping them.
    #[arg(long)]
    pub scan_binary: bool,
    /// Never show a progress bar (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum PatternsCommand {
    /// List every loaded rule.
    List {
        /// Also load the rule files in DIR (repeatable).
        #[arg(long = "patterns", value_name = "DIR")]
        pattern_dirs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Convert a gitleaks configuration (TOML) into a revokd pattern file.
    ///
    /// Rules that cannot be converted are listed on stderr with the reason (exit 1).
    ImportGitleaks {
        /// The gitleaks configuration file.
        file: PathBuf,
        /// Write the pattern file here instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check every rule's examples and negative examples; exit 1 on any failure.
    Test {
        /// Test only the rule files in DIR (default: the shipped rules).
        dir: Option<PathBuf>,
    },
}

/// Output of list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Human,
    Json,
}
