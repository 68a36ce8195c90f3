//! Console sessions: a signed cookie, no server-side session table.
//!
//! The cookie `revokd_session` holds `v1.<payload>.<mac>` (base64url), where the
//! payload is `session id | token name | token fingerprint | expiry (UTC ms)` and the
//! MAC is HMAC-SHA256 under the [`SessionKey`]. Verifying costs one HMAC. A session is
//! accepted only while the token it signed in with is still in `api.tokens_file` with
//! the same value (the fingerprint), so removing or replacing a token (then SIGHUP)
//! ends its sessions, and the role is always the token file's current one, never the
//! cookie's. Sign-out adds the session id to an in-memory list until the session
//! would have expired: on several replicas, a signed-out cookie stays valid on the
//! others until `console.session_ttl` passes.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::pepper::Pepper;
use crate::secret::constant_time_eq;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "revokd_session";

/// What the key is derived with: changing it signs everyone out.
const KEY_LABEL: &str = "revokd console session key v1";

/// The key that signs session cookies and derives CSRF tokens: HMAC-SHA256(pepper,
/// [`KEY_LABEL`]). Derived from the pepper so there is no second secret file to
/// manage; whoever can read the pepper can forge sessions (and already holds the
/// key store's hashing secret). `Debug` never shows it.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl SessionKey {
    pub fn from_pepper(pepper: &Pepper) -> SessionKey {
        let hex_mac = pepper.key_hash(KEY_LABEL);
        let mut key = [0u8; 32];
        // key_hash is 64 hex digits of an HMAC-SHA256 by construction.
        if let Ok(bytes) = hex::decode(hex_mac) {
            key.copy_from_slice(&bytes[..32]);
        }
        SessionKey(key)
    }

    /// HMAC-SHA256 of `parts` joined by `|`, under this key.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"|");
            }
            mac.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// A verified session (the cookie's claims; the caller still checks the token file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// 128 random bits, hex.
    pub id: String,
    /// The API token's name.
    pub name: String,
    pub fingerprint: [u8; 8],
    /// UTC milliseconds.
    pub expires: i64,
}

impl Session {
    /// A new session for token `name` with value fingerprint `fingerprint`.
    pub fn new(name: &str, fingerprint: [u8; 8], expires: i64) -> Result<Session, getrandom::Error> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)?;
        Ok(Session { id: hex::encode(id), name: name.to_owned(), fingerprint, expires })
    }

    fn payload(&self) -> String {
        format!("{}|{}|{}|{}", self.id, self.name, hex::encode(self.fingerprint), self.expires)
    }

    /// The cookie value: `v1.<payload>.<mac>`.
    pub fn encode(&self, key: &SessionKey) -> String {
        let payload = self.payload();
        let mac = key.mac(&[b"session", payload.as_bytes()]);
        format!("v1.{}.{}", B64.encode(payload), B64.encode(mac))
    }

    /// The session in `cookie`, if its MAC verifies (constant time) and it has not
    /// expired at `now_ms`. Anything malformed is `None`; nothing is logged.
    pub fn decode(cookie: &str, key: &SessionKey, now_ms: i64) -> Option<Session> {
        let rest = cookie.strip_prefix("v1.")?;
        let (payload_b64, mac_b64) = rest.split_once('.')?;
        let payload = B64.decode(payload_b64).ok()?;
        let mac = B64.decode(mac_b64).ok()?;
        if !constant_time_eq(&key.mac(&[b"session", &payload]), &mac) {
            return None;
        }
        let payload = String::from_utf8(payload).ok()?;
        let mut fields = payload.split('|');
        let (id, name, fingerprint, expires) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        if expires <= now_ms {
            return None;
        }
        let mut fp = [0u8; 8];
        hex::decode_to_slice(fingerprint, &mut fp).ok()?;
        Some(Session { id: id.to_owned(), name: name.to_owned(), fingerprint: fp, expires })
    }
}

/// Session ids signed out before they expired (id → expiry, UTC ms). Bounded by the
/// sign-outs within one `console.session_ttl`; expired entries are dropped on insert.
#[derive(Debug, Default)]
pub struct SignedOut(Mutex<HashMap<String, i64>>);

impl SignedOut {
    pub fn insert(&self, session: &Session, now_ms: i64) {
        let mut ended = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ended.retain(|_, expires| *expires > now_ms);
        ended.insert(session.id.clone(), session.expires);
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains_key(id)
    }
}

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(n, _)| *n == name).map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/console, `Secure` when the
/// console is reached over TLS; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: &[u8]) -> SessionKey {
        SessionKey::from_pepper(&Pepper::from_bytes(seed.to_vec()))
    }

    #[test]
    fn cookie_round_trip_and_tampering() {
        let k = key(b"pepper one, 16+ bytes");
        let session = Session::new("secops", [7; 8], 10_000).unwrap();
        let cookie = session.encode(&k);
        assert_eq!(Session::decode(&cookie, &k, 9_999), Some(session.clone()));
        assert_eq!(Session::decode(&cookie, &k, 10_000), None, "expired");
        assert_eq!(Session::decode(&cookie, &key(b"another pepper here"), 0), None, "other key");
        // Any change to payload or MAC fails.
        let (head, mac) = cookie.rsplit_once('.').unwrap();
        let forged = Session { name: "admin".into(), ..session.clone() }.payload();
        assert_eq!(Session::decode(&format!("v1.{}.{mac}", B64.encode(forged)), &k, 0), None);
        let mut flipped = mac.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert_eq!(Session::decode(&format!("{head}.{}", String::from_utf8(flipped).unwrap()), &k, 0), None);
        for junk in ["", "v1.", "v1..", "v2.a.b", "v1.%%%.###"] {
            assert_eq!(Session::decode(junk, &k, 0), None, "{junk:?}");
        }
        assert!(!format!("{k:?}").contains(&hex::encode(k.0)));
    }

    #[test]
    fn signed_out_sessions_are_remembered_until_expiry() {
        let ended = SignedOut::default();
        let a = Session::new("a", [0; 8], 100).unwrap();
        let b = Session::new("b", [0; 8], 300).unwrap();
        ended.insert(&a, 0);
        assert!(ended.contains(&a.id));
        ended.insert(&b, 200);
        assert!(!ended.contains(&a.id), "expired entries are dropped");
        assert!(ended.contains(&b.id));
    }

    #[test]
    fn cookie_header_parsing() {
        let header = "a=1; revokd_session=v1.x.y ;b=2";
        assert_eq!(cookie(header, SESSION_COOKIE), Some("v1.x.y"));
        assert_eq!(cookie(header, "c"), None);
        let set = set_cookie(SESSION_COOKIE, "v", 60, true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.ends_with("; Secure"));
    }
}
