//! `SIGHUP`: re-read the configuration file and put in effect what can change without a
//! restart — the rule set (shipped rules plus `patterns.dirs` and `--patterns`), the log
//! level, and GitHub's public keys (refetched now). Audited as `config.reloaded`.
//!
//! All-or-nothing: the file is parsed and validated and the new rules are compiled and
//! their examples checked before anything is swapped; on any error the running
//! configuration stays as it was and the error is logged. Requests are never dropped: the
//! rules are swapped behind an `Arc`, so a request already running finishes with the
//! rules it started with. Keys that need a restart (`[server]`, `[database]`, `[keys]`,
//! `[smtp]`, `[notify]`, secret files) are compared and a warning names each changed
//! section.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::logging::LogHandle;
use crate::config::{Config, ConfigError};
use crate::github::keys::PublicKeys;
use crate::http::api::ApiState;
use crate::http::api::auth::{TokenFileError, TokenSet};
use crate::patterns::RuleSet;
use crate::revoke::Revoker;
use crate::scan::Scanner;
use crate::store::{EventKind, NewEvent, Store};

/// Where the configuration comes from, as given at start.
#[derive(Debug, Clone, Default)]
pub struct ReloadSource {
    /// `--config` (None: the default path if it exists, else built-in defaults).
    pub config_path: Option<PathBuf>,
    /// `revokd serve --patterns DIR`, added to `patterns.dirs` on every load.
    pub extra_pattern_dirs: Vec<PathBuf>,
    /// The level filter of the daemon's subscriber, if it installed one.
    pub log: Option<LogHandle>,
}

/// Why a reload was refused; the running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("rule set: {0}")]
    Rules(String),
    #[error(transparent)]
    ApiTokens(#[from] TokenFileError),
}

/// Loads every rule file (shipped rules plus `dirs`) and compiles the scanner; refuses a
/// user rule whose examples do not behave as written, so that a broken user pattern file
/// never scans (or revokes) silently. Cost: tens of milliseconds.
pub fn compile_rules(dirs: &[PathBuf]) -> Result<Scanner, ReloadError> {
    compile_selected_rules(dirs, &[])
}

/// [`compile_rules`] keeping only the rules with the ids in `only` (all when empty).
pub fn compile_selected_rules(dirs: &[PathBuf], only: &[String]) -> Result<Scanner, ReloadError> {
    let mut rules = RuleSet::load(dirs).map_err(|e| ReloadError::Rules(format!("{e:#}")))?;
    if !only.is_empty() {
        rules = rules.only(only).map_err(|e| ReloadError::Rules(e.to_string()))?;
    }
    let scanner =
        Scanner::new(Arc::new(rules)).map_err(|e| ReloadError::Rules(format!("building the prefilter: {e}")))?;
    if let Some(failure) = scanner.example_failures_where(|rule| !rule.is_shipped()).first() {
        return Err(ReloadError::Rules(failure.to_string()));
    }
    Ok(scanner)
}

/// What a reload changed (logged, audited, and sent to systemd as the status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub rules: usize,
    pub rule_set_version: String,
    pub log_filter: Option<String>,
    /// Number of GitHub keys after the refetch, or why it failed (cached keys kept).
    pub github_keys: Result<usize, String>,
    /// Whether the scan API's token file was re-read.
    pub api_tokens_reloaded: bool,
    /// Sections that changed in the file but take effect only after a restart.
    pub needs_restart: Vec<&'static str>,
}

/// The parts of the running daemon a reload touches.
#[derive(Clone)]
pub(super) struct Reloadable {
    pub revoker: Revoker,
    pub keys: PublicKeys,
    pub store: Store,
    /// The scan API, when `api.tokens_file` is set: its token file is re-read.
    pub api: Option<ApiState>,
}

impl Reloadable {
    /// Loads the configuration and the rules from `source`; on success swaps them in,
    /// refetches the GitHub keys and appends `config.reloaded` to the audit log.
    /// `running` is the configuration in effect; it is replaced on success.
    pub async fn reload(&self, source: &ReloadSource, running: &mut Config) -> Result<Reloaded, ReloadError> {
        let config = Config::load(source.config_path.as_deref())?;
        let mut dirs = config.patterns.dirs.clone();
        dirs.extend(source.extra_pattern_dirs.iter().cloned());
        let scanner = tokio::task::spawn_blocking(move || compile_rules(&dirs))
            .await
            .map_err(|e| ReloadError::Rules(format!("compiling rules: {e}")))??;
        let api_tokens = match (&self.api, &config.api.tokens_file) {
            (Some(_), Some(path)) => Some(TokenSet::load(path)?),
            _ => None,
        };

        // Everything is valid: from here on, nothing fails the reload.
        let rules = scanner.rules().rules().len();
        let rule_set_version = scanner.rules().version().to_string();
        self.revoker.replace_scanner(Arc::new(scanner));
        let api_tokens_reloaded = api_tokens.is_some();
        if let (Some(api), Some(tokens)) = (&self.api, api_tokens) {
            api.replace_tokens(tokens);
        }
        let log_filter = match &source.log {
            Some(handle) => match handle.set_level(config.log.level) {
                Ok(filter) => Some(filter),
                Err(err) => {
                    tracing::warn!(error = %err, "log level unchanged");
                    None
                }
            },
            None => None,
        };
        let github_keys = self.keys.refresh().await.map_err(|e| e.to_string());
        let needs_restart = restart_only_changes(running, &config);
        for section in &needs_restart {
            tracing::warn!(section, "configuration section changed; restart revokd to apply it");
        }
        let reloaded =
            Reloaded { rules, rule_set_version, log_filter, github_keys, api_tokens_reloaded, needs_restart };
        self.audit(&reloaded).await;
        *running = config;
        Ok(reloaded)
    }

    async fn audit(&self, reloaded: &Reloaded) {
        let event = NewEvent {
            event: EventKind::ConfigReloaded,
            actor: "system".into(),
            team_id: None,
            key_id: None,
            description: format!(
                "configuration reloaded: {} rules (version {})",
                reloaded.rules, reloaded.rule_set_version
            ),
            details: json!({
                "rules": reloaded.rules,
                "rule_set_version": reloaded.rule_set_version,
                "log_filter": reloaded.log_filter,
                "github_keys": match &reloaded.github_keys { Ok(n) => json!(n), Err(e) => json!({ "error": e }) },
                "api_tokens_reloaded": reloaded.api_tokens_reloaded,
                "needs_restart": reloaded.needs_restart,
            }),
        };
        if let Err(err) = self.store.record(&event).await {
            tracing::error!(error = %err, "cannot audit the reload (it is in effect)");
        }
    }
}

/// Sections whose changes a reload cannot apply.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.server != new.server {
        changed.push("server");
    }
    if old.database != new.database {
        changed.push("database");
    }
    if old.keys != new.keys {
        changed.push("keys");
    }
    if old.github.webhook_secret_file != new.github.webhook_secret_file
        || old.github.api_url != new.github.api_url
        || old.github.api_token_file != new.github.api_token_file
        || old.github.public_keys_url != new.github.public_keys_url
    {
        changed.push("github");
    }
    // The token file is re-read; turning the API on or off, or its other settings, is not.
    let mut api_with_new_tokens = old.api.clone();
    api_with_new_tokens.tokens_file.clone_from(&new.api.tokens_file);
    if api_with_new_tokens != new.api || old.api.tokens_file.is_some() != new.api.tokens_file.is_some() {
        changed.push("api");
    }
    // The email worker keeps the transport (login, trusted roots) it started with.
    if old.smtp != new.smtp {
        changed.push("smtp");
    }
    if old.notify != new.notify {
        changed.push("notify");
    }
    if old.console != new.console {
        changed.push("console");
    }
    if old.log.format != new.log.format {
        changed.push("log.format");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_settings_need_a_restart() {
        let old = Config::default();
        assert!(restart_only_changes(&old, &old).is_empty());
        let mut new = old.clone();
        new.smtp.ca_file = Some("/etc/revokd/mail-ca.pem".into());
        new.notify.max_attempts = 3;
        assert_eq!(restart_only_changes(&old, &new), ["smtp", "notify"]);
    }
}
