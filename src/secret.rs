//! [`Secret`]: a token in clear, which cannot be printed by accident.

use std::fmt;

/// A secret in clear. `Debug` prints `Secret(<redacted>)` and there is no `Display`,
/// so a secret reaches a log line or an error message only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret in clear. Call it only where the clear value is the point: hashing,
    /// `--show-secrets` output, comparing with a key store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Deserialises from a JSON string, so request types can hold a [`Secret`] field and
/// still derive `Debug` safely.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Compares two byte strings in time that depends only on their lengths (no early exit
/// at the first difference): for tokens, MACs and CSRF values.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The redacted form of a secret: the rule's literal prefix it starts with (if any, at
/// most 16 bytes), an ellipsis, and the last 2 characters. Secrets shorter than 12
/// characters show no tail, so the redacted form never reveals a meaningful part.
pub fn redact(secret: &str, prefixes: &[String]) -> String {
    let prefix = prefixes
        .iter()
        .filter(|p| p.len() <= 16 && secret.starts_with(p.as_str()))
        .max_by_key(|p| p.len())
        .map_or("", String::as_str);
    let rest = &secret[prefix.len()..];
    let chars = rest.chars().count();
    if chars < 12 {
        return format!("{prefix}…");
    }
    let tail: String = rest.chars().skip(chars - 2).collect();
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("xai-verysecret");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "xai-verysecret");
    }

    #[test]
    fn redaction_keeps_prefix_and_two_last_characters() {
        let prefixes = vec!["xai-".to_string()];
        assert_eq!(redact("xai-AbCdEfGhIjKlMnOpx9", &prefixes), "xai-…x9");
        assert_eq!(redact("xai-short", &prefixes), "xai-…");
        assert_eq!(redact("abcdefghijklmnopqrstuvwxyz", &[]), "…yz");
        assert_eq!(redact("ünïcödé-ünïcödé-ünïcödé", &[]), "…dé");
    }

    #[test]
    fn sha256_of_known_value() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
