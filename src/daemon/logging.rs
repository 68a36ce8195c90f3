//! The daemon's log subscriber: JSON lines (one object per event, with the request
//! span's fields) unless `log.format` says `text` or is `auto` with stderr on a
//! terminal; the level from `RUST_LOG` when set, else `log.level`, changeable at run
//! time through [`LogHandle`] (on `SIGHUP`).
//!
//! Log lines carry token hashes and row ids, never tokens, the pepper or secret files'
//! contents: those are [`crate::secret::Secret`]s whose `Debug`/`Display` redact.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogConfig, LogFormat, LogLevel};

/// Changes the level filter of the installed subscriber.
#[derive(Clone, Debug)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set at start: it wins over `log.level`, also on reload.
    from_env: bool,
}

/// Why the level could not be changed.
#[derive(Debug, thiserror::Error)]
#[error("cannot change the log level: {0}")]
pub struct LogLevelError(String);

impl LogHandle {
    /// Applies `level` unless `RUST_LOG` governs the filter. Returns the filter now in
    /// effect, for the reload's audit record.
    pub fn set_level(&self, level: LogLevel) -> Result<String, LogLevelError> {
        if self.from_env {
            return Ok(format!("RUST_LOG={}", std::env::var("RUST_LOG").unwrap_or_default()));
        }
        let directive = level_name(level);
        self.filter.reload(EnvFilter::new(directive)).map_err(|e| LogLevelError(e.to_string()))?;
        Ok(directive.to_owned())
    }
}

/// Installs the subscriber (on stderr) and returns the handle that changes its level;
/// `None` when a subscriber was already installed (tests): logging never fails a start.
pub fn init(log: &LogConfig) -> Option<LogHandle> {
    let env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let from_env = env.is_some();
    let filter = match env {
        Some(directives) => EnvFilter::try_new(&directives).unwrap_or_else(|err| {
            eprintln!("revokd: ignoring RUST_LOG ({err}); using log.level");
            EnvFilter::new(level_name(log.level))
        }),
        None => EnvFilter::new(level_name(log.level)),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let output = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).boxed()
    };
    tracing_subscriber::registry().with(filter).with(output).try_init().ok()?;
    Some(LogHandle { filter: handle, from_env })
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
