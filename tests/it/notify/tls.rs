//! Owner emails over TLS: `smtps://` and STARTTLS (`smtp://…?tls=required`) against
//! aiosmtpd serving a certificate from a CA made in the test (openssl CLI), trusted
//! through `smtp.ca_file`, with AUTH from `smtp.credentials_file`; certificates of an
//! untrusted CA or for another host, and servers without STARTTLS, are refused and the
//! email stays queued for its retry.

use std::path::{Path, PathBuf};
use std::process::Command;

use revokd::config::Config;
use revokd::notify::{Notifier, NotifyOptions, PassSummary};
use revokd::store::{OutboxStatus, Store};

use super::{SmtpSink, add_key, free_port, leak, options};
use crate::both_backends;
use crate::testdb::{Backend, TestDb};

both_backends!(
    smtps_and_starttls_deliver_over_verified_tls_with_auth,
    untrusted_or_wrong_host_certificates_are_refused_and_retried,
);

/// A test CA and two server certificates it signed: `good` (for 127.0.0.1 and
/// localhost) and `wrong_host` (for mail.example.org only). Files live until dropped.
struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki { dir };
        pki.openssl(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=revokd-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
             -keyout ca.key -out ca.pem",
        );
        pki.server("good", "subjectAltName=IP:127.0.0.1,DNS:localhost");
        pki.server("wrong_host", "subjectAltName=DNS:mail.example.org");
        pki
    }

    /// Runs `openssl` with `args` (split at whitespace) in the directory.
    fn openssl(&self, args: &str) {
        let output = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl command runs (apt-get install openssl)");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// `NAME.pem` and `NAME.key`: a server certificate with the extension line `san`.
    fn server(&self, name: &str, san: &str) {
        std::fs::write(
            self.dir.path().join(format!("{name}.ext")),
            format!("{san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        self.openssl(&format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN={name} \
             -keyout {name}.key -out {name}.csr"
        ));
        self.openssl(&format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile {name}.ext -out {name}.pem"
        ));
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts aiosmtpd on a free port in `mode` (`implicit` or `starttls`) serving the
    /// certificate `name`, with `extra` options.
    fn sink(&self, mode: &str, name: &str, extra: &[&str]) -> SmtpSink {
        let cert = self.dir.path().join(format!("{name}.pem")).display().to_string();
        let key = self.dir.path().join(format!("{name}.key")).display().to_string();
        let mut args = vec!["--tls", mode, "--cert", &cert, "--key", &key];
        args.extend_from_slice(extra);
        SmtpSink::start_with(free_port(), &args)
    }
}

/// Worker settings built the way `revokd serve` builds them: from `[smtp]` keys.
fn from_config(url: String, ca_file: Option<&Path>, credentials_file: Option<&Path>) -> NotifyOptions {
    let mut config = Config::default();
    config.smtp.url = Some(url);
    config.smtp.ca_file = ca_file.map(Path::to_path_buf);
    config.smtp.credentials_file = credentials_file.map(Path::to_path_buf);
    options(NotifyOptions::from_config(&config).unwrap().transport)
}

/// Stores a new key of team `acme` and reports it leaked: one email to alice.
async fn leak_new_key(store: &Store) {
    let (token, _) = add_key(store, "acme").await;
    leak(store, &token, "https://github.com/acme/app/blob/main/.env").await;
}

async fn smtps_and_starttls_deliver_over_verified_tls_with_auth(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_team("acme", &["alice@example.com".to_string()], &[], "test").await.unwrap();
    let pki = TestPki::new();
    let login = pki.dir.path().join("smtp.login");
    std::fs::write(&login, "revokd\ns3cret pass\n").unwrap();
    for (mode, url) in [("implicit", "smtps://127.0.0.1:PORT"), ("starttls", "smtp://127.0.0.1:PORT?tls=required")] {
        leak_new_key(&store).await;
        let sink = pki.sink(mode, "good", &["--auth", "revokd:s3cret pass"]);
        let url = url.replace("PORT", &sink.port.to_string());
        let notifier = Notifier::new(store.clone(), from_config(url, Some(&pki.ca()), Some(&login))).unwrap();
        let summary = notifier.run_once().await.unwrap();
        assert_eq!((summary.sent, summary.failed, summary.dead), (1, 0, 0), "{mode}: {summary:?}");
        let mails = sink.messages();
        assert_eq!(mails.len(), 1, "{mode}");
        assert!(mails[0].tls, "{mode}: delivered over TLS");
        assert_eq!(mails[0].login.as_deref(), Some("revokd"), "{mode}: authenticated");
        assert_eq!(mails[0].rcpt_tos, ["alice@example.com"]);
    }
    // Without the login, the server (which requires AUTH) refuses: retried, not lost.
    leak_new_key(&store).await;
    let sink = pki.sink("starttls", "good", &["--auth", "revokd:s3cret pass"]);
    let url = format!("smtp://127.0.0.1:{}?tls=required", sink.port);
    let notifier = Notifier::new(store.clone(), from_config(url, Some(&pki.ca()), None)).unwrap();
    let summary = notifier.run_once().await.unwrap();
    assert_eq!((summary.sent, summary.failed), (0, 1), "{summary:?}");
    assert!(sink.messages().is_empty());
    store.close().await;
}

/// Runs `notifier` until its pass has a failed attempt (the row is due again after
/// 100 ms); returns the row's error.
async fn fails(store: &Store, notifier: &Notifier) -> String {
    for _ in 0..100 {
        let summary = notifier.run_once().await.unwrap();
        if summary.failed > 0 {
            assert_eq!(summary, PassSummary { queued: summary.queued, sent: 0, failed: 1, dead: 0 });
            let row = &store.outbox(None).await.unwrap()[0];
            assert_eq!(row.status, OutboxStatus::Pending, "the email stays queued");
            return row.last_error.clone().unwrap_or_default();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no attempt failed within 100 passes");
}

async fn untrusted_or_wrong_host_certificates_are_refused_and_retried(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_team("acme", &["alice@example.com".to_string()], &[], "test").await.unwrap();
    leak_new_key(&store).await;
    let pki = TestPki::new();
    let ca = pki.ca();

    // A certificate from the trusted CA, but for another host.
    let wrong_host = pki.sink("implicit", "wrong_host", &[]);
    let url = format!("smtps://127.0.0.1:{}", wrong_host.port);
    let error = fails(&store, &Notifier::new(store.clone(), from_config(url, Some(&ca), None)).unwrap()).await;
    assert!(error.contains("certificate not valid for name"), "{error}");

    // The right host, but a CA that is not trusted (webpki roots only).
    let good = pki.sink("implicit", "good", &[]);
    let url = format!("smtps://127.0.0.1:{}", good.port);
    let error = fails(&store, &Notifier::new(store.clone(), from_config(url.clone(), None, None)).unwrap()).await;
    assert!(error.contains("invalid peer certificate: UnknownIssuer"), "{error}");

    // STARTTLS required, but the server does not offer it: no fall back to plain text.
    let plain = SmtpSink::start();
    let required = format!("smtp://127.0.0.1:{}?tls=required", plain.port);
    fails(&store, &Notifier::new(store.clone(), from_config(required, Some(&ca), None)).unwrap()).await;

    for sink in [&wrong_host, &good, &plain] {
        assert!(sink.messages().is_empty(), "nothing was handed to a server that failed verification");
    }
    // Trusting the CA, the queued email goes out on its next attempt, once.
    let notifier = Notifier::new(store.clone(), from_config(url, Some(&ca), None)).unwrap();
    let mut sent = 0;
    for _ in 0..100 {
        sent += notifier.run_once().await.unwrap().sent;
        if sent > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sent, 1);
    let row = &store.outbox(None).await.unwrap()[0];
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 4));
    assert_eq!(good.messages().len(), 1);
    assert!(good.messages()[0].tls);
    store.close().await;
}
