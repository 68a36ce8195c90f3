//! The `revokd` binary: parses the command line and calls one function per subcommand.
//! Exit status: 0 clean, 1 findings (or failed checks), 2 error.

mod cli;
mod cmd;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use cli::{Cli, Command, ListFormat, PatternsCommand, ScanArgs};
use revokd::patterns::RuleSet;
use revokd::scan::baseline::Baseline;
use revokd::scan::reader::ReadOptions;
use revokd::scan::report::{self, Format, ReportOptions};
use revokd::scan::{self as scanner, Scanner, WalkOptions};

/// Exit status of a run that found something (or whose checks failed).
const EXIT_FINDINGS: u8 = 1;
/// Exit status of a run that could not do its job.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match try_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("revokd: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn try_main(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => scan(args, cli.config.as_deref()),
        Command::Serve { pattern_dirs } => cmd::serve(cli.config.as_deref(), pattern_dirs),
        Command::Patterns(PatternsCommand::List { pattern_dirs, format }) => patterns_list(&pattern_dirs, format),
        Command::Patterns(PatternsCommand::Test { dir }) => patterns_test(dir.as_deref()),
        Command::Patterns(PatternsCommand::ImportGitleaks { file, output }) => {
            import_gitleaks(&file, output.as_deref())
        }
        Command::CheckConfig => cmd::check_config(cli.config.as_deref()),
        Command::Db(command) => cmd::db(cli.config.as_deref(), command),
        Command::Teams(command) => cmd::teams(cli.config.as_deref(), command),
        Command::Keys(command) => cmd::keys(cli.config.as_deref(), command),
        Command::Audit(args) => cmd::audit(cli.config.as_deref(), args),
        Command::Notify(command) => cmd::notify(cli.config.as_deref(), command),
        Command::Completions { shell } => cmd::completions(shell),
        Command::Man => cmd::man(),
        Command::Scans(command) => cmd::scans(cli.config.as_deref(), command),
        Command::Hook(command) => cmd::hook(command),
    }
}

/// Loads the rule set (only the `only` rule ids, when any) and compiles the scanner; fails
/// on any user rule whose examples do not behave as written, so a broken user pattern
/// file never scans silently.
fn load_scanner(pattern_dirs: &[PathBuf], only: &[String]) -> Result<Scanner> {
    Ok(revokd::daemon::reload::compile_selected_rules(pattern_dirs, only)?)
}

fn scan(args: ScanArgs, config_path: Option<&Path>) -> Result<u8> {
    let started = Instant::now();
    let scanner = load_scanner(&args.pattern_dirs, &args.rules)?;
    let mut baseline = match &args.baseline {
        Some(path) => Baseline::load(path)?,
        None => Baseline::default(),
    };
    let options = WalkOptions {
        threads: args.threads,
        no_ignore: args.no_ignore,
        max_file_size: args.max_file_size,
        read: ReadOptions { scan_binary: args.scan_binary, ..ReadOptions::default() },
    };
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths.clone() };
    let mut change = None;
    let output = if args.scans_changes() {
        let scan = cmd::scan_changes(&args, &scanner, &options)?;
        if let (None, Some(path)) = (&args.baseline, &scan.repo_baseline) {
            baseline = Baseline::load(path)?;
        }
        change = Some(scan.kind);
        scan.output
    } else if args.git {
        cmd::scan_git(&args, &paths, config_path, &scanner, &options)?
    } else if paths == [PathBuf::from("-")] {
        scanner::scan_stdin(&scanner, &options)?
    } else {
        let bar = progress_bar(args.no_progress);
        let progress = |bytes: u64| bar.inc(bytes);
        let output = scanner::scan_paths(&scanner, &paths, &options, &progress)?;
        bar.finish_and_clear();
        output
    };
    for warning in &output.warnings {
        eprintln!("revokd: warning: {warning}");
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if let Some(path) = &args.write_baseline {
        let options = ReportOptions { elapsed_ms, ..ReportOptions::default() };
        write_to(Some(path), |out| report::write_json(&output.findings, output.stats, options, out))?;
    }
    let findings: Vec<_> =
        output.findings.into_iter().filter(|f| f.confidence >= args.min_confidence && !baseline.contains(f)).collect();
    let colour = args.format == Format::Human && args.output.is_none() && colour_wanted(io::stdout().is_terminal());
    let report_options = ReportOptions { show_secrets: args.show_secrets, colour, elapsed_ms };
    write_to(args.output.as_deref(), |out| {
        report::write(args.format, &findings, output.stats, scanner.rules(), report_options, out)
    })?;
    if io::stderr().is_terminal() {
        let s = output.stats;
        eprintln!(
            "{} finding(s) in {} file(s), {} bytes, {elapsed_ms} ms ({} binary and {} large file(s) skipped, {} error(s))",
            findings.len(),
            s.files,
            s.bytes,
            s.skipped_binary,
            s.skipped_large,
            s.errors
        );
    }
    if let Some(kind) = change
        && !findings.is_empty()
    {
        eprint!("{}", cmd::ways_out(kind, findings.len()));
    }
    if args.revoke {
        cmd::revoke_findings(config_path, scanner, &findings)?;
    } else {
        // The process ends next: freeing the compiled rules (thousands of allocations,
        // several ms) would be work for nothing.
        std::mem::forget(scanner);
    }
    Ok(if findings.is_empty() { 0 } else { EXIT_FINDINGS })
}

fn patterns_list(pattern_dirs: &[PathBuf], format: ListFormat) -> Result<u8> {
    let rules = RuleSet::load(pattern_dirs)?;
    let mut out = io::stdout().lock();
    match format {
        ListFormat::Json => {
            let list: Vec<_> = rules
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "name": r.name, "prefixes": r.prefixes, "keywords": r.keywords,
                        "confidence": r.confidence, "revocable": r.revocable, "source": r.source,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        ListFormat::Human => {
            for r in rules.rules() {
                writeln!(out, "{:<40} {:<7} {}", r.id, r.confidence, r.name)?;
            }
            writeln!(out, "{} rules, rule set version {}", rules.rules().len(), rules.version())?;
        }
    }
    Ok(0)
}

fn patterns_test(dir: Option<&Path>) -> Result<u8> {
    let rules = match dir {
        Some(dir) => RuleSet::load_dir(dir)?,
        None => RuleSet::load(&[])?,
    };
    let count = rules.rules().len();
    let scanner = Scanner::new(Arc::new(rules)).context("building the prefilter")?;
    let failures = scanner.example_failures();
    for failure in &failures {
        println!("FAIL {failure}");
    }
    println!("{count} rules tested, {} failure(s)", failures.len());
    Ok(if failures.is_empty() { 0 } else { EXIT_FINDINGS })
}

fn import_gitleaks(file: &Path, output: Option<&Path>) -> Result<u8> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let import = revokd::patterns::gitleaks::import(&text).with_context(|| file.display().to_string())?;
    let toml = import.to_toml().context("rendering the converted rules")?;
    write_to(output, |out| out.write_all(toml.as_bytes()))?;
    for note in &import.notes {
        eprintln!("revokd: note: {note}");
    }
    for (rule, reason) in &import.skipped {
        eprintln!("revokd: not converted: {rule}: {reason}");
    }
    eprintln!("{} rule(s) converted, {} not converted", import.rules.len(), import.skipped.len());
    Ok(if import.skipped.is_empty() { 0 } else { EXIT_FINDINGS })
}

/// Runs `write` on the file at `path` (created or truncated) or on standard output.
fn write_to(path: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    match path {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = io::BufWriter::new(file);
            write(&mut out).and_then(|()| out.flush()).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            write(&mut out).and_then(|()| out.flush()).context("writing the report")
        }
    }
}

/// A byte-counting progress bar on stderr, hidden unless stderr is a terminal.
fn progress_bar(disabled: bool) -> ProgressBar {
    if disabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} scanned {bytes} ({bytes_per_sec}) in {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Colour when writing to a terminal and `NO_COLOR` is unset (no-color.org).
fn colour_wanted(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}
