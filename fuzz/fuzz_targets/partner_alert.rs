//! `POST /github/secret-scanning` after the body limit: the signature headers are decoded
//! and checked, then the body is parsed, exactly as the handler does.
//!
//! Input: one length byte `n`, then `n` bytes of `Github-Public-Key-Signature` (or of
//! `X-Hub-Signature-256`), then the body. Properties: nothing panics; a signature verifies
//! only for GitHub's published example body; a parse error never quotes the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revokd::github::signature::{PartnerKey, WebhookSecret, verify_partner_signature};
use revokd::http::partner::parse_alerts;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let (header, body) = rest.split_at(usize::from(n).min(rest.len()));
    let key = PartnerKey::from_pem(revokd_fuzz::GITHUB_KEY).expect("GitHub's published key parses");
    if let Ok(header) = std::str::from_utf8(header) {
        if verify_partner_signature(&key, body, header).is_ok() {
            assert_eq!(body, revokd_fuzz::GITHUB_BODY, "a signature verified for a body GitHub never signed");
        }
        let secret = WebhookSecret::new(b"fuzz secret");
        if secret.verify(body, Some(header)).is_ok() {
            assert_eq!(header.trim().to_ascii_lowercase(), secret.sign(body), "an HMAC verified that is not ours");
        }
    }
    let signed = verify_partner_signature(&key, body, revokd_fuzz::GITHUB_SIGNATURE).is_ok();
    assert_eq!(signed, body == revokd_fuzz::GITHUB_BODY);
    match parse_alerts(body) {
        Ok(alerts) => {
            // What the handler reads of each alert exists and is text.
            for alert in &alerts {
                let _ = (alert.token.expose().len(), alert.token_type.len(), alert.url.len(), alert.source.len());
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.starts_with("malformed JSON body at line "), "{message}");
        }
    }
});
