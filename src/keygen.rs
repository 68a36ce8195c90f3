//! Key formats: generating new keys and checking imported ones against the shipped rules.
//!
//! A key this deployment issues must be one the scanner recognises, or a leak of it would
//! go unnoticed. So every generated or imported key is run through the real
//! [`Scanner`] and must match its type's rule exactly (the whole token, nothing around it).

use crate::patterns::Rule;
use crate::scan::Scanner;
use crate::secret::{self, Secret};

/// Alphabet of generated key bodies.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a key type or a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    #[error("unknown key type {0:?} (no rule with that id; see `revokd patterns list`)")]
    UnknownType(String),
    #[error("key type {0:?} is not revocable here (set `revocable = true` in its rule file)")]
    NotRevocable(String),
    #[error("revokd cannot generate keys of type {0:?} (supported: xai_api_key); use `revokd keys import`")]
    CannotGenerate(String),
    #[error("not a valid {0} token (the rule does not match the whole line)")]
    Mismatch(String),
    #[error("cannot get random bytes: {0}")]
    Random(String),
}

/// The key types revokd can issue and check, backed by the compiled rule set.
pub struct KeyFormats {
    scanner: Scanner,
}

impl KeyFormats {
    pub fn new(scanner: Scanner) -> KeyFormats {
        KeyFormats { scanner }
    }

    /// The rule for `key_type`, which must exist and be revocable.
    pub fn rule(&self, key_type: &str) -> Result<&Rule, KeyFormatError> {
        let rule =
            self.scanner.rules().find(key_type).ok_or_else(|| KeyFormatError::UnknownType(key_type.to_string()))?;
        if !rule.revocable {
            return Err(KeyFormatError::NotRevocable(key_type.to_string()));
        }
        Ok(rule)
    }

    /// Checks that `token` is, in its entirety, a secret of `key_type` as the scanner
    /// finds it (prefilter, regex, checksum and entropy). Cost: one scan of the token.
    pub fn validate(&self, key_type: &str, token: &str) -> Result<(), KeyFormatError> {
        self.rule(key_type)?;
        let whole = self.scanner.rules_matching_whole(token).any(|rule| rule.id == key_type);
        if whole { Ok(()) } else { Err(KeyFormatError::Mismatch(key_type.to_string())) }
    }

    /// A new random key of `key_type` from the operating system's CSPRNG, checked with
    /// [`KeyFormats::validate`]. `xai_api_key`: `xai-` and 80 base62 characters
    /// (≈476 bits).
    pub fn generate(&self, key_type: &str) -> Result<Secret, KeyFormatError> {
        self.rule(key_type)?;
        let (prefix, len) = match key_type {
            "xai_api_key" => ("xai-", 80),
            _ => return Err(KeyFormatError::CannotGenerate(key_type.to_string())),
        };
        // A uniformly random body fails the rule's entropy floor with negligible
        // probability; retry rather than hand out a key the scanner would miss.
        for _ in 0..8 {
            let token = format!("{prefix}{}", random_base62(len)?);
            if self.validate(key_type, &token).is_ok() {
                return Ok(Secret::new(token));
            }
        }
        Err(KeyFormatError::Mismatch(key_type.to_string()))
    }

    /// The redacted form shown in listings: the rule's prefix and the last 2 characters.
    pub fn redact(&self, key_type: &str, token: &str) -> String {
        let prefixes = self.scanner.rules().find(key_type).map(|r| r.prefixes.as_slice()).unwrap_or_default();
        secret::redact(token, prefixes)
    }
}

/// `len` characters drawn uniformly from [`BASE62`] (rejection sampling: bytes ≥ 248 are
/// dropped so that `byte % 62` has no bias).
fn random_base62(len: usize) -> Result<String, KeyFormatError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 128];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| KeyFormatError::Random(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(BASE62[usize::from(b % 62)] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::patterns::RuleSet;

    fn formats() -> KeyFormats {
        let rules = RuleSet::load(&[]).unwrap();
        KeyFormats::new(Scanner::new(Arc::new(rules)).unwrap())
    }

    #[test]
    fn generated_xai_keys_match_the_shipped_rule() {
        let f = formats();
        let a = f.generate("xai_api_key").unwrap();
        let b = f.generate("xai_api_key").unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("xai-"));
        assert_eq!(a.expose().len(), 84);
        assert!(a.expose()[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        f.validate("xai_api_key", a.expose()).unwrap();
    }

    #[test]
    fn validation_needs_the_whole_token() {
        let f = formats();
        let key = f.generate("xai_api_key").unwrap();
        let key = key.expose();
        assert!(f.validate("xai_api_key", &format!(" {key}")).is_err());
        assert!(f.validate("xai_api_key", &key[..83]).is_err());
        assert!(f.validate("xai_api_key", &format!("{key}x")).is_err());
        let placeholder = format!("xai-{}", "X".repeat(80));
        assert!(matches!(f.validate("xai_api_key", &placeholder), Err(KeyFormatError::Mismatch(_))));
        assert!(matches!(f.validate("no_such_type", key), Err(KeyFormatError::UnknownType(_))));
    }

    #[test]
    fn redaction_uses_the_rule_prefix() {
        let f = formats();
        let key = f.generate("xai_api_key").unwrap();
        let r = f.redact("xai_api_key", key.expose());
        assert!(r.starts_with("xai-…"), "{r}");
        assert_eq!(r.chars().count(), 7);
    }
}
