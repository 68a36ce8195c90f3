//! `/v1/*` over a real socket: bearer tokens and the rate limit, `POST /v1/scan`,
//! `GET /v1/audit`, scan jobs (`/v1/scans`) and the repository restrictions.

use std::path::Path;
use std::time::Duration;

use revokd::http::api::ApiOptions;
use revokd::http::api::auth::TokenSet;
use revokd::http::api::policy::RepoPolicy;
use revokd::store::{CancelOutcome, KeyStatus, NewScanJob};
use serde_json::{Value, json};

use super::partner::on_both_backends;
use super::{Backend, Harness, expect_error, token};
use crate::scan_git::Repo;
use crate::testdb::{TestDb, raw_sql};

const SECOPS: &str = "secops-0123456789abcdef";
const LEASE: Duration = Duration::from_secs(60);
const OTHER: &str = "other-0123456789abcdef0";

/// API settings: two tokens (`secops`, `other`), `rate` requests a minute, local
/// repositories under `root`, URL schemes `schemes`.
fn api_options(root: &Path, rate: u32, schemes: &[&str]) -> ApiOptions {
    let tokens = TokenSet::parse(&format!("secops:{SECOPS}\nother:{OTHER}\n"), Path::new("tokens")).unwrap();
    let schemes: Vec<String> = schemes.iter().map(|s| s.to_string()).collect();
    ApiOptions {
        tokens,
        rate_per_minute: std::num::NonZeroU32::new(rate).unwrap(),
        max_scan_bytes: 4096,
        policy: RepoPolicy::new(&[root.to_path_buf()], &schemes).unwrap(),
    }
}

struct Api {
    h: Harness,
    root: tempfile::TempDir,
}

impl Api {
    async fn start(backend: Backend, rate: u32, schemes: &[&str]) -> Api {
        let root = tempfile::tempdir().unwrap();
        let options = api_options(root.path(), rate, schemes);
        let h = Harness::start_with(backend, |o| o.api = Some(options)).await;
        Api { h, root }
    }

    fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.h.client.request(method, format!("{}{path}", self.h.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, Some(SECOPS)).send().await.unwrap()
    }

    async fn post_scan(&self, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/v1/scans", Some(SECOPS)).json(&body).send().await.unwrap()
    }

    async fn queue(&self, body: Value) -> String {
        let response = self.post_scan(body).await;
        assert_eq!(response.status().as_u16(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "queued");
        let id = body["id"].as_str().unwrap().to_string();
        assert_eq!(location, format!("/v1/scans/{id}"));
        id
    }

    /// Polls the job until it is no longer queued or running (at most ~60 s).
    async fn wait(&self, id: &str) -> Value {
        for _ in 0..600 {
            let job: Value = self.get(&format!("/v1/scans/{id}")).await.json().await.unwrap();
            if job["status"] != "queued" && job["status"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("scan job {id} did not end within 60 s");
    }

    /// A repository under the allowed root: a secret committed, then deleted.
    fn repo_with_deleted_secret(&self, secret: &str) -> (std::path::PathBuf, String) {
        let dir = self.root.path().join("repo");
        let mut repo = Repo::new();
        repo.write("README", "hello\n");
        repo.commit("first");
        repo.write("config.py", &format!("KEY = \"{secret}\"\n"));
        let introduced = repo.commit("add key");
        std::fs::remove_file(repo.path().join("config.py")).unwrap();
        repo.commit("remove key");
        crate::scan_git::git_in(self.root.path(), &["clone", "--quiet", &repo.path().display().to_string(), "repo"], 0);
        (dir, introduced)
    }
}

async fn auth_and_rate_limit(backend: Backend) {
    let api = Api::start(backend, 3, &["https"]).await;
    let get = |token: Option<&'static str>| api.request(reqwest::Method::GET, "/v1/scans", token).send();
    let missing = get(None).await.unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    expect_error(missing, 401, "missing_token").await;
    expect_error(get(Some("secops-0123456789abcdeX")).await.unwrap(), 401, "bad_token").await;
    let basic = api.request(reqwest::Method::GET, "/v1/audit", None).header("authorization", format!("Basic {SECOPS}"));
    expect_error(basic.send().await.unwrap(), 401, "missing_token").await;
    let scan = api.request(reqwest::Method::POST, "/v1/scan", None).body("x");
    expect_error(scan.send().await.unwrap(), 401, "missing_token").await;
    // Refused requests use no allowance: secops still has 3.
    for _ in 0..3 {
        assert_eq!(get(Some(SECOPS)).await.unwrap().status().as_u16(), 200);
    }
    let limited = get(Some(SECOPS)).await.unwrap();
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_error(limited, 429, "rate_limited").await;
    assert_eq!(get(Some(OTHER)).await.unwrap().status().as_u16(), 200, "the limit is per token");
    api.h.finish().await;

    let off = Harness::start(backend).await;
    expect_error(off.get("/v1/scans").await, 404, "api_disabled").await;
    off.finish().await;
}
on_both_backends!(auth_and_rate_limit);

async fn sync_scan_and_audit(backend: Backend) {
    let api = Api::start(backend, 600, &["https"]).await;
    let secret = token("sync scan");
    let scan = |body: String| api.request(reqwest::Method::POST, "/v1/scan", Some(SECOPS)).body(body).send();
    let response = scan(format!("a = 1\nKEY = \"{secret}\"\n")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret never leaves: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let findings = body["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{body}");
    assert_eq!((findings[0]["rule"].as_str(), findings[0]["line"].as_u64()), (Some("xai_api_key"), Some(2)));
    assert!(findings[0]["redacted"].as_str().unwrap().starts_with("xai-"));
    let clean: Value = scan("nothing here\n".into()).await.unwrap().json().await.unwrap();
    assert_eq!(clean["findings"], json!([]));
    expect_error(scan("x".repeat(4097)).await.unwrap(), 413, "payload_too_large").await;
    // Counted in /metrics (the recorder is shared by every test in this process: at least).
    let metrics = api.h.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    assert!(value("revokd_scan_findings_total{kind=\"text\"}") >= 1.0, "{metrics}");
    assert!(value("revokd_scan_bytes_total{kind=\"text\"}") >= 60.0, "{metrics}");

    let events: Value = api.get("/v1/audit?event=team.*&actor=test").await.json().await.unwrap();
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "team.created");
    let none: Value = api.get("/v1/audit?since=2099-01-01T00:00:00Z").await.json().await.unwrap();
    assert_eq!(none["events"], json!([]));
    let by_team: Value = api.get("/v1/audit?team=acme&q=ACME&limit=5").await.json().await.unwrap();
    assert!(!by_team["events"].as_array().unwrap().is_empty(), "{by_team}");
    expect_error(api.get("/v1/audit?since=yesterday").await, 400, "bad_query").await;
    expect_error(api.get("/v1/audit?key=abc").await, 400, "bad_query").await;
    expect_error(api.get("/v1/audit?color=red").await, 400, "bad_query").await;
    expect_error(api.get("/v1/audit?limit=0").await, 400, "bad_query").await;
    expect_error(api.get("/v1/audit?team=nobody").await, 400, "unknown_team").await;
    api.h.finish().await;
}
on_both_backends!(sync_scan_and_audit);

async fn scan_job_lifecycle(backend: Backend) {
    let api = Api::start(backend, 600, &["https", "file"]).await;
    let secret = token("job secret");
    let (dir, introduced) = api.repo_with_deleted_secret(&secret);
    let id = api.queue(json!({ "repo": dir.display().to_string() })).await;
    let response = api.get(&format!("/v1/scans/{id}")).await;
    assert_eq!(response.status().as_u16(), 200);
    let job = api.wait(&id).await;
    let text = job.to_string();
    assert!(!text.contains(&secret), "{text}");
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["requested_by"], "secops");
    assert_eq!(job["repo"], std::fs::canonicalize(&dir).unwrap().display().to_string());
    let findings = job["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{job}");
    assert_eq!((findings[0]["path"].as_str(), findings[0]["commit"].as_str()), (Some("config.py"), Some(&*introduced)));
    assert_eq!(job["stats"]["history"]["commits"], 3, "{job}");
    assert_eq!(job["findings_count"], 1);

    // The same repository through a file:// URL (cloned), limited to one ref.
    let url = format!("file://{}", dir.display());
    let second = api.queue(json!({ "repo": url, "ref": "main", "history": true })).await;
    let job = api.wait(&second).await;
    assert_eq!((job["status"].as_str(), job["findings_count"].as_u64()), (Some("done"), Some(1)), "{job}");
    // An unknown ref fails the job with a message.
    let failed = api.queue(json!({ "repo": dir.display().to_string(), "ref": "nope" })).await;
    let job = api.wait(&failed).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("nope"), "{job}");

    // Newest first, in pages.
    let page: Value = api.get("/v1/scans?limit=2").await.json().await.unwrap();
    let ids: Vec<&str> = page["scans"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [failed.as_str(), second.as_str()]);
    assert!(page["scans"][0].get("findings").is_none());
    assert_eq!(page["next"], second.as_str());
    let rest: Value = api.get(&format!("/v1/scans?limit=2&before={second}")).await.json().await.unwrap();
    assert_eq!(rest["scans"].as_array().unwrap().len(), 1);
    assert_eq!((rest["scans"][0]["id"].as_str(), &rest["next"]), (Some(id.as_str()), &Value::Null));
    expect_error(api.get("/v1/scans?limit=500").await, 400, "bad_query").await;

    // Cancel: a job another replica is running is cancelled; ended and unknown ones are not.
    raw_sql(
        &api.h.store,
        "INSERT INTO scan_jobs (id, repo, history, revoke, requested_by, status, created_at, started_at) \
         VALUES ('0123456789abcdef0123456789abcdef', '/elsewhere', TRUE, FALSE, 'other', 'running', 1, 2)",
    )
    .await;
    let delete = |id: String| api.request(reqwest::Method::DELETE, &format!("/v1/scans/{id}"), Some(SECOPS)).send();
    let cancelled: Value = delete("0123456789abcdef0123456789abcdef".into()).await.unwrap().json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let job: Value = api.get("/v1/scans/0123456789abcdef0123456789abcdef").await.json().await.unwrap();
    assert_eq!(job["status"], "cancelled");
    expect_error(delete(id.clone()).await.unwrap(), 409, "already_ended").await;
    expect_error(delete("missing".into()).await.unwrap(), 404, "scan_not_found").await;
    expect_error(api.get("/v1/scans/missing").await, 404, "scan_not_found").await;
    api.h.finish().await;
}
on_both_backends!(scan_job_lifecycle);

async fn repository_restrictions(backend: Backend) {
    let api = Api::start(backend, 600, &["https", "file"]).await;
    let inside = api.root.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), api.root.path().join("link")).unwrap();
    let refused = [
        (json!({ "repo": outside.path().display().to_string() }), 403, "path_not_allowed"),
        (json!({ "repo": "/etc" }), 403, "path_not_allowed"),
        (json!({ "repo": inside.join("missing").display().to_string() }), 403, "path_not_allowed"),
        (json!({ "repo": format!("{}/../..", inside.display()) }), 403, "path_not_allowed"),
        (json!({ "repo": api.root.path().join("link").display().to_string() }), 403, "path_not_allowed"),
        (json!({ "repo": format!("file://{}", outside.path().display()) }), 403, "path_not_allowed"),
        (json!({ "repo": "relative/repo" }), 400, "invalid_repo"),
        (json!({ "repo": "-uhttps://x" }), 400, "invalid_repo"),
        (json!({ "repo": "" }), 400, "invalid_repo"),
        (json!({ "repo": "http://example.com/o/r.git" }), 403, "scheme_not_allowed"),
        (json!({ "repo": "ssh://git@example.com/o/r.git" }), 403, "scheme_not_allowed"),
        (json!({ "repo": "git@example.com:o/r.git" }), 403, "scheme_not_allowed"),
        (json!({ "repo": "https://127.0.0.1/o/r.git" }), 403, "host_not_allowed"),
        (json!({ "repo": "https://user:pw@[::1]:8443/o/r.git" }), 403, "host_not_allowed"),
        (json!({ "repo": "https://169.254.169.254/latest" }), 403, "host_not_allowed"),
        (json!({ "repo": "https://localhost/o/r.git" }), 403, "host_not_allowed"),
        (json!({ "repo": inside.display().to_string(), "ref": "--upload-pack=x" }), 400, "invalid_ref"),
        (json!({ "repo": inside.display().to_string(), "extra": 1 }), 400, "malformed_body"),
        (json!({ "ref": "main" }), 400, "malformed_body"),
    ];
    for (body, status, code) in refused {
        let response = api.post_scan(body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error = expect_error(response, status, code).await;
        assert!(!error.to_string().contains("pw"), "{error}");
    }
    let not_json = api.request(reqwest::Method::POST, "/v1/scans", Some(SECOPS)).body("{").send().await.unwrap();
    expect_error(not_json, 400, "malformed_body").await;
    let listed: Value = api.get("/v1/scans").await.json().await.unwrap();
    assert_eq!(listed["scans"], json!([]), "nothing refused was queued");
    api.h.finish().await;
}
on_both_backends!(repository_restrictions);

async fn scan_job_revokes_leaked_keys(backend: Backend) {
    let api = Api::start(backend, 600, &["https"]).await;
    let secret = token("api revoke");
    let key = api.h.add_key(&secret).await;
    let (dir, _) = api.repo_with_deleted_secret(&secret);
    let id = api.queue(json!({ "repo": dir.display().to_string(), "revoke": true })).await;
    let job = api.wait(&id).await;
    assert_eq!(job["stats"]["revoke"], json!({ "disabled_now": 1 }), "{job}");
    assert_eq!(api.h.key_status(key).await, KeyStatus::Disabled);
    let events = api.h.audit_of(key).await;
    assert!(events.iter().any(|e| e.actor == "api:secops" && e.event == "leak.reported"), "{events:?}");
    // Without `revoke`, nothing is reported again.
    let id = api.queue(json!({ "repo": dir.display().to_string() })).await;
    let job = api.wait(&id).await;
    assert!(job["stats"].get("revoke").is_none(), "{job}");
    api.h.finish().await;
}
on_both_backends!(scan_job_revokes_leaked_keys);

/// The queue itself: claims in order, once; cancel; finishing a cancelled job stores
/// nothing; purge.
async fn scan_job_queue(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let new = |repo: &str| NewScanJob {
        repo: repo.into(),
        git_ref: None,
        history: true,
        revoke: false,
        requested_by: "secops".into(),
    };
    let first = store.create_scan_job(&new("/a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = store.create_scan_job(&new("/b")).await.unwrap();
    let third = store.create_scan_job(&new("/c")).await.unwrap();
    assert_eq!(first.status, "queued");
    let claimed = store.claim_scan_job(LEASE).await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.status.as_str()), (first.id.as_str(), "running"));
    assert!(claimed.started_at.is_some());
    assert_eq!(store.cancel_scan_job(&second.id).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(store.cancel_scan_job(&claimed.id).await.unwrap(), CancelOutcome::Cancelled);
    assert!(!store.renew_scan_job(&claimed.id, claimed.attempts, LEASE).await.unwrap(), "cancelled: the worker stops");
    assert!(!store.finish_scan_job(&claimed.id, 1, "[]", "{}").await.unwrap(), "cancelled: results discarded");
    assert_eq!(store.scan_job(&claimed.id).await.unwrap().unwrap().findings, None);
    let next = store.claim_scan_job(LEASE).await.unwrap().unwrap();
    assert_eq!(next.id, third.id, "cancelled jobs are not claimed");
    assert!(store.claim_scan_job(LEASE).await.unwrap().is_none());
    assert!(store.finish_scan_job(&next.id, 1, "[]", "{\"files\":0}").await.unwrap());
    assert_eq!(store.cancel_scan_job(&next.id).await.unwrap(), CancelOutcome::AlreadyEnded("done".into()));
    assert_eq!(store.cancel_scan_job("nope").await.unwrap(), CancelOutcome::NotFound);
    assert_eq!(store.purge_scan_jobs(1).await.unwrap(), 0);
    raw_sql(&store, "UPDATE scan_jobs SET created_at = 0").await;
    assert_eq!(store.purge_scan_jobs(1).await.unwrap(), 3);
    store.close().await;
}
on_both_backends!(scan_job_queue);

/// Concurrent claims (several connections) hand out every job exactly once.
async fn concurrent_claims_take_each_job_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for n in 0..20 {
        let job = NewScanJob {
            repo: format!("/r{n}"),
            git_ref: None,
            history: true,
            revoke: false,
            requested_by: "t".into(),
        };
        store.create_scan_job(&job).await.unwrap();
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..40 {
                    match store.claim_scan_job(LEASE).await.unwrap() {
                        Some(job) => mine.push(job.id),
                        None => break,
                    }
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!((count, all.len()), (20, 20));
    store.close().await;
}
on_both_backends!(concurrent_claims_take_each_job_once);

/// `"history": false` scans only the tree at `ref` (default HEAD); jobs remember clean
/// blobs like `revokd scan --git` and skip them on the next scan of the repository.
async fn tip_only_scans_and_remembered_blobs(backend: Backend) {
    let api = Api::start(backend, 600, &["https"]).await;
    let (old, new) = (token("tip old"), token("tip new"));
    let mut repo = Repo::new();
    repo.write("README", "hello\n");
    repo.write("a.py", &format!("KEY = \"{old}\"\n"));
    let first = repo.commit("old key");
    std::fs::remove_file(repo.path().join("a.py")).unwrap();
    repo.write("b.py", &format!("KEY = \"{new}\"\n"));
    let head = repo.commit("rotate key");
    crate::scan_git::git_in(api.root.path(), &["clone", "--quiet", &repo.path().display().to_string(), "repo"], 0);
    let dir = api.root.path().join("repo").display().to_string();
    let places = |job: &Value| -> Vec<(String, String)> {
        let findings = job["findings"].as_array().unwrap();
        findings.iter().map(|f| (f["path"].as_str().unwrap().into(), f["commit"].as_str().unwrap().into())).collect()
    };

    let tip = api.wait(&api.queue(json!({ "repo": dir, "history": false })).await).await;
    assert_eq!(tip["status"], "done", "{tip}");
    assert_eq!(tip["history"], false);
    assert_eq!(places(&tip), [("b.py".to_string(), head.clone())], "only what HEAD holds: {tip}");
    assert_eq!(tip["stats"]["history"]["commits"], 1, "{tip}");
    let at_first = api.wait(&api.queue(json!({ "repo": dir, "history": false, "ref": first })).await).await;
    assert_eq!(places(&at_first), [("a.py".to_string(), first.clone())], "{at_first}");

    // The full history: both keys. README was remembered as clean by the scans above.
    let full = api.wait(&api.queue(json!({ "repo": dir })).await).await;
    assert_eq!(places(&full), [("a.py".to_string(), first.clone()), ("b.py".to_string(), head.clone())], "{full}");
    let stats = &full["stats"]["history"];
    assert_eq!((stats["blobs"].as_u64(), stats["blobs_remembered"].as_u64()), (Some(3), Some(1)), "{full}");
    assert_eq!(full["stats"]["files"], 2, "only the two new blobs were read: {full}");
    let again = api.wait(&api.queue(json!({ "repo": dir })).await).await;
    assert_eq!(places(&again), places(&full), "the same findings on a rescan");
    assert_eq!(again["stats"]["history"]["blobs_remembered"], 1, "{again}");
    api.h.finish().await;
}
on_both_backends!(tip_only_scans_and_remembered_blobs);

/// A job left `running` by a replica that died (its lease ran out) is run again by a
/// live worker and ends `done`, its attempts counted.
async fn an_abandoned_job_is_run_again(backend: Backend) {
    let api = Api::start(backend, 600, &["https"]).await;
    let secret = token("abandoned");
    let (dir, introduced) = api.repo_with_deleted_secret(&secret);
    let sql = format!(
        "INSERT INTO scan_jobs (id, repo, history, revoke, requested_by, status, created_at, started_at, \
         claimed_until, attempts) VALUES ('00000000000000000000000000000abc', '{}', TRUE, FALSE, 'secops', \
         'running', 1, 2, 3, 1)",
        std::fs::canonicalize(&dir).unwrap().display()
    );
    raw_sql(&api.h.store, &sql).await;
    let job = api.wait("00000000000000000000000000000abc").await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("done"), Some(2)), "{job}");
    assert_eq!(job["findings"][0]["commit"], introduced.as_str(), "{job}");
    api.h.finish().await;
}
on_both_backends!(an_abandoned_job_is_run_again);

/// Leases: renewed while held; an expired lease lets another worker take the job over,
/// and fences the first (its renewals and results no longer count); a job whose lease
/// expired on its last attempt is failed.
async fn scan_job_leases(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let job = NewScanJob { repo: "/r".into(), git_ref: None, history: true, revoke: false, requested_by: "t".into() };
    let queued = store.create_scan_job(&job).await.unwrap();
    assert_eq!((queued.attempts, queued.claimed_until), (0, None));
    let first = store.claim_scan_job(LEASE).await.unwrap().unwrap();
    assert_eq!(first.attempts, 1);
    assert!(first.claimed_until.unwrap() > first.started_at.unwrap() + 59_000, "{first:?}");
    assert!(store.claim_scan_job(LEASE).await.unwrap().is_none(), "a held lease is not claimable");
    assert!(store.renew_scan_job(&first.id, 1, LEASE).await.unwrap());
    assert_eq!(store.fail_abandoned_scan_jobs().await.unwrap(), 0);

    // The first worker's replica dies: its lease runs out.
    raw_sql(&store, "UPDATE scan_jobs SET claimed_until = 1").await;
    let second = store.claim_scan_job(LEASE).await.unwrap().unwrap();
    assert_eq!((second.id.as_str(), second.attempts), (first.id.as_str(), 2));
    assert!(!store.renew_scan_job(&first.id, 1, LEASE).await.unwrap(), "the first worker is fenced off");
    assert!(!store.finish_scan_job(&first.id, 1, "[]", "{}").await.unwrap());
    assert!(store.renew_scan_job(&first.id, 2, LEASE).await.unwrap());

    // Third attempt dies too: out of attempts, the job is failed, not claimed again.
    raw_sql(&store, "UPDATE scan_jobs SET claimed_until = 1").await;
    assert_eq!(store.claim_scan_job(LEASE).await.unwrap().unwrap().attempts, 3);
    raw_sql(&store, "UPDATE scan_jobs SET claimed_until = 1").await;
    assert!(store.claim_scan_job(LEASE).await.unwrap().is_none());
    assert_eq!(store.fail_abandoned_scan_jobs().await.unwrap(), 1);
    let failed = store.scan_job(&first.id).await.unwrap().unwrap();
    assert_eq!(failed.status, "failed");
    assert!(failed.error.as_deref().unwrap().contains("3 attempts"), "{failed:?}");
    assert!(failed.finished_at.is_some() && failed.claimed_until.is_none());
    store.close().await;
}
on_both_backends!(scan_job_leases);

/// `DELETE` stops a running scan: the worker notices at its next lease renewal, stops
/// between commits or blobs, stores nothing (not even clean blobs to remember) and
/// moves on to the next job.
async fn cancel_stops_a_running_scan(backend: Backend) {
    let api = Api::start(backend, 600, &["https"]).await;
    let big = api.root.path().join("big");
    std::fs::create_dir(&big).unwrap();
    crate::scan_git::git_in(&big, &["init", "--quiet", "--initial-branch=main"], 0);
    // 40,000 commits, each a new blob: many seconds of work for a debug build (about
    // 10 s for 20,000 on the shared 2-core machine), against a stop within a second.
    let mut stream = String::new();
    for n in 0..40_000u32 {
        let content = format!("line {n}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter A <a@example.com> {} +0000\ndata 1\nc\nM 644 inline f{}.txt\ndata {}\n{content}\n",
            1_700_000_000 + n,
            n % 100,
            content.len()
        ));
    }
    let mut import = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&big)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut import.stdin.take().unwrap(), stream.as_bytes()).unwrap();
    assert!(import.wait().unwrap().success());

    let id = api.queue(json!({ "repo": big.display().to_string() })).await;
    let mut running = false;
    for _ in 0..300 {
        let job: Value = api.get(&format!("/v1/scans/{id}")).await.json().await.unwrap();
        running = job["status"] == "running";
        if running || job["status"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running, "the job started");
    let deleted = api.request(reqwest::Method::DELETE, &format!("/v1/scans/{id}"), Some(SECOPS)).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    // The worker is free again: a small job queued after it runs to the end.
    let (small, _) = api.repo_with_deleted_secret(&token("after cancel"));
    let next = api.wait(&api.queue(json!({ "repo": small.display().to_string() })).await).await;
    assert_eq!(next["status"], "done", "{next}");
    let job: Value = api.get(&format!("/v1/scans/{id}")).await.json().await.unwrap();
    assert_eq!((job["status"].as_str(), &job["stats"]), (Some("cancelled"), &Value::Null), "{job}");
    let rules = revokd::patterns::RuleSet::load(&[]).unwrap();
    let scan_key = revokd::git::scan_key(rules.version(), &Default::default());
    let key = std::fs::canonicalize(big.join(".git")).unwrap().display().to_string();
    let remembered = api.h.store.remembered_blobs(&key, &scan_key).await.unwrap();
    assert!(remembered.is_empty(), "the stopped scan remembered {} blobs: it ran to the end", remembered.len());
    let small_key = std::fs::canonicalize(small.join(".git")).unwrap().display().to_string();
    assert!(!api.h.store.remembered_blobs(&small_key, &scan_key).await.unwrap().is_empty(), "a finished job remembers");
    api.h.finish().await;
}
on_both_backends!(cancel_stops_a_running_scan);
