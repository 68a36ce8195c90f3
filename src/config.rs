//! Configuration: a TOML file plus `REVOKD_<SECTION>_<KEY>` environment overrides.
//!
//! [`Config::load`] reads the file given with `--config` (or `/etc/revokd/revokd.toml` when
//! it exists, or nothing: built-in defaults), applies the environment, then validates.
//! Every key has a default, so an empty file is a valid configuration. An unknown key
//! (in the file or the environment) or a bad value is a [`ConfigError`] that names the
//! key: a typo never silently falls back to a default.
//!
//! Cost: one file read at start (and on reload); nothing on the hot path.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/revokd/revokd.toml";

/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "REVOKD_";

/// `REVOKD_CONFIG` names the config file (like `--config`); it is not a config key.
pub const ENV_CONFIG_FILE: &str = "REVOKD_CONFIG";

/// The whole configuration (SPEC §9). Sections mirror the TOML tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub github: GithubConfig,
    pub keys: KeysConfig,
    pub smtp: SmtpConfig,
    pub api: ApiConfig,
    pub console: ConsoleConfig,
    pub patterns: PatternsConfig,
    pub retention: RetentionConfig,
    pub notify: NotifyConfig,
    pub log: LogConfig,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080` (loopback: put a proxy in front or
    /// set `0.0.0.0:8080` deliberately).
    pub listen: SocketAddr,
    /// Largest request body accepted; bigger bodies get 413 before any parsing.
    /// Default 1 MiB: GitHub partner alerts are far smaller, and the limit bounds the
    /// memory an unauthenticated request can make us hold.
    pub max_body_bytes: u64,
    /// How long a graceful shutdown waits for in-flight requests. Default `30s`.
    pub shutdown_timeout: HumanDuration,
    /// Open connections served at once. At the cap a new client is accepted and the
    /// oldest idle connection (no request in progress) is closed for it; when every
    /// connection is busy, new clients wait in the kernel's accept queue. Default 1024:
    /// far above GitHub's delivery concurrency, well below the unit's file-descriptor
    /// limit. Each idle connection costs a few KiB.
    pub max_connections: u32,
    /// Requests handled at once (health and metrics excluded); beyond it the daemon
    /// answers 503 `overloaded` with `Retry-After: 1` instead of queueing without bound.
    /// Default 256: enough to keep the group commit full on 2 cores.
    pub max_concurrent_requests: u32,
    /// Time a client has to send the request line and headers. Default `10s`: slowloris
    /// clients are dropped, real clients send headers in one packet.
    pub header_read_timeout: HumanDuration,
    /// Time a client has to send the whole body. Default `30s` (1 MiB at ~35 KiB/s);
    /// a slower body gets 408.
    pub body_read_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            shutdown_timeout: HumanDuration(Duration::from_secs(30)),
            max_connections: 1024,
            max_concurrent_requests: 256,
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            body_read_timeout: HumanDuration(Duration::from_secs(30)),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    /// Default `sqlite://revokd.db` (in the working directory).
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: "sqlite://revokd.db".into() }
    }
}

/// `[github]`: partner alerts and the org webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// Where GitHub publishes the keys that sign partner alerts.
    pub public_keys_url: String,
    /// File holding the org/repo webhook secret (HMAC). Unset: `/github/webhook` is off.
    pub webhook_secret_file: Option<PathBuf>,
    /// GitHub REST API base, for fetching alert details. Default `https://api.github.com`.
    pub api_url: String,
    /// File holding the GitHub API token. Unset: org webhook alerts cannot be resolved.
    pub api_token_file: Option<PathBuf>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            public_keys_url: "https://api.github.com/meta/public_keys/secret_scanning".into(),
            webhook_secret_file: None,
            api_url: "https://api.github.com".into(),
            api_token_file: None,
        }
    }
}

/// `[keys]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The HMAC pepper (see [`crate::pepper`]). Default: `revokd.pepper` beside a SQLite
    /// database file, else `./revokd.pepper`. Created (mode 0600) when missing; every
    /// replica must share the same file, and losing it makes every stored key unrecognisable.
    pub pepper_file: Option<PathBuf>,
}

/// `[smtp]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// `smtp://HOST:PORT` (plain; add `?tls=required` for STARTTLS, refused when the
    /// server does not offer it), `smtps://HOST:PORT` (TLS from the start); TLS is
    /// rustls, verifying the server's certificate and host name against the webpki
    /// roots plus `ca_file`. Optional `USER:PASS@` (prefer `credentials_file`). Unset:
    /// emails are written as `.eml` files to `mail_dir`.
    pub url: Option<String>,
    /// Sender address (`From`). Default `revokd@localhost`.
    pub from: String,
    /// File holding the SMTP login: the user name on the first line, the password on
    /// the second. Unset: no authentication (or the URL's user info).
    pub credentials_file: Option<PathBuf>,
    /// PEM file of extra root certificates trusted for the SMTP server's TLS (a private
    /// CA), on top of the built-in webpki (Mozilla) roots. Unset: the webpki roots only.
    /// Read once at start; a file without a certificate is a start-up error.
    pub ca_file: Option<PathBuf>,
    /// Where emails are written as `.eml` files when `url` is unset (created when the
    /// first email is written). Default `mail` (relative to the working directory).
    pub mail_dir: PathBuf,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            url: None,
            from: "revokd@localhost".into(),
            credentials_file: None,
            ca_file: None,
            mail_dir: PathBuf::from("mail"),
        }
    }
}

/// `[api]`: the scan API for security teams (`/v1/*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// File of bearer tokens for `/v1/*`, one a line (`token` or `name:token`; `#`
    /// starts a comment). Unset: the API is off (404).
    pub tokens_file: Option<PathBuf>,
    /// Largest `POST /v1/scan` body; bigger ones get 413. Default 1 MiB.
    pub max_scan_bytes: u64,
    /// Requests per minute each token may make (bursts up to the same number); more
    /// get 429. Default 600.
    pub rate_per_minute: u32,
    /// Local repositories `POST /v1/scans` may read: the canonical path must lie under
    /// one of these. Default none (no local path is accepted). Env: comma-separated.
    pub allowed_roots: Vec<PathBuf>,
    /// URL schemes `POST /v1/scans` may clone. Default `["https"]`. Env: comma-separated.
    pub allowed_schemes: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            tokens_file: None,
            max_scan_bytes: 1024 * 1024,
            rate_per_minute: 600,
            allowed_roots: Vec::new(),
            allowed_schemes: vec!["https".into()],
        }
    }
}

/// `[console]`: the web console at `/console/` (on whenever the API is, since it signs
/// in with `api.tokens_file`'s tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// How long a console sign-in lasts before the session cookie expires. Default
    /// `8h` (a working day; shorter limits what a stolen cookie is worth).
    pub session_ttl: HumanDuration,
    /// Sign-in attempts per client address and minute (bursts up to the same number);
    /// more get 429. Default 10: plenty for people, useless for guessing tokens.
    pub sign_in_attempts_per_minute: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { session_ttl: HumanDuration(Duration::from_secs(8 * 3600)), sign_in_attempts_per_minute: 10 }
    }
}

/// `[patterns]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatternsConfig {
    /// Extra rule directories loaded after the shipped rules. Env: comma-separated.
    pub dirs: Vec<PathBuf>,
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Leak records whose last sighting is older than this many days are purged
    /// (`revokd db purge`, and daily by the daemon). Audit events are never purged.
    /// Default 30.
    pub days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { days: 30 }
    }
}

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Delivery attempts before an outbox row is `dead`. Default 12 (with exponential
    /// backoff that spans about a day).
    pub max_attempts: u32,
    /// Leaks of one team within this window go out as one email. Default `30s`.
    pub batch_window: HumanDuration,
    /// Address mailed when a team has neither admins nor members (audited
    /// `notify.fallback`). Unset: such notices are only audited (`notify.dead`).
    pub fallback: Option<String>,
    /// Delay before the first retry of a failed email; each later retry waits twice as
    /// long (±20% jitter). Default `45s`: with 12 attempts the last one comes about a day
    /// (25.6 h) after the first, long enough to outlast a mail-server outage.
    pub retry_base: HumanDuration,
    /// How often the worker looks for due emails when nothing woke it (leaks reported by
    /// another replica, retries). Default `5s`; costs two indexed reads per poll.
    pub poll_interval: HumanDuration,
    /// `/readyz` answers 503 while more emails than this wait to be sent (a mail outage
    /// or a stuck worker). Default 1,000.
    pub ready_max_pending: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            max_attempts: 12,
            batch_window: HumanDuration(Duration::from_secs(30)),
            fallback: None,
            retry_base: HumanDuration(Duration::from_secs(45)),
            poll_interval: HumanDuration(Duration::from_secs(5)),
            ready_max_pending: 1000,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Default `info`.
    pub level: LogLevel,
    /// `auto` (JSON when stderr is not a terminal), `json` or `text`. Default `auto`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Text,
}

/// A duration written `500ms`, `30s`, `5m`, `2h`, `7d` or `1w` (a bare number is seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
            if ms != 0 && ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(s) => Ok(HumanDuration(Duration::from_secs(s))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `7d`, `1w` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("invalid duration {text:?} (expected e.g. 30s, 5m, 2h, 7d)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms_per_unit).map(Duration::from_millis).ok_or_else(bad)
}

/// Why a configuration was refused. Each variant names the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "environment variable {var}: unknown config key (expected REVOKD_<SECTION>_<KEY>, e.g. REVOKD_DATABASE_URL)"
    )]
    UnknownEnv { var: String },
    #[error("environment variable {var}: {message}")]
    EnvValue { var: String, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Loads the configuration: `path` if given (it must exist), else
    /// [`DEFAULT_CONFIG_PATH`] if it exists, else the defaults; then the process
    /// environment's `REVOKD_*` overrides; then validation.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let default = Path::new(DEFAULT_CONFIG_PATH);
        let path = match path {
            Some(path) => Some(path),
            None if default.exists() => Some(default),
            None => None,
        };
        let mut config = match path {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().unwrap_or_default()))),
        )?;
        config.validate()?;
        Ok(config)
    }

    /// Parses one TOML file (no environment, no validation).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })
    }

    /// Parses TOML text (no environment, no validation).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| crate::toml_error::describe(&e, text))
    }

    /// Applies `REVOKD_<SECTION>_<KEY>=value` pairs; other variables are ignored.
    /// `REVOKD_CONFIG` (the file name) is not a key and is skipped.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        for (var, value) in vars {
            let Some(name) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if var == ENV_CONFIG_FILE {
                continue;
            }
            let key = name.to_ascii_lowercase();
            self.set(&key, &value).map_err(|error| match error {
                SetError::Unknown => ConfigError::UnknownEnv { var: var.clone() },
                SetError::Value(message) => ConfigError::EnvValue { var: var.clone(), message },
            })?;
        }
        Ok(())
    }

    /// Sets one key given as `section_key` (lowercase) from its text form.
    fn set(&mut self, key: &str, value: &str) -> Result<(), SetError> {
        fn parse<T: FromStr>(value: &str) -> Result<T, SetError>
        where
            T::Err: fmt::Display,
        {
            value.trim().parse().map_err(|e: T::Err| SetError::Value(format!("invalid value {value:?}: {e}")))
        }
        fn path(value: &str) -> Option<PathBuf> {
            (!value.is_empty()).then(|| PathBuf::from(value))
        }
        fn text(value: &str) -> Option<String> {
            (!value.is_empty()).then(|| value.to_string())
        }
        fn list(value: &str) -> impl Iterator<Item = &str> {
            value.split(',').map(str::trim).filter(|item| !item.is_empty())
        }
        fn variant<T: for<'de> Deserialize<'de>>(value: &str) -> Result<T, SetError> {
            T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value.trim()))
                .map_err(|e| SetError::Value(e.to_string()))
        }
        match key {
            "server_listen" => self.server.listen = parse(value)?,
            "server_max_body_bytes" => self.server.max_body_bytes = parse(value)?,
            "server_shutdown_timeout" => self.server.shutdown_timeout = parse(value)?,
            "server_max_connections" => self.server.max_connections = parse(value)?,
            "server_max_concurrent_requests" => self.server.max_concurrent_requests = parse(value)?,
            "server_header_read_timeout" => self.server.header_read_timeout = parse(value)?,
            "server_body_read_timeout" => self.server.body_read_timeout = parse(value)?,
            "database_url" => self.database.url = value.to_string(),
            "github_public_keys_url" => self.github.public_keys_url = value.to_string(),
            "github_webhook_secret_file" => self.github.webhook_secret_file = path(value),
            "github_api_url" => self.github.api_url = value.to_string(),
            "github_api_token_file" => self.github.api_token_file = path(value),
            "keys_pepper_file" => self.keys.pepper_file = path(value),
            "smtp_url" => self.smtp.url = text(value),
            "smtp_from" => self.smtp.from = value.to_string(),
            "smtp_credentials_file" => self.smtp.credentials_file = path(value),
            "smtp_ca_file" => self.smtp.ca_file = path(value),
            "smtp_mail_dir" => self.smtp.mail_dir = PathBuf::from(value),
            "api_tokens_file" => self.api.tokens_file = path(value),
            "api_max_scan_bytes" => self.api.max_scan_bytes = parse(value)?,
            "api_rate_per_minute" => self.api.rate_per_minute = parse(value)?,
            "api_allowed_roots" => self.api.allowed_roots = list(value).map(PathBuf::from).collect(),
            "api_allowed_schemes" => self.api.allowed_schemes = list(value).map(str::to_ascii_lowercase).collect(),
            "console_session_ttl" => self.console.session_ttl = parse(value)?,
            "console_sign_in_attempts_per_minute" => self.console.sign_in_attempts_per_minute = parse(value)?,
            "patterns_dirs" => {
                self.patterns.dirs =
                    value.split(',').map(str::trim).filter(|d| !d.is_empty()).map(PathBuf::from).collect();
            }
            "retention_days" => self.retention.days = parse(value)?,
            "notify_max_attempts" => self.notify.max_attempts = parse(value)?,
            "notify_batch_window" => self.notify.batch_window = parse(value)?,
            "notify_fallback" => self.notify.fallback = text(value),
            "notify_retry_base" => self.notify.retry_base = parse(value)?,
            "notify_poll_interval" => self.notify.poll_interval = parse(value)?,
            "notify_ready_max_pending" => self.notify.ready_max_pending = parse(value)?,
            "log_level" => self.log.level = variant(value)?,
            "log_format" => self.log.format = variant(value)?,
            _ => return Err(SetError::Unknown),
        }
        Ok(())
    }

    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.to_string() });
        if self.server.max_body_bytes == 0 {
            return invalid("server.max_body_bytes", "must be greater than 0");
        }
        for (key, value) in [
            ("server.max_connections", self.server.max_connections),
            ("server.max_concurrent_requests", self.server.max_concurrent_requests),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        for (key, value) in [
            ("server.header_read_timeout", self.server.header_read_timeout),
            ("server.body_read_timeout", self.server.body_read_timeout),
        ] {
            if value.0.is_zero() {
                return invalid(key, "must be longer than 0s");
            }
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return invalid(
                "database.url",
                &format!("unsupported URL {:?} (expected sqlite://PATH or postgres://…)", redact_url(url)),
            );
        }
        for (key, value) in
            [("github.public_keys_url", &self.github.public_keys_url), ("github.api_url", &self.github.api_url)]
        {
            if !(value.starts_with("https://") || value.starts_with("http://")) {
                return invalid(key, &format!("{value:?} is not an http(s) URL"));
            }
        }
        if let Some(url) = &self.smtp.url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return invalid("smtp.url", &format!("{:?} is not an smtp:// or smtps:// URL", redact_url(url)));
        }
        if self.smtp.mail_dir.as_os_str().is_empty() {
            return invalid("smtp.mail_dir", "must not be empty (default \"mail\")");
        }
        if !is_plausible_email(&self.smtp.from) {
            return invalid("smtp.from", &format!("{:?} is not an email address", self.smtp.from));
        }
        if let Some(fallback) = &self.notify.fallback
            && !is_plausible_email(fallback)
        {
            return invalid("notify.fallback", &format!("{fallback:?} is not an email address"));
        }
        if self.retention.days == 0 {
            return invalid("retention.days", "must be at least 1");
        }
        if self.notify.ready_max_pending == 0 {
            return invalid("notify.ready_max_pending", "must be at least 1");
        }
        if self.api.max_scan_bytes == 0 {
            return invalid("api.max_scan_bytes", "must be greater than 0");
        }
        if self.api.rate_per_minute == 0 {
            return invalid("api.rate_per_minute", "must be at least 1");
        }
        if let Some(scheme) = self.api.allowed_schemes.iter().find(|s| !is_scheme_name(s)) {
            return invalid("api.allowed_schemes", &format!("{scheme:?} is not a URL scheme (e.g. https)"));
        }
        if self.console.session_ttl.0.is_zero() {
            return invalid("console.session_ttl", "must be longer than 0s");
        }
        if self.console.sign_in_attempts_per_minute == 0 {
            return invalid("console.sign_in_attempts_per_minute", "must be at least 1");
        }
        if self.notify.max_attempts == 0 {
            return invalid("notify.max_attempts", "must be at least 1");
        }
        if self.notify.retry_base.0.is_zero() {
            return invalid("notify.retry_base", "must be greater than 0");
        }
        if self.notify.poll_interval.0.is_zero() {
            return invalid("notify.poll_interval", "must be greater than 0");
        }
        Ok(())
    }

    /// The pepper file in effect: `keys.pepper_file`, else `revokd.pepper` beside a
    /// SQLite database file, else `./revokd.pepper`.
    pub fn pepper_file(&self) -> PathBuf {
        if let Some(path) = &self.keys.pepper_file {
            return path.clone();
        }
        sqlite_path(&self.database.url)
            .and_then(|db| db.parent().map(|dir| dir.join("revokd.pepper")))
            .unwrap_or_else(|| PathBuf::from("revokd.pepper"))
    }

    /// The effective configuration as TOML, with passwords in URLs replaced by `***`
    /// and defaults that depend on other keys (the pepper file) filled in. Secret values
    /// themselves never live in the config (only the files that hold them).
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&shown.database.url);
        shown.smtp.url = shown.smtp.url.as_deref().map(redact_url);
        shown.keys.pepper_file = Some(self.pepper_file());
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

enum SetError {
    Unknown,
    Value(String),
}

/// True for a lowercase URL scheme name such as `https` or `git+ssh`.
fn is_scheme_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// The file path of a `sqlite:` URL (`sqlite://revokd.db`, `sqlite:///abs/path.db`),
/// without query parameters; `None` for other URLs and in-memory databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Replaces the password of a URL's user info and any `password=` query value by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// A cheap shape check (`local@domain`, no spaces), not RFC 5322: the mail server has
/// the last word, this only catches typos such as a missing `@`.
pub fn is_plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && s.len() <= 254
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::default();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://revokd.db");
        assert_eq!(c.retention.days, 30);
        assert_eq!(c.notify.max_attempts, 12);
        assert_eq!(c.notify.batch_window.0, Duration::from_secs(30));
        assert_eq!(c.pepper_file(), PathBuf::from("revokd.pepper"));
        assert_eq!((c.console.session_ttl.0, c.console.sign_in_attempts_per_minute), (Duration::from_secs(28_800), 10));
        c.validate().unwrap();
    }

    #[test]
    fn console_keys_from_file_and_env() {
        let mut c = Config::from_toml("[console]\nsession_ttl = \"30m\"\n").unwrap();
        assert_eq!(c.console.session_ttl.0, Duration::from_secs(1800));
        c.apply_env(env(&[("REVOKD_CONSOLE_SIGN_IN_ATTEMPTS_PER_MINUTE", "3")])).unwrap();
        assert_eq!(c.console.sign_in_attempts_per_minute, 3);
        c.apply_env(env(&[("REVOKD_CONSOLE_SESSION_TTL", "0s")])).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("console.session_ttl"));
    }

    #[test]
    fn file_values_and_env_overrides() {
        let mut c = Config::from_toml(
            "[server]\nlisten = \"0.0.0.0:9000\"\nshutdown_timeout = \"1m\"\n[notify]\nbatch_window = 5\n[patterns]\ndirs = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.server.shutdown_timeout.0, Duration::from_secs(60));
        assert_eq!(c.notify.batch_window.0, Duration::from_secs(5));
        c.apply_env(env(&[
            ("REVOKD_DATABASE_URL", "postgres://u:pw@db/revokd"),
            ("REVOKD_SERVER_MAX_BODY_BYTES", "2048"),
            ("REVOKD_PATTERNS_DIRS", "x, y"),
            ("REVOKD_LOG_LEVEL", "debug"),
            ("REVOKD_CONFIG", "/ignored.toml"),
            ("HOME", "/root"),
        ]))
        .unwrap();
        assert_eq!(c.database.url, "postgres://u:pw@db/revokd");
        assert_eq!(c.server.max_body_bytes, 2048);
        assert_eq!(c.patterns.dirs, vec![PathBuf::from("x"), PathBuf::from("y")]);
        assert_eq!(c.log.level, LogLevel::Debug);
        c.validate().unwrap();
        let shown = c.to_redacted_toml();
        assert!(shown.contains("postgres://u:***@db/revokd"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = Config::from_toml("[server]\nlisten_on = \"x\"\n").unwrap_err();
        assert!(err.contains("listen_on"), "{err}");
        let err = Config::from_toml("[sever]\n").unwrap_err();
        assert!(err.contains("sever"), "{err}");
        let err = Config::from_toml("[retention]\ndays = \"many\"\n").unwrap_err();
        assert!(err.contains("days"), "{err}");

        let mut c = Config::default();
        let err = c.apply_env(env(&[("REVOKD_DATABASE_URI", "x")])).unwrap_err().to_string();
        assert!(err.contains("REVOKD_DATABASE_URI"), "{err}");
        let err = c.apply_env(env(&[("REVOKD_SERVER_MAX_BODY_BYTES", "lots")])).unwrap_err().to_string();
        assert!(err.contains("REVOKD_SERVER_MAX_BODY_BYTES"), "{err}");
        let err = c.apply_env(env(&[("REVOKD_LOG_FORMAT", "xml")])).unwrap_err().to_string();
        assert!(err.contains("REVOKD_LOG_FORMAT"), "{err}");

        c.database.url = "mysql://x".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("database.url"), "{err}");
    }

    #[test]
    fn notification_keys_from_env() {
        let mut c = Config::default();
        assert_eq!(c.notify.retry_base.0, Duration::from_secs(45));
        c.apply_env(env(&[
            ("REVOKD_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("REVOKD_SMTP_CREDENTIALS_FILE", "/etc/revokd/smtp.login"),
            ("REVOKD_NOTIFY_RETRY_BASE", "2s"),
            ("REVOKD_NOTIFY_POLL_INTERVAL", "500ms"),
            ("REVOKD_NOTIFY_BATCH_WINDOW", "0"),
            ("REVOKD_SMTP_CA_FILE", "/etc/revokd/mail-ca.pem"),
            ("REVOKD_SMTP_MAIL_DIR", "/var/spool/revokd"),
        ]))
        .unwrap();
        assert_eq!(c.smtp.credentials_file, Some(PathBuf::from("/etc/revokd/smtp.login")));
        assert_eq!(c.smtp.ca_file, Some(PathBuf::from("/etc/revokd/mail-ca.pem")));
        assert_eq!(c.smtp.mail_dir, PathBuf::from("/var/spool/revokd"));
        assert_eq!(c.notify.retry_base.0, Duration::from_secs(2));
        assert_eq!(c.notify.poll_interval.0, Duration::from_millis(500));
        assert!(c.notify.batch_window.0.is_zero());
        c.validate().unwrap();
        c.notify.retry_base = HumanDuration(Duration::ZERO);
        assert!(c.validate().unwrap_err().to_string().contains("notify.retry_base"));
        let mut c = Config::default();
        assert_eq!(c.smtp.mail_dir, PathBuf::from("mail"));
        c.apply_env(env(&[("REVOKD_SMTP_MAIL_DIR", "")])).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("smtp.mail_dir"));
    }

    #[test]
    fn server_limits_have_safe_defaults_and_refuse_zero() {
        let c = Config::default();
        assert_eq!((c.server.max_connections, c.server.max_concurrent_requests), (1024, 256));
        assert_eq!(c.server.header_read_timeout.0, Duration::from_secs(10));
        assert_eq!(c.server.body_read_timeout.0, Duration::from_secs(30));
        let mut c = Config::default();
        c.apply_env(env(&[("REVOKD_SERVER_MAX_CONNECTIONS", "10"), ("REVOKD_SERVER_BODY_READ_TIMEOUT", "2s")]))
            .unwrap();
        assert_eq!(c.server.max_connections, 10);
        assert_eq!(c.server.body_read_timeout.0, Duration::from_secs(2));
        for (var, key) in [
            ("REVOKD_SERVER_MAX_CONCURRENT_REQUESTS", "server.max_concurrent_requests"),
            ("REVOKD_SERVER_HEADER_READ_TIMEOUT", "server.header_read_timeout"),
        ] {
            let mut c = Config::default();
            c.apply_env(env(&[(var, "0")])).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn api_keys_from_file_and_env() {
        let mut c = Config::from_toml("[api]\nallowed_roots = [\"/srv/git\"]\nrate_per_minute = 5\n").unwrap();
        assert_eq!(c.api.allowed_schemes, vec!["https".to_string()]);
        assert_eq!(c.api.max_scan_bytes, 1024 * 1024);
        c.apply_env(env(&[
            ("REVOKD_API_ALLOWED_SCHEMES", "https, FILE"),
            ("REVOKD_API_ALLOWED_ROOTS", "/a,/b"),
            ("REVOKD_API_MAX_SCAN_BYTES", "4096"),
        ]))
        .unwrap();
        assert_eq!(c.api.allowed_schemes, vec!["https".to_string(), "file".to_string()]);
        assert_eq!(c.api.allowed_roots, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!((c.api.max_scan_bytes, c.api.rate_per_minute), (4096, 5));
        c.validate().unwrap();
        c.api.allowed_schemes = vec!["https://".into()];
        assert!(c.validate().unwrap_err().to_string().contains("api.allowed_schemes"));
        c.api.allowed_schemes = vec![];
        c.api.rate_per_minute = 0;
        assert!(c.validate().unwrap_err().to_string().contains("api.rate_per_minute"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3 days").is_err());
        assert_eq!(HumanDuration(Duration::from_secs(120)).to_string(), "2m");
        assert_eq!(HumanDuration(Duration::from_millis(1500)).to_string(), "1500ms");
    }

    #[test]
    fn url_redaction() {
        assert_eq!(redact_url("sqlite://revokd.db"), "sqlite://revokd.db");
        assert_eq!(
            redact_url("postgres://alice:s3cret@host:5432/db?sslmode=require&password=x"),
            "postgres://alice:***@host:5432/db?sslmode=require&password=***"
        );
        assert_eq!(redact_url("smtp://user@mail"), "smtp://user@mail");
    }

    #[test]
    fn pepper_defaults_beside_the_sqlite_file() {
        let mut c = Config::default();
        c.database.url = "sqlite:///var/lib/revokd/revokd.db?mode=rwc".into();
        assert_eq!(c.pepper_file(), PathBuf::from("/var/lib/revokd/revokd.pepper"));
        c.database.url = "postgres://db/revokd".into();
        assert_eq!(c.pepper_file(), PathBuf::from("revokd.pepper"));
    }
}
