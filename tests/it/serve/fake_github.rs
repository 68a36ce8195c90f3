//! A small fake of api.github.com on 127.0.0.1:0: the secret-scanning public keys
//! endpoint (whose answer the test can change or break) and the REST alert endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const KEYS_PATH: &str = "/meta/public_keys/secret_scanning";

#[derive(Default)]
pub struct FakeState {
    /// `(key_identifier, PEM, is_current)` served by the keys endpoint.
    pub keys: Vec<(String, String, bool)>,
    /// When set, the keys endpoint answers this status with no body.
    pub keys_down: Option<u16>,
    /// When set, the keys endpoint answers 200 with this body instead of the list.
    pub keys_body: Option<String>,
    pub keys_hits: usize,
    pub keys_authorization: Vec<Option<String>>,
    /// `(owner, repo, number)` → alert JSON served by the REST endpoint.
    pub alerts: HashMap<(String, String, u64), Value>,
    pub alert_authorization: Vec<Option<String>>,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route(KEYS_PATH, get(keys))
            .route("/repos/{owner}/{repo}/secret-scanning/alerts/{number}", get(alert))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGitHub { addr, state }
    }

    pub fn keys_url(&self) -> String {
        format!("http://{}{KEYS_PATH}", self.addr)
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_keys(&self, keys: Vec<(String, String, bool)>) {
        self.state.lock().unwrap().keys = keys;
    }

    pub fn set_keys_down(&self, status: Option<u16>) {
        self.state.lock().unwrap().keys_down = status;
    }

    /// Makes the keys endpoint answer 200 with `body` (garbage), or the list again.
    pub fn set_keys_body(&self, body: Option<&str>) {
        self.state.lock().unwrap().keys_body = body.map(str::to_owned);
    }

    pub fn keys_hits(&self) -> usize {
        self.state.lock().unwrap().keys_hits
    }

    pub fn add_alert(&self, owner: &str, repo: &str, number: u64, alert: Value) {
        self.state.lock().unwrap().alerts.insert((owner.into(), repo.into(), number), alert);
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn keys(State(state): State<Arc<Mutex<FakeState>>>, headers: HeaderMap) -> Result<Response, StatusCode> {
    let mut state = state.lock().unwrap();
    state.keys_hits += 1;
    state.keys_authorization.push(authorization(&headers));
    if let Some(status) = state.keys_down {
        return Err(StatusCode::from_u16(status).unwrap());
    }
    if let Some(body) = &state.keys_body {
        return Ok(([("content-type", "application/json")], body.clone()).into_response());
    }
    let keys: Vec<Value> = state
        .keys
        .iter()
        .map(|(id, pem, current)| json!({"key_identifier": id, "key": pem, "is_current": current}))
        .collect();
    Ok(Json(json!({ "public_keys": keys })).into_response())
}

async fn alert(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let mut state = state.lock().unwrap();
    state.alert_authorization.push(authorization(&headers));
    state.alerts.get(&(owner, repo, number)).cloned().map(Json).ok_or(StatusCode::NOT_FOUND)
}
