//! `revokd serve` over a real socket: partner alerts, repository webhooks, health and
//! metrics, against a fake GitHub on loopback.

mod api;
pub mod fake_github;
mod openapi;
mod partner;
mod scan_revoke;
mod webhook;

use std::sync::Arc;

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use revokd::daemon::{Daemon, ServeOptions};
use revokd::github::keys::KeyCacheOptions;
use revokd::github::signature::WebhookSecret;
use revokd::patterns::RuleSet;
use revokd::pepper::Pepper;
use revokd::scan::Scanner;
use revokd::secret::{Secret, redact, sha256_hex};
use revokd::store::{AuditEvent, AuditQuery, ChainStatus, KeyOrigin, KeyStatus, NewKey, Notice, NoticeKind, Store};

pub use crate::testdb::Backend;
use crate::testdb::TestDb;
use fake_github::FakeGitHub;

pub const PEPPER: &[u8] = b"test pepper";
pub const WEBHOOK_SECRET: &[u8] = b"It's a Secret to Everybody";
pub const API_TOKEN: &str = "ghp_test_api_token";

/// A P-256 signing key derived from `seed`, with a key id like GitHub's (64 hex).
pub struct TestKey {
    signing: SigningKey,
    pub id: String,
    pub pem: String,
}

impl TestKey {
    pub fn generate(seed: &str) -> TestKey {
        let scalar = hex::decode(sha256_hex(seed.as_bytes())).unwrap();
        let signing = SigningKey::from_slice(&scalar).unwrap();
        let pem = signing.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let id = sha256_hex(pem.as_bytes());
        TestKey { signing, id, pem }
    }

    /// `Github-Public-Key-Signature` for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.signing.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

/// A valid `xai_api_key` token (80 base62 characters) derived from `seed`.
pub fn token(seed: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("xai-");
    let mut block = 0;
    while out.len() < 84 {
        let digest = hex::decode(sha256_hex(format!("{seed}/{block}").as_bytes())).unwrap();
        out.extend(digest.iter().map(|b| BASE62[usize::from(*b) % 62] as char));
        block += 1;
    }
    out.truncate(84);
    out
}

pub fn key_hash(token: &str) -> String {
    Pepper::from_bytes(PEPPER).key_hash(token)
}

pub fn alert_body(tokens: &[&str]) -> Vec<u8> {
    let alerts: Vec<_> = tokens
        .iter()
        .map(|t| serde_json::json!({"token": t, "type": "xai_api_key", "url": "https://github.com/o/r/blob/x/a.py", "source": "Content"}))
        .collect();
    serde_json::to_vec(&alerts).unwrap()
}

pub struct Harness {
    pub daemon: Daemon,
    pub github: FakeGitHub,
    pub key: TestKey,
    pub store: Store,
    pub db: TestDb,
    pub client: reqwest::Client,
    pub base: String,
}

pub const TEAM: &str = "acme";
pub const OWNER: &str = "owner@example.com";

impl Harness {
    pub async fn start(backend: Backend) -> Harness {
        Harness::start_with(backend, |_| {}).await
    }

    /// A fresh database with team `acme` (admin `owner@example.com`), a fake GitHub
    /// serving one test key, and the daemon (options adjusted by `adjust`).
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut ServeOptions)) -> Harness {
        let github = FakeGitHub::start().await;
        let key = TestKey::generate("harness key");
        github.set_keys(vec![(key.id.clone(), key.pem.clone(), true)]);
        let mut options = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            keys: KeyCacheOptions::new(github.keys_url()),
            api_url: github.api_url(),
            api_token: Some(Secret::new(API_TOKEN)),
            webhook_secret: Some(WebhookSecret::new(WEBHOOK_SECRET)),
            ..ServeOptions::default()
        };
        adjust(&mut options);
        let db = TestDb::new(backend).await;
        let store = Store::open(&db.url).await.unwrap();
        store.create_team(TEAM, &[OWNER.to_owned()], &[], "test").await.unwrap();
        let scanner = Arc::new(Scanner::new(Arc::new(RuleSet::load(&[]).unwrap())).unwrap());
        let daemon = Daemon::start(options, scanner, Pepper::from_bytes(PEPPER), store.clone()).await.unwrap();
        let base = format!("http://{}", daemon.local_addr());
        Harness { daemon, github, key, store, db, client: reqwest::Client::new(), base }
    }

    /// Stops the daemon and closes the store (the test database is dropped with `db`).
    pub async fn finish(self) {
        self.daemon.shutdown().await.unwrap();
        self.store.close().await;
    }

    /// Stores `token` as an active key of team `acme`; returns its id.
    pub async fn add_key(&self, token: &str) -> i64 {
        let key = NewKey { key_hash: key_hash(token), redacted: redact(token, &["xai-".to_owned()]) };
        let stored = self.store.add_keys(TEAM, "xai_api_key", &[key], KeyOrigin::Imported, "test").await.unwrap();
        stored[0].id
    }

    pub async fn key_status(&self, id: i64) -> KeyStatus {
        self.store.key(id).await.unwrap().status
    }

    /// Owner notices about leaks (the notification worker turns them into emails).
    pub async fn leak_notices(&self) -> Vec<Notice> {
        self.store.notices(None).await.unwrap().into_iter().filter(|n| n.kind == NoticeKind::Leak).collect()
    }

    /// Audit events about key `id`, oldest first; asserts the whole chain is intact.
    pub async fn audit_of(&self, id: i64) -> Vec<AuditEvent> {
        let status = self.store.verify_audit().await.unwrap();
        assert!(matches!(status, ChainStatus::Intact { .. }), "{status:?}");
        self.store.audit_events(&AuditQuery { key_id: Some(id), ..AuditQuery::default() }).await.unwrap()
    }

    /// POSTs a partner alert with the given headers (each optional).
    pub async fn post_partner(&self, body: &[u8], key_id: Option<&str>, signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/github/secret-scanning", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(id) = key_id {
            request = request.header("Github-Public-Key-Identifier", id);
        }
        if let Some(signature) = signature {
            request = request.header("Github-Public-Key-Signature", signature);
        }
        request.send().await.unwrap()
    }

    /// POSTs a partner alert signed with the harness key.
    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post_partner(body, Some(&self.key.id.clone()), Some(&self.key.sign(body))).await
    }

    /// Sends a signed partner alert from a task of its own (for concurrent requests).
    pub fn spawn_signed(&self, body: &[u8]) -> tokio::task::JoinHandle<reqwest::Response> {
        let request = self
            .client
            .post(format!("{}/github/secret-scanning", self.base))
            .header("Github-Public-Key-Identifier", self.key.id.as_str())
            .header("Github-Public-Key-Signature", self.key.sign(body))
            .body(body.to_vec());
        tokio::spawn(async move { request.send().await.unwrap() })
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }
}

/// Asserts the JSON error shape and code, and returns the body.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    body
}
