//! Signature checks for the two GitHub doors, done on the raw body bytes before anything
//! parses them.
//!
//! - Partner alerts: ECDSA P-256 / SHA-256, DER signature in base64
//!   (`Github-Public-Key-Signature`). Cost: one P-256 verification per request, never
//!   per token: ~80 µs with aws-lc-rs against ~400 µs with the pure-Rust `p256`
//!   (`examples/verify_cost.rs`), which matters at thousands of alerts per second on
//!   two cores. `p256` still parses the PEM keys (once per key-list fetch).
//! - Repository/organisation webhooks: HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`),
//!   compared in constant time. Cost: one HMAC over the body.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use sha2::Sha256;

/// Why a signature was refused. Every variant means "not from GitHub" (HTTP 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header is not valid base64/hex or not a DER signature")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

/// A GitHub partner-alert signing key (EC P-256), parsed once from its PEM.
pub struct PartnerKey {
    key: ParsedPublicKey,
}

/// A listed key that is not a usable P-256 SubjectPublicKeyInfo PEM.
#[derive(Debug, thiserror::Error)]
#[error("not a P-256 public key in PEM (SubjectPublicKeyInfo)")]
pub struct BadPublicKey;

impl PartnerKey {
    /// Parses a `-----BEGIN PUBLIC KEY-----` block; anything but P-256 is refused.
    pub fn from_pem(pem: &str) -> Result<PartnerKey, BadPublicKey> {
        let point = VerifyingKey::from_public_key_pem(pem).map_err(|_| BadPublicKey)?.to_sec1_point(false);
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point.as_bytes()).map_err(|_| BadPublicKey)?;
        Ok(PartnerKey { key })
    }
}

/// Checks a partner-alert signature: `signature_b64` is the standard base64 of a DER
/// `SEQUENCE { r, s }` (variable length: never assume 64 or 72 bytes) over exactly
/// `body`, which must be the raw request bytes (re-serialised JSON would not verify).
pub fn verify_partner_signature(key: &PartnerKey, body: &[u8], signature_b64: &str) -> Result<(), SignatureError> {
    let der = BASE64.decode(signature_b64.trim()).map_err(|_| SignatureError::Malformed)?;
    key.key.verify_sig(body, &der).map_err(|_| SignatureError::Mismatch)
}

/// The shared secret of the repository/organisation webhook, keyed once so that each
/// request only clones the prepared HMAC state.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: Hmac<Sha256>,
}

impl WebhookSecret {
    /// Prepares the HMAC key. Any length is valid for HMAC (GitHub allows any string).
    pub fn new(secret: &[u8]) -> WebhookSecret {
        // Invariant: HMAC accepts keys of every length; `new_from_slice` cannot fail for it.
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        WebhookSecret { mac }
    }

    /// Checks `X-Hub-Signature-256` (`sha256=<hex>`, hex in either case) against `body`,
    /// comparing the MACs in constant time (`Mac::verify_slice`).
    pub fn verify(&self, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_mac = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
        let expected = hex::decode(hex_mac).map_err(|_| SignatureError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
    }

    /// The header value GitHub would send for `body` (for tests and load generators).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published partner example (research/github-partner-protocol.md §7).
    const BODY: &[u8] =
        br#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
    const SIGNATURE: &str =
        "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
    const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd
AjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==
-----END PUBLIC KEY-----
";

    #[test]
    fn github_partner_example_verifies_and_one_changed_byte_does_not() {
        let key = PartnerKey::from_pem(KEY).unwrap();
        assert_eq!(verify_partner_signature(&key, BODY, SIGNATURE), Ok(()));
        let mut with_newline = BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(verify_partner_signature(&key, &with_newline, SIGNATURE), Err(SignatureError::Mismatch));
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert_eq!(verify_partner_signature(&key, &changed, SIGNATURE), Err(SignatureError::Mismatch));
        assert_eq!(verify_partner_signature(&key, BODY, "not base64!"), Err(SignatureError::Malformed));
        assert_eq!(verify_partner_signature(&key, BODY, "AAAA"), Err(SignatureError::Mismatch));
        assert!(PartnerKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
    }

    #[test]
    fn github_webhook_hmac_vector() {
        // From GitHub's "Validating webhook deliveries".
        let secret = WebhookSecret::new(b"It's a Secret to Everybody");
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(secret.sign(b"Hello, World!"), header);
        assert_eq!(secret.verify(b"Hello, World!", Some(header)), Ok(()));
        assert_eq!(secret.verify(b"Hello, World!", Some(&header.to_uppercase().replace("SHA256", "sha256"))), Ok(()));
        assert_eq!(secret.verify(b"Hello, World?", Some(header)), Err(SignatureError::Mismatch));
        assert_eq!(secret.verify(b"Hello, World!", None), Err(SignatureError::Missing));
        assert_eq!(secret.verify(b"Hello, World!", Some("sha1=00")), Err(SignatureError::Malformed));
        assert_eq!(secret.verify(b"Hello, World!", Some("sha256=zz")), Err(SignatureError::Malformed));
    }
}
