//! The one GitHub REST call revokd makes: fetch a secret-scanning alert with its secret
//! (repository webhooks carry no secret).

use serde::Deserialize;

use crate::secret::Secret;

/// Default `github.api_url`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Why an alert could not be fetched. The webhook answers 502 so that it can be
/// redelivered; the error text never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("GitHub API request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("GitHub API answered HTTP {0}")]
    Status(u16),
    #[error("GitHub API returned an alert without its secret")]
    NoSecret,
    #[error("owner/repository name {0:?} is not a plain GitHub name")]
    BadName(String),
}

/// A secret-scanning alert as the REST API returns it (only the fields revokd uses).
#[derive(Deserialize)]
pub struct Alert {
    pub number: u64,
    pub secret_type: String,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
}

impl Alert {
    pub fn secret(&self) -> Option<Secret> {
        self.secret.as_ref().map(|s| Secret::new(s.as_str()))
    }
}

/// GitHub REST client for `github.api_url`, authenticated with `github.api_token_file`.
#[derive(Clone)]
pub struct GitHubApi {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl GitHubApi {
    pub fn new(http: reqwest::Client, base: &str, token: Option<Secret>) -> GitHubApi {
        GitHubApi { http, base: base.trim_end_matches('/').to_owned(), token }
    }

    /// `GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}`, which includes the
    /// secret by default. Cost: one HTTPS round trip.
    pub async fn secret_scanning_alert(&self, owner: &str, repo: &str, number: u64) -> Result<Alert, ApiError> {
        for name in [owner, repo] {
            if !is_plain_name(name) {
                return Err(ApiError::BadName(name.to_owned()));
            }
        }
        let url = format!("{}/repos/{owner}/{repo}/secret-scanning/alerts/{number}", self.base);
        let mut request = self
            .http
            .get(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(ApiError::Status(response.status().as_u16()));
        }
        let alert: Alert = response.json().await?;
        if alert.secret.is_none() {
            return Err(ApiError::NoSecret);
        }
        Ok(alert)
    }
}

/// GitHub owner and repository names: ASCII letters, digits, `-`, `_`, `.`; never `.`/`..`.
/// Checked so that a webhook payload cannot steer the request to another API path.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_that_could_change_the_path_are_refused() {
        assert!(super::is_plain_name("octo-org"));
        assert!(super::is_plain_name("my.repo_2"));
        for bad in ["", ".", "..", "a/b", "a?b", "a%2fb", "ä"] {
            assert!(!super::is_plain_name(bad), "{bad}");
        }
    }
}
