//! `/console/` over a real socket: sign-in and sessions, every page and action, role
//! checks and CSRF rejection (`pages.rs`, `actions.rs`, `sessions.rs`), the API's roles
//! (`api_roles.rs`), and the end-to-end run in headless Chromium (`browser.rs`).

mod actions;
mod api_roles;
mod browser;
mod pages;
mod sessions;
pub mod webdriver;

use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use revokd::http::api::ApiOptions;
use revokd::http::api::auth::TokenSet;
use revokd::http::api::policy::RepoPolicy;

use crate::serve::{Backend, Harness, alert_body, token};

pub const ADMIN: &str = "boss-0123456789abcdef";
pub const AUDITOR: &str = "read-0123456789abcdef";
pub const SCANNER: &str = "ci-0123456789abcdef00";

/// The token file of the console tests: one token per role (`boss` has no role field,
/// the format before roles, and is an admin).
pub fn token_file() -> String {
    format!("boss:{ADMIN}\nread:auditor:{AUDITOR}\nci:scanner:{SCANNER}\n")
}

/// A daemon with the API and the console on, repositories allowed under `root`, and
/// `attempts` sign-ins per minute.
pub struct Console {
    pub h: Harness,
    pub root: tempfile::TempDir,
}

impl Console {
    pub async fn start(backend: Backend) -> Console {
        Console::start_with(backend, 50).await
    }

    pub async fn start_with(backend: Backend, attempts: u32) -> Console {
        let root = tempfile::tempdir().unwrap();
        let options = ApiOptions {
            tokens: TokenSet::parse(&token_file(), Path::new("tokens")).unwrap(),
            rate_per_minute: std::num::NonZeroU32::new(600).unwrap(),
            max_scan_bytes: 4096,
            policy: RepoPolicy::new(&[root.path().to_path_buf()], &["https".to_string()]).unwrap(),
        };
        let h = Harness::start_with(backend, |o| {
            o.api = Some(options);
            o.console.sign_in_per_minute = std::num::NonZeroU32::new(attempts).unwrap();
        })
        .await;
        Console { h, root }
    }

    /// A client without a session.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.h.base)
    }

    /// A client signed in with `token` (asserts the sign-in succeeds).
    pub async fn signed_in(&self, token: &str) -> Client {
        let mut client = self.anonymous();
        let response = client.sign_in(token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in with a valid token");
        assert_eq!(response.headers()[LOCATION], "/console/");
        client
    }

    /// Team `acme`'s key for `seed`, disabled by a signed partner alert; returns its id.
    pub async fn leaked_key(&self, seed: &str) -> i64 {
        let secret = token(seed);
        let id = self.h.add_key(&secret).await;
        let response = self.h.post_signed(&alert_body(&[&secret])).await;
        assert_eq!(response.status(), 200);
        id
    }
}

/// A cookie-keeping HTTP client that does not follow redirects.
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `name=value` pairs sent as `Cookie`.
    cookies: Vec<(String, String)>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Client { http, base: base.to_owned(), cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Keeps the cookies a response sets (an empty value or `Max-Age=0` deletes).
    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let response =
            self.http.get(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).send().await.unwrap();
        self.remember(&response);
        response
    }

    /// GETs `path` and returns its HTML, asserting 200, with minijinja's escaped `/`
    /// (`&#x2f;`) turned back into `/` so tests can look for URLs.
    pub async fn page(&mut self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap().replace("&#x2f;", "/")
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(urlencoded(form))
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    /// POSTs `form` plus the session's CSRF token (read from the overview page).
    pub async fn post_with_csrf(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = csrf_of(&self.page("/console/").await);
        let mut fields = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post(path, &fields).await
    }

    /// Fetches the sign-in form (its CSRF cookie) and submits `token`.
    pub async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let form = self.get("/console/sign-in").await.text().await.unwrap();
        let csrf = csrf_of(&form);
        self.post("/console/sign-in", &[("csrf", &csrf), ("token", token)]).await
    }
}

/// An `application/x-www-form-urlencoded` body.
fn urlencoded(form: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The value of the first `name="csrf"` hidden field in `html`.
pub fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("the page has a CSRF field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}
