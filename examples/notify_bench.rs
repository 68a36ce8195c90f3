//! Owner-email benchmark against a real SMTP server on loopback (`tests/smtp_sink.py`,
//! Debian's aiosmtpd, which writes every accepted message with its arrival time).
//!
//! ```text
//! cargo run --release --example notify_bench -- [--alerts 100] [--emails 1000]
//! ```
//!
//! 1. **Alert → email accepted.** `revokd serve` in-process (SQLite file in `$TMPDIR`,
//!    `notify.batch_window = 0`, a local fake of GitHub's public-keys endpoint); one at
//!    a time, N signed partner alerts for N issued keys. Latency = the SMTP server's
//!    arrival time of the email minus the time the alert was POSTed (same clock).
//!    Prints median, p90 and max.
//! 2. **Outbox throughput.** One leak of a team with M admins queues M emails; one
//!    `Notifier::run_once` composes and sends them all to the SMTP server (one pooled
//!    connection, one audit event and row update per email). Reported as emails/s and
//!    as a ratio against the same pass writing `.eml` files (reference, same run).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use revokd::daemon::{Daemon, ServeOptions};
use revokd::github::keys::KeyCacheOptions;
use revokd::notify::transport::TransportConfig;
use revokd::notify::{Notifier, NotifyOptions};
use revokd::patterns::RuleSet;
use revokd::pepper::Pepper;
use revokd::scan::Scanner;
use revokd::secret::{Secret, redact, sha256_hex};
use revokd::store::{KeyOrigin, LeakReport, NewKey, Store};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let (mut alerts, mut emails) = (100usize, 1000usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alerts" => alerts = args.next().ok_or("--alerts needs a value")?.parse()?,
            "--emails" => emails = args.next().ok_or("--emails needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        alert_to_email(alerts).await?;
        throughput(emails).await
    })
}

/// The SMTP sink process and the directory it writes to.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start() -> Result<Sink, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["serve", "--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err("the SMTP sink did not start (apt-get install python3-aiosmtpd)".into());
        }
        Ok(Sink { child, port, dir })
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The arrival time (Unix seconds) of message number `n` (1-based), waiting up to 10 s.
    async fn arrival(&self, n: usize) -> Result<f64, Error> {
        let path = self.dir.path().join(format!("{n:06}.json"));
        let start = Instant::now();
        while !path.exists() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("message {n} never arrived").into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        record["received_at"].as_f64().ok_or_else(|| "no received_at".into())
    }

    fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path()).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify_options(transport: TransportConfig) -> NotifyOptions {
    NotifyOptions {
        transport,
        from: "revokd@example.org".into(),
        max_attempts: 12,
        batch_window: Duration::ZERO,
        retry_base: Duration::from_secs(45),
        poll_interval: Duration::from_secs(5),
        fallback: None,
    }
}

fn random_token() -> Result<String, Error> {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 80];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(format!("xai-{}", bytes.iter().map(|b| BASE62[usize::from(*b) % 62] as char).collect::<String>()))
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

async fn alert_to_email(n: usize) -> Result<(), Error> {
    let sink = Sink::start()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    store.create_team("acme", &["owner@example.com".into()], &[], "bench").await?;
    let pepper = Pepper::from_bytes(b"benchmark-pepper-of-thirty-two-b".to_vec());

    // GitHub's public-keys endpoint, played locally.
    let signing = SigningKey::from_slice(&hex::decode(sha256_hex(b"bench key"))?)?;
    let pem = signing.verifying_key().to_public_key_pem(LineEnding::LF)?;
    let key_id = sha256_hex(pem.as_bytes());
    let keys = serde_json::json!({"public_keys": [{"key_identifier": key_id, "key": pem, "is_current": true}]});
    let app = Router::new().route("/keys", get(move || std::future::ready(axum::Json(keys.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let keys_url = format!("http://{}/keys", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let options = ServeOptions {
        listen: "127.0.0.1:0".parse()?,
        keys: KeyCacheOptions::new(keys_url),
        notify: Some(notify_options(TransportConfig::Smtp { url: sink.url(), credentials: None, extra_roots: None })),
        ..ServeOptions::default()
    };
    let scanner = Arc::new(Scanner::new(Arc::new(RuleSet::load(&[])?))?);
    let daemon = Daemon::start(options, scanner, pepper.clone(), store.clone()).await?;
    let url = format!("http://{}/github/secret-scanning", daemon.local_addr());
    let client = reqwest::Client::new();

    let mut latencies = Vec::with_capacity(n);
    for i in 0..=n {
        let token = random_token()?;
        let key = NewKey { key_hash: pepper.key_hash(&token), redacted: redact(&token, &["xai-".to_owned()]) };
        store.add_keys("acme", "xai_api_key", &[key], KeyOrigin::Issued, "bench").await?;
        let body = serde_json::to_vec(&serde_json::json!([{"token": token, "type": "xai_api_key",
            "url": format!("https://github.com/acme/app/blob/main/{i}.env"), "source": "content"}]))?;
        let signature: Signature = signing.sign(&body);
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
        let sent = unix_now();
        let response = client
            .post(&url)
            .header("Github-Public-Key-Identifier", &key_id)
            .header("Github-Public-Key-Signature", signature)
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("alert {i}: HTTP {}", response.status()).into());
        }
        let arrived = sink.arrival(i + 1).await?;
        if i > 0 {
            // Alert 0 warms up (first key fetch, first SMTP connection).
            latencies.push(Duration::from_secs_f64((arrived - sent).max(0.0)));
        }
    }
    daemon.shutdown().await?;
    store.close().await;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "alert → email accepted by SMTP ({n} alerts, one at a time, SQLite, batch_window 0): median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0))
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One pass over `m` queued emails; returns the elapsed time.
async fn one_pass(m: usize, transport: TransportConfig, db_dir: &Path) -> Result<Duration, Error> {
    let store = Store::open(&format!("sqlite://{}", db_dir.join("throughput.db").display())).await?;
    let admins: Vec<String> = (0..m).map(|i| format!("admin{i}@example.com")).collect();
    store.create_team("big", &admins, &[], "bench").await?;
    let pepper = Pepper::from_bytes(b"benchmark-pepper-of-thirty-two-b".to_vec());
    let token = random_token()?;
    let key = NewKey { key_hash: pepper.key_hash(&token), redacted: redact(&token, &["xai-".to_owned()]) };
    store.add_keys("big", "xai_api_key", &[key], KeyOrigin::Issued, "bench").await?;
    let report = LeakReport::new(
        &Secret::new(token),
        &pepper,
        "xai_api_key",
        "github_partner:content",
        Some("https://github.com/o/r".into()),
        "bench",
    );
    store.report_leak(&report).await?;
    let notifier = Notifier::new(store.clone(), notify_options(transport))?;
    let start = Instant::now();
    let summary = notifier.run_once().await?;
    let elapsed = start.elapsed();
    store.close().await;
    if summary.sent != m {
        return Err(format!("sent {} of {m}", summary.sent).into());
    }
    Ok(elapsed)
}

async fn throughput(m: usize) -> Result<(), Error> {
    let sink = Sink::start()?;
    let smtp_dir = tempfile::tempdir()?;
    let smtp =
        one_pass(m, TransportConfig::Smtp { url: sink.url(), credentials: None, extra_roots: None }, smtp_dir.path())
            .await?;
    if sink.count() != m {
        return Err(format!("the SMTP server holds {} of {m} emails", sink.count()).into());
    }
    let files_dir = tempfile::tempdir()?;
    let mail: PathBuf = files_dir.path().join("mail");
    let files = one_pass(m, TransportConfig::Files { dir: mail }, files_dir.path()).await?;
    let rate = |d: Duration| m as f64 / d.as_secs_f64();
    println!(
        "outbox throughput ({m} emails, one pass, SQLite): SMTP {:.0} emails/s ({:.2} s); .eml files {:.0} emails/s ({:.2} s); SMTP/files = {:.2}",
        rate(smtp),
        smtp.as_secs_f64(),
        rate(files),
        files.as_secs_f64(),
        rate(smtp) / rate(files)
    );
    Ok(())
}
