//! `revokd serve`: builds the shared state, binds the listener, runs the HTTP server and
//! the key refresher, tells systemd when it is ready, reloads on SIGHUP and drains
//! gracefully on SIGTERM or Ctrl-C.
//!
//! Submodules: [`server`] (accept loop, drain), [`limits`] and [`observe`] (tower layers),
//! [`systemd`] (sd_notify), [`reload`] (SIGHUP), [`logging`] (the subscriber), [`wal`]
//! (SQLite checkpoints).

pub mod limits;
pub mod logging;
pub mod observe;
pub mod reload;
pub mod server;
pub mod systemd;
pub mod wal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::console::session::SessionKey;
use crate::console::{ConsoleOptions, ConsoleState};
use crate::github::api::{DEFAULT_API_URL, GitHubApi};
use crate::github::keys::{DEFAULT_PUBLIC_KEYS_URL, KeyCacheOptions, PublicKeys};
use crate::github::signature::WebhookSecret;
use crate::http::api::worker::spawn_worker;
use crate::http::api::{ApiOptions, ApiSetupError, ApiState};
use crate::http::{self, AppState};
use crate::notify::{Notifier, NotifierHandle, NotifyError, NotifyOptions};
use crate::pepper::Pepper;
use crate::revoke::Revoker;
use crate::scan::Scanner;
use crate::secret::Secret;
use crate::store::Store;
use limits::Limits;
use reload::{ReloadSource, Reloadable};
use server::Drain;

/// The daemon's settings (from `[server]` and `[github]` in the configuration).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `server.listen`. Default `127.0.0.1:8080`; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// `server.max_body_bytes`. Default [`http::DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// `notify.ready_max_pending`: `/readyz` fails while more emails wait. Default 1,000.
    pub ready_max_pending: u64,
    /// `github.public_keys_url`, `github.api_token_file` and the refresh policy.
    pub keys: KeyCacheOptions,
    /// `github.api_url`. Default `https://api.github.com`.
    pub api_url: String,
    /// `github.api_token_file` contents (REST calls and key fetches).
    pub api_token: Option<Secret>,
    /// `github.webhook_secret_file` contents; `None` disables `/github/webhook`.
    pub webhook_secret: Option<WebhookSecret>,
    /// `retention.days`: purge older leak records daily. `None` (the default here; the
    /// configuration always sets it) runs no purge.
    pub retention_days: Option<u32>,
    /// `[smtp]` and `[notify]`: the owner-email worker; `None` runs none.
    pub notify: Option<NotifyOptions>,
    /// Connection, deadline and concurrency limits (`[server]`).
    pub limits: Limits,
    /// `server.shutdown_timeout`: how long a drain waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// `[api]`; `None` (no `api.tokens_file`) turns `/v1/*`, the scan worker and the
    /// console off.
    pub api: Option<ApiOptions>,
    /// `[console]`: sessions and the sign-in rate limit of `/console/`.
    pub console: ConsoleOptions,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: http::DEFAULT_MAX_BODY_BYTES,
            ready_max_pending: 1000,
            keys: KeyCacheOptions::new(DEFAULT_PUBLIC_KEYS_URL),
            api_url: DEFAULT_API_URL.to_owned(),
            api_token: None,
            webhook_secret: None,
            retention_days: None,
            notify: None,
            limits: Limits::default(),
            shutdown_timeout: Duration::from_secs(30),
            api: None,
            console: ConsoleOptions::default(),
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
            ready_max_pending: config.notify.ready_max_pending,
            keys: KeyCacheOptions::new(github.public_keys_url.clone()),
            api_url: github.api_url.clone(),
            api_token,
            webhook_secret,
            retention_days: Some(config.retention.days),
            notify: Some(NotifyOptions::from_config(config)?),
            limits: Limits::from_config(&config.server),
            shutdown_timeout: config.server.shutdown_timeout.0,
            api: ApiOptions::from_config(&config.api)?,
            console: ConsoleOptions::from_config(&config.console),
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
    #[error("notification worker: {0}")]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Api(#[from] ApiSetupError),
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running daemon: its address and the handles that reload and stop it.
pub struct Daemon {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Drain>,
    /// Tasks that simply end with the process (key refresher, retention, watchdog, scan
    /// job worker); aborted after the drain.
    background: Vec<JoinHandle<()>>,
    /// The owner-email worker: stopped after the drain, once its current sends finish.
    notifier: Option<NotifierHandle>,
    reloadable: Reloadable,
    github_keys: Result<usize, String>,
}

impl Daemon {
    /// Binds `options.listen`, makes the first fetch of GitHub's keys (its failure is
    /// logged and `/readyz` says so; the refresher retries), starts the background tasks
    /// and the notification worker, and serves until [`Daemon::shutdown`]. Returns once
    /// the socket accepts connections.
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
        // The recorder first, so that the first key fetch is counted.
        let metrics = http::prometheus();
        let client = crate::github::http_client()?;
        let mut key_options = options.keys.clone();
        if key_options.token.is_none() {
            key_options.token = options.api_token.clone();
        }
        let keys = PublicKeys::new(client.clone(), key_options);
        let github_keys = match keys.refresh().await {
            Ok(count) => Ok(count),
            Err(err) => {
                tracing::warn!(error = %err, "GitHub public keys not loaded; /readyz reports not ready until a fetch succeeds");
                Err(err.to_string())
            }
        };
        let mut background = vec![keys.spawn_refresher()];
        background.extend(systemd::spawn_watchdog());
        background.extend(wal::spawn(&store).await);
        background.extend(options.retention_days.map(|days| crate::retention::spawn(store.clone(), days)));
        let notifier =
            options.notify.clone().map(|o| Notifier::new(store.clone(), o)).transpose()?.map(Notifier::spawn);
        let session_key = SessionKey::from_pepper(&pepper);
        let revoker = Revoker::new(scanner, pepper, store.clone());
        let api = options.api.clone().map(|o| ApiState::new(o, revoker.clone(), store.clone()));
        background.extend(api.clone().map(spawn_worker));
        let console = api.clone().map(|api| ConsoleState::new(api, options.console.clone(), session_key));
        let state = AppState {
            revoker: revoker.clone(),
            store: store.clone(),
            keys: keys.clone(),
            github: GitHubApi::new(client, &options.api_url, options.api_token.clone()),
            webhook_secret: options.webhook_secret.clone(),
            max_body_bytes: options.max_body_bytes,
            ready_max_pending: options.ready_max_pending,
            metrics,
            api: api.clone(),
            console,
        };
        let app = observe::apply(limits::apply(http::router(state), &options.limits));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = server::spawn(listener, app, &options.limits, options.shutdown_timeout, stopped);
        tracing::info!(%addr, "revokd listening");
        let reloadable = Reloadable { revoker, keys, store, api };
        Ok(Daemon { addr, stop, server, background, notifier, reloadable, github_keys })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (at most
    /// `server.shutdown_timeout`; past it the rest are dropped with a warning), stops the
    /// background tasks and the notification worker (after the emails it is sending).
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(());
        let drain = self.server.await;
        for task in &self.background {
            task.abort();
        }
        if let Some(notifier) = self.notifier {
            notifier.stop().await;
        }
        match drain {
            Ok(Drain::Complete) => Ok(()),
            Ok(Drain::TimedOut) => {
                tracing::warn!("shutdown timeout reached; dropped the requests still in flight");
                Ok(())
            }
            Err(join) => Err(DaemonError::Serve(std::io::Error::other(join))),
        }
    }

    /// Re-reads the configuration from `source` (see [`reload`]); `running` is the
    /// configuration in effect and is replaced on success.
    pub async fn reload(
        &self,
        source: &ReloadSource,
        running: &mut Config,
    ) -> Result<reload::Reloaded, reload::ReloadError> {
        self.reloadable.reload(source, running).await
    }

    /// Tells systemd it is ready, then serves until SIGTERM or Ctrl-C (then `STOPPING=1`
    /// and a drain as [`Daemon::shutdown`] does), reloading on every SIGHUP.
    pub async fn run_until_signalled(self, source: ReloadSource, mut running: Config) -> Result<(), DaemonError> {
        let mut hangups = signals::hangups();
        let keys = match &self.github_keys {
            Ok(count) => format!("{count} GitHub keys"),
            Err(_) => "GitHub keys not loaded yet".to_owned(),
        };
        systemd::ready(&format!("listening on {}; {keys}", self.addr));
        let terminate = signals::terminate();
        tokio::pin!(terminate);
        loop {
            tokio::select! {
                () = &mut terminate => break,
                () = hangups.next() => self.reload_and_report(&source, &mut running).await,
            }
        }
        systemd::stopping();
        tracing::info!("shutdown requested; draining in-flight requests");
        self.shutdown().await
    }

    async fn reload_and_report(&self, source: &ReloadSource, running: &mut Config) {
        systemd::reloading();
        match self.reload(source, running).await {
            Ok(done) => {
                tracing::info!(rules = done.rules, rule_set_version = %done.rule_set_version, github_keys = ?done.github_keys, "configuration reloaded");
                systemd::ready(&format!("reloaded: {} rules (version {})", done.rules, done.rule_set_version));
            }
            Err(err) => {
                tracing::error!(error = %err, "reload refused; the previous configuration stays in effect");
                systemd::ready(&format!("reload refused, previous configuration kept: {err}"));
            }
        }
    }
}

/// The signals the daemon reacts to.
mod signals {
    /// A stream of SIGHUPs (never yields where signals are unsupported).
    pub struct Hangups(Option<tokio::signal::unix::Signal>);

    impl Hangups {
        pub async fn next(&mut self) {
            let received = match &mut self.0 {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            };
            if !received {
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn hangups() -> Hangups {
        Hangups(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
    }

    /// Resolves on Ctrl-C or SIGTERM (the signal systemd sends on stop).
    pub async fn terminate() {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
    }
}
