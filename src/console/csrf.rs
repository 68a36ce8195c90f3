//! CSRF tokens for the console's forms.
//!
//! Signed-in forms carry a session-bound token, base64url(HMAC-SHA256(session key,
//! `csrf|<session id>`)): it cannot be computed without the key, changes with every
//! session and needs no storage. The sign-in form, which has no session yet, uses a
//! double-submit token: a random value in the `revokd_signin` cookie and in the form.
//! Both are compared in constant time. SameSite=Strict cookies are a second barrier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::session::SessionKey;
use crate::secret::constant_time_eq;

/// Cookie holding the sign-in form's double-submit token.
pub const SIGN_IN_COOKIE: &str = "revokd_signin";

/// The CSRF token of session `session_id`.
pub fn session_token(key: &SessionKey, session_id: &str) -> String {
    B64.encode(key.mac(&[b"csrf", session_id.as_bytes()]))
}

/// True when `presented` is the CSRF token of session `session_id`.
pub fn verify_session_token(key: &SessionKey, session_id: &str, presented: &str) -> bool {
    constant_time_eq(session_token(key, session_id).as_bytes(), presented.as_bytes())
}

/// A fresh double-submit token for the sign-in form (128 random bits, hex).
pub fn sign_in_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// True when the sign-in form's token matches its cookie (both present, non-empty).
pub fn verify_sign_in_token(cookie: Option<&str>, presented: &str) -> bool {
    match cookie {
        Some(cookie) if !cookie.is_empty() => constant_time_eq(cookie.as_bytes(), presented.as_bytes()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pepper::Pepper;

    #[test]
    fn tokens_bind_to_session_and_key() {
        let key = SessionKey::from_pepper(&Pepper::from_bytes(b"0123456789abcdef".to_vec()));
        let other = SessionKey::from_pepper(&Pepper::from_bytes(b"fedcba9876543210".to_vec()));
        let token = session_token(&key, "s1");
        assert!(verify_session_token(&key, "s1", &token));
        assert!(!verify_session_token(&key, "s2", &token));
        assert!(!verify_session_token(&other, "s1", &token));
        assert!(!verify_session_token(&key, "s1", ""));
        let t = sign_in_token().unwrap();
        assert!(verify_sign_in_token(Some(&t), &t));
        assert!(!verify_sign_in_token(None, &t));
        assert!(!verify_sign_in_token(Some(""), ""));
        assert!(!verify_sign_in_token(Some(&t), &sign_in_token().unwrap()));
    }
}
