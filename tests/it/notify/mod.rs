//! Owner emails over real SMTP: a Debian `aiosmtpd` server on loopback
//! (`tests/smtp_sink.py`), started per test, records what it was given.

mod delivery;
mod end_to_end;
mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revokd::notify::NotifyOptions;
use revokd::notify::transport::TransportConfig;
use revokd::secret::{Secret, redact};
use revokd::store::{KeyOrigin, LeakReport, NewKey, Store};

use crate::testdb::{pepper, xai_token};

/// One message the server accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    /// The HTML part, entities decoded.
    pub html: String,
    pub raw: String,
    /// Whether the message came over TLS (implicit or after STARTTLS).
    pub tls: bool,
    /// The login the client authenticated with, if any.
    pub login: Option<String>,
}

/// A real SMTP server on 127.0.0.1 (aiosmtpd), stopped when dropped. Refuses every
/// recipient whose local part starts with `reject` (550).
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    out: tempfile::TempDir,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(free_port())
    }

    /// Starts the server on `port`; returns once it accepts connections.
    pub fn start_on(port: u16) -> SmtpSink {
        SmtpSink::start_with(port, &[])
    }

    /// Starts the server on `port` with extra `tests/smtp_sink.py serve` options
    /// (`--tls`, `--cert`, `--key`, `--auth`).
    pub fn start_with(port: u16, extra: &[&str]) -> SmtpSink {
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new("/usr/bin/python3")
            .arg(crate::support::root().join("tests/smtp_sink.py"))
            .args(["serve", "--port", &port.to_string(), "--dir"])
            .arg(out.path())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 runs (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start (is python3-aiosmtpd installed?)");
        SmtpSink { child, port, out }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<Delivered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()).collect()
    }

    /// Waits (at most `timeout`) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Delivered> {
        let start = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n || start.elapsed() > timeout {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes an `.eml` file with Python's email package (as [`Delivered`] without envelope).
pub fn parse_eml(path: &Path) -> serde_json::Value {
    let output = Command::new("/usr/bin/python3")
        .arg(crate::support::root().join("tests/smtp_sink.py"))
        .arg("parse")
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Worker settings for tests: SMTP at `url` (or files in `dir`), no batching delay,
/// retries after 100 ms.
pub fn options(transport: TransportConfig) -> NotifyOptions {
    NotifyOptions {
        transport,
        from: "revokd@example.org".into(),
        max_attempts: 12,
        batch_window: Duration::ZERO,
        retry_base: Duration::from_millis(100),
        poll_interval: Duration::from_millis(200),
        fallback: None,
    }
}

pub fn smtp(url: String) -> TransportConfig {
    TransportConfig::Smtp { url, credentials: None, extra_roots: None }
}

/// Stores a new random key for `team`; returns (token, key id).
pub async fn add_key(store: &Store, team: &str) -> (String, i64) {
    let token = xai_token();
    let key = NewKey { key_hash: pepper().key_hash(&token), redacted: redact(&token, &["xai-".to_owned()]) };
    let id = store.add_keys(team, "xai_api_key", &[key], KeyOrigin::Issued, "test").await.unwrap()[0].id;
    (token, id)
}

/// Reports `token` as found by GitHub at `url`.
pub async fn leak(store: &Store, token: &str, url: &str) {
    let report = LeakReport::new(
        &Secret::new(token),
        &pepper(),
        "xai_api_key",
        "github_partner:content",
        Some(url.to_owned()),
        "github",
    );
    store.report_leak(&report).await.unwrap();
}

/// Audit events named `event`.
pub async fn audited(store: &Store, event: &str) -> Vec<revokd::store::AuditEvent> {
    let query = revokd::store::AuditQuery { event: Some(event.to_owned()), ..Default::default() };
    store.audit_events(&query).await.unwrap()
}
