//! Renders findings: `human`, `json`, `jsonl` and `sarif` (2.1.0).
//!
//! Raw secrets are written only when [`ReportOptions::show_secrets`] is set; every
//! format otherwise carries the redacted form and the SHA-256 of the secret.

mod sarif;

use std::io::{self, Write};

use serde::Serialize;

use super::finding::Finding;
use super::walk::ScanStats;
use crate::patterns::{Confidence, RuleSet};

/// Output formats of `revokd scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:line:column rule redacted`, one finding a line.
    Human,
    /// One JSON document: `{"findings": [...], "stats": {...}}`.
    Json,
    /// One finding object a line.
    Jsonl,
    /// SARIF 2.1.0, ready for GitHub code scanning.
    Sarif,
}

/// How to render.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// Include each secret in clear (`secret` field; human output shows it after the
    /// redacted form).
    pub show_secrets: bool,
    /// ANSI colour in human output.
    pub colour: bool,
    pub elapsed_ms: u64,
}

/// The JSON object of one finding (SPEC §3), shared by `json`, `jsonl` and baselines.
#[derive(Serialize)]
pub struct FindingJson<'a> {
    pub rule: &'a str,
    pub path: &'a str,
    pub line: u64,
    pub column: u64,
    pub end_line: u64,
    pub end_column: u64,
    pub secret_sha256: &'a str,
    pub redacted: &'a str,
    pub fingerprint: &'a str,
    pub revocable: bool,
    pub confidence: Confidence,
    pub commit: Option<&'a str>,
    pub author: Option<&'a str>,
    pub date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
}

impl<'a> FindingJson<'a> {
    pub fn new(f: &'a Finding, show_secrets: bool) -> FindingJson<'a> {
        let provenance = f.provenance.as_ref();
        FindingJson {
            rule: &f.rule,
            path: &f.path,
            line: f.line,
            column: f.column,
            end_line: f.end_line,
            end_column: f.end_column,
            secret_sha256: &f.secret_sha256,
            redacted: &f.redacted,
            fingerprint: &f.fingerprint,
            revocable: f.revocable,
            confidence: f.confidence,
            commit: provenance.map(|p| p.commit.as_str()),
            author: provenance.map(|p| p.author.as_str()),
            date: provenance.map(|p| p.date.as_str()),
            secret: show_secrets.then(|| f.secret.expose()),
        }
    }
}

#[derive(Serialize)]
struct StatsJson {
    #[serde(flatten)]
    stats: ScanStats,
    elapsed_ms: u64,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    findings: Vec<FindingJson<'a>>,
    stats: StatsJson,
}

/// Writes `findings` in `format` to `out`.
pub fn write(
    format: Format,
    findings: &[Finding],
    stats: ScanStats,
    rules: &RuleSet,
    options: ReportOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => write_human(findings, options, out),
        Format::Json => write_json(findings, stats, options, out),
        Format::Jsonl => {
            for f in findings {
                serde_json::to_writer(&mut *out, &FindingJson::new(f, options.show_secrets))?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif::log(findings, rules, options.show_secrets))?;
            out.write_all(b"\n")
        }
    }
}

/// Writes the `json` report (also the baseline format).
pub fn write_json(
    findings: &[Finding],
    stats: ScanStats,
    options: ReportOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let report = ReportJson {
        findings: findings.iter().map(|f| FindingJson::new(f, options.show_secrets)).collect(),
        stats: StatsJson { stats, elapsed_ms: options.elapsed_ms },
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    out.write_all(b"\n")
}

fn write_human(findings: &[Finding], options: ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let (bold, yellow, reset) = if options.colour { ("\x1b[1m", "\x1b[33m", "\x1b[0m") } else { ("", "", "") };
    for f in findings {
        write!(out, "{bold}{}:{}:{}{reset} {yellow}{}{reset} {}", f.path, f.line, f.column, f.rule, f.redacted)?;
        if let Some(p) = &f.provenance {
            write!(out, " (commit {} by {} on {})", &p.commit[..p.commit.len().min(12)], p.author, p.date)?;
        }
        if options.show_secrets {
            write!(out, " {}", f.secret.expose())?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}
