//! How an email leaves: SMTP through lettre (plain, STARTTLS or TLS with rustls and the
//! aws-lc-rs provider), or `.eml` files in a directory when no SMTP server is configured.
//!
//! TLS is chosen by `smtp.url` as lettre reads it: `smtps://` is TLS from the first
//! byte (port 465 by default), `smtp://…?tls=required` is STARTTLS that fails when the
//! server does not offer it (port 587), `smtp://…?tls=opportunistic` falls back to plain
//! text when the server does not offer STARTTLS (an attacker on the path can force
//! that: avoid it), and plain `smtp://` never encrypts (port 25). Either way the server's
//! certificate must chain to the webpki (Mozilla) roots or to a root of `smtp.ca_file`,
//! and name the URL's host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::secret::{Secret, sha256_hex};
use crate::store::OutboxRow;

/// How long one SMTP command may take before the attempt counts as failed. Long enough
/// for a slow but working server, short enough that a hung one does not stall the queue.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where emails go.
#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// `smtp.url`, with the login from `smtp.credentials_file` and the extra trusted
    /// roots (PEM) from `smtp.ca_file`, if given.
    Smtp { url: String, credentials: Option<(String, Secret)>, extra_roots: Option<Vec<u8>> },
    /// One `<row id>-<hash>.eml` file per email in this directory (created if missing).
    Files { dir: PathBuf },
}

/// An open transport. Cheap to clone; SMTP connections are pooled and reused.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Why an email was not handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// For the outbox row and the audit log (no credentials: lettre's errors carry the
    /// server's reply, never the login).
    pub message: String,
    /// The server refused for good (5xx) for a reason retrying cannot fix, e.g. an
    /// unknown recipient. Authentication failures (53x) are not permanent here: an
    /// operator can fix the login and the queued emails then go out.
    pub permanent: bool,
}

/// Why a transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("smtp.url {url}: {message}")]
    Url { url: String, message: String },
    #[error("smtp.ca_file: {0}")]
    Roots(String),
}

/// How `smtp.url` asks for TLS (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Plain,
    StartTlsRequired,
    StartTlsOpportunistic,
    Wrapper,
}

/// The TLS mode and host of an `smtp://` or `smtps://` URL, read as lettre reads it.
fn tls_mode(url: &str) -> Result<(TlsMode, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("no host")?;
    // The certificate names an IPv6 address without the URL's brackets.
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let mode = match (parsed.scheme(), tls.as_deref()) {
        ("smtps", _) => TlsMode::Wrapper,
        ("smtp", None) => TlsMode::Plain,
        ("smtp", Some("required")) => TlsMode::StartTlsRequired,
        ("smtp", Some("opportunistic")) => TlsMode::StartTlsOpportunistic,
        (scheme, tls) => return Err(format!("unknown scheme {scheme:?} or tls={tls:?}")),
    };
    Ok((mode, host))
}

/// lettre's TLS setting for `mode`: the webpki roots plus `extra_roots` (PEM).
fn tls_with_roots(mode: TlsMode, host: String, extra_roots: &[u8]) -> Result<Tls, TransportError> {
    let certificate = Certificate::from_pem(extra_roots).map_err(|e| TransportError::Roots(e.to_string()))?;
    let parameters = TlsParameters::builder(host)
        .add_root_certificate(certificate)
        .build()
        .map_err(|e| TransportError::Roots(e.to_string()))?;
    Ok(match mode {
        TlsMode::Wrapper => Tls::Wrapper(parameters),
        TlsMode::StartTlsRequired => Tls::Required(parameters),
        TlsMode::StartTlsOpportunistic => Tls::Opportunistic(parameters),
        TlsMode::Plain => {
            return Err(TransportError::Roots(
                "set, but smtp.url asks for no TLS (use smtps:// or ?tls=required)".into(),
            ));
        }
    })
}

impl Transport {
    /// Opens `config` (connections are made lazily, at the first send).
    pub fn open(config: &TransportConfig) -> Result<Transport, TransportError> {
        match config {
            TransportConfig::Files { dir } => Ok(Transport::Files(dir.clone())),
            TransportConfig::Smtp { url, credentials, extra_roots } => {
                let url_error = |message: String| TransportError::Url { url: crate::config::redact_url(url), message };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| url_error(e.to_string()))?;
                builder = builder.timeout(Some(SMTP_TIMEOUT));
                if let Some(pem) = extra_roots {
                    let (mode, host) = tls_mode(url).map_err(url_error)?;
                    builder = builder.tls(tls_with_roots(mode, host, pem)?);
                }
                if let Some((user, password)) = credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Ok(Transport::Smtp(builder.build()))
            }
        }
    }

    /// Hands `message` over: accepted by the SMTP server, or written (atomically) to
    /// `<dir>/<file_stem>.eml`, replacing an earlier copy of the same email.
    pub async fn send(&self, message: Message, file_stem: &str) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                SendError { message: e.to_string(), permanent: e.is_permanent() && !code.starts_with("53") }
            }),
            Transport::Files(dir) => {
                let dir = dir.clone();
                let path = dir.join(format!("{file_stem}.eml"));
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
                    .await
                    .map_err(|e| SendError { message: e.to_string(), permanent: false })?
                    .map_err(|e| SendError {
                        message: format!("writing {}: {e}", path_name(file_stem)),
                        permanent: false,
                    })
            }
        }
    }
}

fn path_name(stem: &str) -> String {
    format!("{stem}.eml")
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("eml.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The stable `Message-ID` of an outbox row: the same on every attempt, different for
/// every row (its id and a hash of its unique dedupe key), in the sender's domain.
pub fn message_id(row: &OutboxRow, from: &Mailbox) -> String {
    format!("<revokd.{}.{}@{}>", row.id, &sha256_hex(row.dedupe_key.as_bytes())[..16], from.email.domain())
}

/// The `.eml` file name (without extension) of an outbox row: stable, like the Message-ID.
pub fn file_stem(row: &OutboxRow) -> String {
    format!("{}-{}", row.id, &sha256_hex(row.dedupe_key.as_bytes())[..16])
}

/// The email of an outbox row: plain text, plus HTML as an alternative when the row has
/// it. Fails on an address the mail library refuses.
pub fn build_message(row: &OutboxRow, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = row.recipient.parse().map_err(|e| format!("invalid recipient address: {e}"))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(message_id(row, from)));
    let message = match &row.body_html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(row.body.clone(), html.clone())),
        None => builder.singlepart(SinglePart::plain(row.body.clone())),
    };
    message.map_err(|e| format!("cannot build the email: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_follow_the_url() {
        let mode = tls_mode;
        assert_eq!(mode("smtps://mail.example.org"), Ok((TlsMode::Wrapper, "mail.example.org".into())));
        assert_eq!(mode("smtp://u:p@10.0.0.1:587?tls=required"), Ok((TlsMode::StartTlsRequired, "10.0.0.1".into())));
        assert_eq!(mode("smtp://h?tls=opportunistic").map(|m| m.0), Ok(TlsMode::StartTlsOpportunistic));
        assert_eq!(mode("smtp://[::1]:25"), Ok((TlsMode::Plain, "::1".into())));
        assert!(mode("smtp://h?tls=maybe").is_err());
        assert!(mode("imap://h").is_err());
    }

    #[test]
    fn extra_roots_need_a_tls_url_and_a_certificate() {
        let open = |url: &str, pem: &[u8]| {
            Transport::open(&TransportConfig::Smtp {
                url: url.into(),
                credentials: None,
                extra_roots: Some(pem.to_vec()),
            })
            .err()
            .map(|e| e.to_string())
        };
        let not_a_cert = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
        let err = open("smtps://127.0.0.1:465", not_a_cert).expect("a broken root is refused");
        assert!(err.starts_with("smtp.ca_file"), "{err}");
        let err = open("smtp://127.0.0.1:25", b"").expect("roots without TLS are refused");
        assert!(err.contains("no TLS"), "{err}");
    }
}
