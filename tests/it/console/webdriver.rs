//! A small W3C WebDriver client over reqwest, driving Debian's `chromedriver` and
//! headless `chromium` (never a downloaded browser). Only what the console's browser
//! test needs: navigate, find, type, click, read the page, run a script, screenshots.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a WebDriver command or a wait may take (generous: CI machines are loaded).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a read (a GET command) is tried when chromedriver answers `timeout`: a
/// renderer starved of CPU makes it give up on a screenshot or the page source.
const READ_ATTEMPTS: usize = 3;

/// A chromedriver process on a loopback port and one headless Chromium session.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile directory.
    pub async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver (see .ci/run)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(COMMAND_TIMEOUT).build().unwrap();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let mut browser = Browser { driver, http, session: String::new(), base, _profile: profile };
        let created = browser.command(reqwest::Method::POST, "/session", Some(capabilities)).await;
        browser.session = created["sessionId"].as_str().expect("a WebDriver session id").to_owned();
        browser
    }

    /// Sends one command; returns its `value`, panicking with WebDriver's error. A read
    /// (GET) that chromedriver answers with `timeout` is tried again, at most
    /// [`READ_ATTEMPTS`] times in all.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let path = if path.starts_with("/session") && !self.session.is_empty() {
            format!("/session/{}{}", self.session, &path["/session".len()..])
        } else {
            path.to_owned()
        };
        let mut attempt = 1;
        loop {
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
            if let Some(body) = &body {
                request = request.json(body);
            } else if method == reqwest::Method::POST {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return answer["value"].clone();
            }
            let retry = method == reqwest::Method::GET && answer["value"]["error"] == "timeout";
            assert!(
                retry && attempt < READ_ATTEMPTS,
                "WebDriver {method} {path} (attempt {attempt}): {status} {answer}"
            );
            attempt += 1;
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/session/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/session/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/session/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The rendered text of the page body (`innerText`; read in one script call, so a
    /// navigation in progress yields an empty or old page, never an error).
    pub async fn text(&self) -> String {
        let text = self.execute("return document.body ? document.body.innerText : ''").await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching a CSS selector (panics if there is none).
    pub async fn find(&self, css: &str) -> String {
        let found = self.command(
            reqwest::Method::POST,
            "/session/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found.await[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
    }

    /// How many elements match a CSS selector.
    pub async fn count(&self, css: &str) -> usize {
        let found = self
            .command(reqwest::Method::POST, "/session/elements", Some(json!({ "using": "css selector", "value": css })))
            .await;
        found.as_array().map_or(0, Vec::len)
    }

    /// Clears the field matching `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/session/element/{element}/clear"), None).await;
        self.command(
            reqwest::Method::POST,
            &format!("/session/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Clicks the element matching `css` (a link or a form's button) and waits, bounded,
    /// until the page it leads to has loaded: without that wait the next read could
    /// still see the old page, which may already hold the text a test waits for.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.execute("window.revokdOldPage = true").await;
        self.command(reqwest::Method::POST, &format!("/session/element/{element}/click"), None).await;
        let started = Instant::now();
        loop {
            let loaded = self.execute("return document.readyState === 'complete' && !window.revokdOldPage").await;
            if loaded == Value::Bool(true) {
                return;
            }
            assert!(started.elapsed() < COMMAND_TIMEOUT, "clicking {css} loaded no new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` in the page (for what a hostile page could do: forms without the
    /// console's UI).
    pub async fn execute(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/session/execute/sync", Some(json!({ "script": script, "args": [] })))
            .await
    }

    /// Waits (bounded) until the page's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(started.elapsed() < COMMAND_TIMEOUT, "page never showed {needle:?}:\n{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn resize(&self, width: u32, height: u32) {
        let rect = json!({ "width": width, "height": height });
        self.command(reqwest::Method::POST, "/session/window/rect", Some(rect)).await;
    }

    /// Saves a PNG screenshot of the whole page (the window grown to the page's
    /// height, at most 4000 px, then restored) as `dir/name.png`; returns its path.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let rect = self.command(reqwest::Method::GET, "/session/window/rect", None).await;
        let (width, height) = (rect["width"].as_u64().unwrap_or(1280), rect["height"].as_u64().unwrap_or(900));
        let sizes = self.execute("return [document.documentElement.scrollHeight, window.innerHeight]").await;
        let (page, inner) = (sizes[0].as_u64().unwrap_or(height), sizes[1].as_u64().unwrap_or(height));
        // The window's height includes the browser's own bars: grow it by what is missing.
        let tall = (height + page.saturating_sub(inner)).min(4000);
        self.resize(width as u32, tall as u32).await;
        let encoded = self.command(reqwest::Method::GET, "/session/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap_or_default()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        self.resize(width as u32, height as u32).await;
        path
    }

    /// Ends the session and stops chromedriver.
    pub async fn quit(mut self) {
        self.command(reqwest::Method::DELETE, "/session", None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failed assertion: do not leave chromedriver (and its browser) behind.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where the browser test saves screenshots: `<target dir>/console-screenshots/`
/// (kept by CI as an artifact).
pub fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("console-screenshots")
}
