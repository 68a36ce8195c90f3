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
    /// Configuration file. Default: /etc/revokd/revokd.toml if it exists, else built-in
    /// defaults. Every key can be overridden with REVOKD_<SECTION>_<KEY>.
    #[arg(long, global = true, value_name = "FILE", env = "REVOKD_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// Run the daemon: GitHub partner alerts and webhooks, health and metrics over HTTP.
    ///
    /// Applies migrations, loads GitHub's public keys, listens on `server.listen`, and
    /// drains in-flight requests on SIGTERM or Ctrl-C.
    Serve {
        /// Also load every `*.toml` rule file in DIR (repeatable; adds to `patterns.dirs`).
        #[arg(long = "patterns", value_name = "DIR")]
        pattern_dirs: Vec<PathBuf>,
    },
    /// Validate the configuration and print it (secrets redacted).
    CheckConfig,
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage teams and their members (admins are emailed when a key leaks).
    #[command(subcommand)]
    Teams(TeamsCommand),
    /// Issue, import, list, disable, restore and delete API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Search the audit log, or verify its hash chain (`revokd audit verify`).
    Audit(AuditArgs),
    /// Owner emails (the outbox worker that `revokd serve` also runs).
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Print a shell completion script, e.g. `revokd completions bash > /etc/bash_completion.d/revokd`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `revokd man | man -l -`.
    Man,
    /// List and show the scan jobs queued through the API (`POST /v1/scans`).
    #[command(subcommand)]
    Scans(ScansCommand),
    /// Git hooks that stop secrets before they are committed or pushed.
    #[command(subcommand)]
    Hook(HookCommand),
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Install a git hook in the repository of the current directory: pre-commit
    /// (`revokd scan --staged`) or, with --pre-push, pre-push (the commits being pushed).
    ///
    /// Refuses to replace a hook that revokd did not write, unless --force is given (the
    /// old hook is then kept as `<hook>.bak`). Exit status: 0 installed, 2 error.
    Install {
        /// Install the pre-push hook instead of the pre-commit hook.
        #[arg(long)]
        pre_push: bool,
        /// Replace an existing hook that revokd did not write.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Compose the due notices and send every due email once, then exit (for cron).
    ///
    /// Exit status: 0 all sent (or nothing due), 1 some failed (retried later) or were
    /// given up, 2 error.
    RunOnce,
}

#[derive(Debug, Subcommand)]
pub enum ScansCommand {
    /// Newest first.
    List {
        /// At most this many jobs (1-200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only jobs older than this job id (the last id of the previous page).
        #[arg(long)]
        before: Option<String>,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// One job with its findings (redacted), as the API shows it.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending schema migrations (also done by every command that opens the store).
    Migrate,
    /// Delete leak records last seen more than `retention.days` ago (audit events are kept).
    Purge {
        /// Retention in days. Default: `retention.days` from the configuration (30).
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// Create a team with at least one admin.
    Add {
        name: String,
        /// Admin (owner) address; repeatable, at least one.
        #[arg(long = "admin", value_name = "EMAIL", required = true, num_args = 1..)]
        admins: Vec<String>,
        /// Member address; repeatable.
        #[arg(long = "member", value_name = "EMAIL", num_args = 1..)]
        members: Vec<String>,
    },
    /// List teams with member and active-key counts.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// List a team's members.
    Members {
        name: String,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Add a member to a team, or change an existing member's role.
    AddMember {
        name: String,
        email: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Member)]
        role: RoleArg,
    },
    /// Remove a member from a team (never the last admin).
    RemoveMember { name: String, email: String },
}

/// A team member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Owner: emailed when one of the team's keys leaks.
    Admin,
    Member,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new key for a team; prints it once, as the last line of stdout.
    Issue {
        #[arg(long, value_name = "NAME")]
        team: String,
        /// Key type: the id of a revocable rule.
        #[arg(long = "type", value_name = "TYPE", default_value = "xai_api_key")]
        key_type: String,
    },
    /// Import existing tokens from stdin, one a line (blank lines and `#` comments skipped).
    Import {
        #[arg(long, value_name = "NAME")]
        team: String,
        /// Key type: the id of a revocable rule; every token must match it.
        #[arg(long = "type", value_name = "TYPE", default_value = "xai_api_key")]
        key_type: String,
    },
    /// List keys (redacted).
    List {
        #[arg(long, value_name = "NAME")]
        team: Option<String>,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Disable an active key.
    Disable {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Re-enable a disabled key.
    Restore {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Delete a key for good (its hash is kept so a later leak is still recognised).
    Delete {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

/// A key status, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Active,
    Disabled,
    Deleted,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub query: AuditQueryArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain: exit 0 if intact, 1 naming the first bad event.
    Verify,
}

#[derive(Debug, Args)]
pub struct AuditQueryArgs {
    /// Only the event with this id.
    #[arg(long)]
    pub id: Option<i64>,
    /// Event name, e.g. key.disabled; `*` is a wildcard (key.*).
    #[arg(long)]
    pub event: Option<String>,
    /// Actor, e.g. cli:alice or github.
    #[arg(long)]
    pub actor: Option<String>,
    /// Team name.
    #[arg(long, value_name = "NAME")]
    pub team: Option<String>,
    /// Key id.
    #[arg(long, value_name = "ID")]
    pub key: Option<i64>,
    /// Case-insensitive text in the description.
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Events at or after T: RFC 3339 (2026-01-31T12:00:00Z) or an age (24h, 7d).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Events at or before T: RFC 3339 or an age.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// At most N events (oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<i64>,
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
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
    /// Report every finding of a revocable type to the key store (disabling keys of ours,
    /// emailing their owners) and print what happened to each on stderr.
    #[arg(long)]
    pub revoke: bool,
    /// Include raw secrets in the report. Never use in shared CI logs.
    #[arg(long)]
    pub show_secrets: bool,
    /// Report only findings of rules with at least this confidence.
    #[arg(long, value_enum, default_value_t = Confidence::Low)]
    pub min_confidence: Confidence,
    /// Scan with only the rule with this id (repeatable; see `revokd patterns list`).
    /// Default: every rule.
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
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
    /// Scan git history: every blob reachable from all refs of each PATH (a repository,
    /// or a git URL cloned into a temporary directory), each distinct blob once,
    /// findings attributed to the commit that introduced them. With a database
    /// configured, blobs found clean are remembered and not scanned again.
    #[arg(long)]
    pub git: bool,
    /// With --git: start from this ref or commit only (repeatable). Default: all refs.
    #[arg(long = "ref", value_name = "REF", requires = "git")]
    pub refs: Vec<String>,
    /// With --git: scan every blob, ignoring (and then refreshing) what the database
    /// remembers from earlier scans.
    #[arg(long, requires = "git")]
    pub full: bool,
    /// Scan exactly what is staged for the next commit (the index against HEAD) and
    /// report only findings on added or changed lines: the pre-commit hook. PATH: a
    /// directory of the repository (default `.`). Cost: one `git diff-index` and the
    /// changed files, whatever the size of the tree.
    #[arg(long, conflicts_with_all = ["git", "pre_push"])]
    pub staged: bool,
    /// With --git: scan only the commits of a revision range (`A..B`, e.g.
    /// `origin/main..HEAD`) and report only findings on lines those commits added.
    #[arg(long, value_name = "A..B", requires = "git", conflicts_with_all = ["refs", "full", "since_commit"])]
    pub range: Option<String>,
    /// With --git: the commits after REF up to HEAD (`--range REF..HEAD`).
    #[arg(long, value_name = "REF", requires = "git", conflicts_with_all = ["refs", "full"])]
    pub since_commit: Option<String>,
    /// Scan the commits being pushed, as a pre-push hook: reads git's pre-push lines on
    /// standard input, or the pre-commit framework's PRE_COMMIT_FROM_REF/TO_REF.
    /// Reports only findings on lines those commits added.
    #[arg(long, conflicts_with = "git")]
    pub pre_push: bool,
    /// With --pre-push: the remote pushed to (git's first hook argument). A new branch's
    /// commits already on this remote's tracking branches are not scanned again.
    #[arg(long, value_name = "NAME", requires = "pre_push")]
    pub remote: Option<String>,
}

impl ScanArgs {
    /// True for the scans of a change (`--staged`, `--range`, `--since-commit`,
    /// `--pre-push`), which report only what the change added.
    pub fn scans_changes(&self) -> bool {
        self.staged || self.pre_push || self.range.is_some() || self.since_commit.is_some()
    }
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
