//! `revokd serve`: builds the shared state, binds the listener, runs the HTTP server and
//! the key refresher, and drains gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::github::api::{DEFAULT_API_URL, GitHubApi};
use crate::github::keys::{DEFAULT_PUBLIC_KEYS_URL, KeyCacheOptions, PublicKeys};
use crate::github::signature::WebhookSecret;
use crate::http::api::worker::spawn_worker;
use crate::http::api::{ApiOptions, ApiSetupError, ApiState};
use crate::http::{self, AppState};
use crate::pepper::Pepper;
use crate::revoke::Revoker;
use crate::scan::Scanner;
use crate::secret::Secret;
use crate::store::Store;

/// The daemon's settings (from `[server]` and `[github]` in the configuration).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `server.listen`. Default `127.0.0.1:8080`; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// `server.max_body_bytes`. Default [`http::DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// `github.public_keys_url`, `github.api_token_file` and the refresh policy.
    pub keys: KeyCacheOptions,
    /// `github.api_url`. Default `https://api.github.com`.
    pub api_url: String,
    /// `github.api_token_file` contents (REST calls and key fetches).
    pub api_token: Option<Secret>,
    /// `github.webhook_secret_file` contents; `None` disables `/github/webhook`.
    pub webhook_secret: Option<WebhookSecret>,
    /// `[api]`; `None` (no `api.tokens_file`) turns `/v1/*` and the scan worker off.
    pub api: Option<ApiOptions>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: http::DEFAULT_MAX_BODY_BYTES,
            keys: KeyCacheOptions::new(DEFAULT_PUBLIC_KEYS_URL),
            api_url: DEFAULT_API_URL.to_owned(),
            api_token: None,
            webhook_secret: None,
            api: None,
        }
    }
}

impl ServeOptions {
    /// The daemon's settings from the configuration; reads the secret files it names
    /// (trailing newline stripped).
    pub fn from_config(config: &Config) -> Result<ServeOptions, DaemonError> {
        let github = &config.github;
        let api_token = github.api_token_file.as_deref().map(read_secret).transpose()?;
        let webhook_secret = github
            .webhook_secret_file
            .as_deref()
            .map(|path| read_secret(path).map(|s| WebhookSecret::new(s.expose().as_bytes())))
            .transpose()?;
        Ok(ServeOptions {
            listen: config.server.listen,
            max_body_bytes: usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX),
            keys: KeyCacheOptions::new(github.public_keys_url.clone()),
            api_url: github.api_url.clone(),
            api_token,
            webhook_secret,
            api: ApiOptions::from_config(&config.api, config.retention.days)?,
        })
    }
}

fn read_secret(path: &Path) -> Result<Secret, DaemonError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DaemonError::SecretFile { path: path.to_owned(), source })?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("reading {path}: {source}")]
    SecretFile { path: PathBuf, source: std::io::Error },
    #[error("building the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    Api(#[from] ApiSetupError),
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running daemon: its address and the handle that stops it.
pub struct Daemon {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    refresher: JoinHandle<()>,
    scan_worker: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Binds `options.listen`, starts the key refresher (first fetch immediately) and
    /// serves until [`Daemon::shutdown`]. Returns once the socket accepts connections.
    pub async fn start(
        options: ServeOptions,
        scanner: Arc<Scanner>,
        pepper: Pepper,
        store: Store,
    ) -> Result<Daemon, DaemonError> {
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| DaemonError::Bind { addr: options.listen, source })?;
        let addr = listener.local_addr().map_err(|source| DaemonError::Bind { addr: options.listen, source })?;
        let client = crate::github::http_client()?;
        let mut key_options = options.keys.clone();
        if key_options.token.is_none() {
            key_options.token = options.api_token.clone();
        }
        let keys = PublicKeys::new(client.clone(), key_options);
        let refresher = keys.spawn_refresher();
        let revoker = Revoker::new(scanner, pepper, store.clone());
        let api = options.api.clone().map(|o| ApiState::new(o, revoker.clone(), store.clone()));
        let scan_worker = api.clone().map(spawn_worker);
        let state = AppState {
            revoker,
            store,
            keys,
            github: GitHubApi::new(client, &options.api_url, options.api_token.clone()),
            webhook_secret: options.webhook_secret.clone(),
            max_body_bytes: options.max_body_bytes,
            metrics: http::prometheus(),
            api,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "revokd listening");
        Ok(Daemon { addr, stop, server, refresher, scan_worker })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish, then returns.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        self.refresher.abort();
        self.scan_worker.inspect(JoinHandle::abort);
        let _ = self.stop.send(());
        match self.server.await {
            Ok(result) => result.map_err(DaemonError::Serve),
            Err(join) => Err(DaemonError::Serve(std::io::Error::other(join))),
        }
    }

    /// Runs until SIGTERM or Ctrl-C, then drains as [`Daemon::shutdown`] does.
    pub async fn run_until_signalled(self) -> Result<(), DaemonError> {
        shutdown_signal().await;
        tracing::info!("shutdown requested; draining in-flight requests");
        self.shutdown().await
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM, the signal systemd sends on stop.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
