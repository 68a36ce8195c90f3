//! GitHub's side of the two alert doors: partner-alert signing keys, signature checks,
//! and the REST call that fetches a repository alert's secret.

pub mod api;
pub mod keys;
pub mod signature;

/// The `reqwest` client shared by every outgoing GitHub call: rustls (aws-lc-rs), a
/// User-Agent (GitHub rejects requests without one) and timeouts well under GitHub's
/// own 10 s webhook delivery deadline.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("revokd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(8))
        .build()
}
