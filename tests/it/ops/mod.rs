//! Operations: the real `revokd serve` binary under a test-owned systemd notify socket
//! (readiness, SIGTERM drain, SIGHUP reload), its logs and metrics; the HTTP limits.

mod lifecycle;
mod limits;
mod observability;
mod packaging;
mod prometheus;
mod reload;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixDatagram};

use crate::serve::fake_github::FakeGitHub;
use crate::serve::{TestKey, alert_body};
use revokd::pepper::Pepper;
use revokd::secret::redact;
use revokd::store::{KeyOrigin, NewKey, Store};

/// The pepper the daemon reads (ASCII, so that a leak into a log line is visible).
pub const PEPPER: &[u8] = b"ops-test-pepper-do-not-log-0123456789";
pub const TEAM: &str = "acme";

/// Bound on every wait for the daemon (a debug build compiles ~100 rules at start).
const WAIT: Duration = Duration::from_secs(30);

/// A `revokd serve` process with its own directory, database, notify socket and fake
/// GitHub. Killed on drop if still running.
pub struct Served {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub github: FakeGitHub,
    pub key: TestKey,
    notify: UnixDatagram,
    /// Every notify message received so far, in order.
    pub notices: Vec<String>,
    stderr: Arc<Mutex<String>>,
    pub db_url: String,
}

/// Settings a test may change before the daemon starts.
#[derive(Default)]
pub struct Setup {
    /// Extra TOML appended to the generated configuration.
    pub extra_config: String,
    /// Files written under `patterns/` before start: (file name, contents).
    pub rule_files: Vec<(String, String)>,
    /// Files written in the daemon's working directory before start: (name, contents).
    pub files: Vec<(String, String)>,
    /// The fake GitHub answers 503 for the key list.
    pub keys_down: bool,
    /// `WATCHDOG_USEC` for the daemon (systemd's `WatchdogSec=`).
    pub watchdog_usec: Option<u64>,
    /// A database the test prepared (migrated, with its teams), shared by several
    /// daemons; `None`: a fresh SQLite file with team `acme`.
    pub database_url: Option<String>,
}

impl Served {
    /// Creates the directory, database (team `acme`), pepper and config, starts the
    /// daemon and waits for `READY=1`; the address comes from the `STATUS=` line.
    pub async fn start(setup: Setup) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let github = FakeGitHub::start().await;
        let key = TestKey::generate("ops key");
        github.set_keys(vec![(key.id.clone(), key.pem.clone(), true)]);
        if setup.keys_down {
            github.set_keys_down(Some(503));
        }
        let patterns = dir.path().join("patterns");
        std::fs::create_dir(&patterns).unwrap();
        for (name, text) in &setup.rule_files {
            std::fs::write(patterns.join(name), text).unwrap();
        }
        for (name, text) in &setup.files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let pepper = dir.path().join("revokd.pepper");
        std::fs::write(&pepper, PEPPER).unwrap();
        std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).unwrap();
        let db_url = match setup.database_url {
            Some(url) => url,
            None => {
                let url = format!("sqlite://{}", dir.path().join("revokd.db").display());
                let store = Store::open(&url).await.unwrap();
                store.create_team(TEAM, &["owner@example.com".to_owned()], &[], "test").await.unwrap();
                store.close().await;
                url
            }
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"10s\"\n\
             [database]\nurl = \"{db_url}\"\n\
             [github]\npublic_keys_url = \"{}\"\napi_url = \"{}\"\n\
             [keys]\npepper_file = \"{}\"\n\
             [patterns]\ndirs = [\"{}\"]\n\
             [log]\nlevel = \"debug\"\nformat = \"json\"\n{}",
            github.keys_url(),
            github.api_url(),
            pepper.display(),
            patterns.display(),
            setup.extra_config,
        );
        std::fs::write(dir.path().join("revokd.toml"), config).unwrap();
        let socket_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&socket_path).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_revokd"));
        match setup.watchdog_usec {
            Some(usec) => command.env("WATCHDOG_USEC", usec.to_string()),
            None => command.env_remove("WATCHDOG_USEC"),
        };
        let mut child = command
            .args(["--config", "revokd.toml", "serve"])
            .current_dir(dir.path())
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("RUST_LOG")
            .env_remove("REVOKD_CONFIG")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut served = Served {
            child,
            dir,
            addr: "127.0.0.1:1".parse().unwrap(),
            github,
            key,
            notify,
            notices: Vec::new(),
            stderr,
            db_url,
        };
        let ready = served.wait_notice("READY=1").await;
        let status = ready
            .lines()
            .find_map(|l| l.strip_prefix("STATUS=listening on "))
            .unwrap_or_else(|| panic!("READY=1 comes with the listening address: {ready:?}\n{}", served.stderr()));
        served.addr = status.split(';').next().unwrap().parse().unwrap();
        served
    }

    /// Waits for the next notify message that contains `needle`; returns it.
    pub async fn wait_notice(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let received = tokio::time::timeout(left, self.notify.recv(&mut buf)).await;
            let Ok(Ok(n)) = received else {
                panic!("no notify message with {needle:?} within {WAIT:?}; got {:?}\n{}", self.notices, self.stderr());
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.notices.push(message.clone());
            if message.lines().any(|l| l == needle) {
                return message;
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(Instant::now() < deadline, "revokd did not exit within {WAIT:?}\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process at once (SIGKILL: no drain, no cleanup) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Runs a `revokd` command with this daemon's configuration; asserts exit 0 and
    /// returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_revokd"))
            .arg("--config")
            .arg(self.dir.path().join("revokd.toml"))
            .args(args)
            .env_remove("REVOKD_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "revokd {args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.db_url).await.unwrap()
    }

    /// Stores `token` as an active key of `acme` with type `key_type`; returns its id.
    pub async fn add_key(&self, token: &str, key_type: &str) -> i64 {
        let store = self.store().await;
        let key = NewKey { key_hash: Pepper::from_bytes(PEPPER).key_hash(token), redacted: redact(token, &[]) };
        let id = store.add_keys(TEAM, key_type, &[key], KeyOrigin::Imported, "test").await.unwrap()[0].id;
        store.close().await;
        id
    }

    /// A signed partner alert for `tokens`, as raw HTTP/1.1 bytes: (head, body).
    pub fn partner_request(&self, tokens: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let body = alert_body(tokens);
        let head = format!(
            "POST /github/secret-scanning HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Github-Public-Key-Identifier: {}\r\nGithub-Public-Key-Signature: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            self.key.id,
            self.key.sign(&body),
            body.len()
        );
        (head.into_bytes(), body)
    }

    /// Sends a signed partner alert for `tokens`; returns the status and JSON body.
    pub async fn post_alert(&self, tokens: &[&str]) -> (u16, serde_json::Value) {
        let (head, body) = self.partner_request(tokens);
        let mut partial = PartialRequest::send(self.addr, &head, &body, body.len()).await;
        partial.finish().await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request written up to some point over a raw socket, to be finished later: it is
/// in flight (the server is reading its body) until [`PartialRequest::finish`].
pub struct PartialRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl PartialRequest {
    /// Connects, writes `head` and the first `sent` bytes of `body`.
    pub async fn send(addr: SocketAddr, head: &[u8], body: &[u8], sent: usize) -> PartialRequest {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head).await.unwrap();
        stream.write_all(&body[..sent]).await.unwrap();
        stream.flush().await.unwrap();
        PartialRequest { stream, rest: body[sent..].to_vec() }
    }

    /// The connection (to read a response the server sends before the body is complete).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Writes the rest of the body and reads the response (the server closes after it).
    pub async fn finish(&mut self) -> (u16, serde_json::Value) {
        self.stream.write_all(&self.rest).await.unwrap();
        read_response(&mut self.stream).await
    }
}

/// Reads one `Connection: close` response: (status, JSON body or Null).
pub async fn read_response(stream: &mut TcpStream) -> (u16, serde_json::Value) {
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.expect("response within the deadline").unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad response {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// The shipped-format token of the `xai_api_key` rule derived from `seed`.
pub fn xai(seed: &str) -> String {
    crate::serve::token(seed)
}

pub fn write_rules(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("patterns").join(name), text).unwrap();
}
