//! Checksum validators for token formats whose issuer documents one.
//!
//! A wrong checksum means the string is not a token the provider issued (a typo, a
//! placeholder, a truncated copy), so it is not a finding.

use std::fmt;
use std::str::FromStr;

/// The base62 alphabet used by GitHub and npm token checksums (digits, upper, lower).
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A named checksum a rule can require of its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// GitHub classic tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`): a 4-byte prefix,
    /// 30 random base62 characters, then CRC32 of those 30 characters in 6 base62 digits.
    GithubCrc32Base62,
    /// npm tokens (`npm_`): the same layout and checksum as GitHub's.
    NpmCrc32Base62,
}

impl Checksum {
    /// All checksum names a pattern file may use.
    pub const NAMES: &'static [&'static str] = &["github_crc32_base62", "npm_crc32_base62"];

    /// True when `secret` carries a valid checksum. Never panics, whatever the input.
    pub fn is_valid(self, secret: &[u8]) -> bool {
        match self {
            Checksum::GithubCrc32Base62 | Checksum::NpmCrc32Base62 => prefixed_crc32_base62(secret, 4),
        }
    }
}

impl FromStr for Checksum {
    type Err = ();

    fn from_str(name: &str) -> Result<Self, ()> {
        match name {
            "github_crc32_base62" => Ok(Checksum::GithubCrc32Base62),
            "npm_crc32_base62" => Ok(Checksum::NpmCrc32Base62),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Checksum::GithubCrc32Base62 => "github_crc32_base62",
            Checksum::NpmCrc32Base62 => "npm_crc32_base62",
        })
    }
}

/// `prefix_len` bytes of prefix, a body, then 6 base62 digits of CRC32(body).
fn prefixed_crc32_base62(secret: &[u8], prefix_len: usize) -> bool {
    if secret.len() < prefix_len + 6 + 1 {
        return false;
    }
    let (body, check) = secret[prefix_len..].split_at(secret.len() - prefix_len - 6);
    check == base62_fixed6(crc32fast::hash(body))
}

/// `value` in base62, left-padded with `0` to 6 digits (62^6 > 2^32, so it always fits).
pub fn base62_fixed6(mut value: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// Appends the GitHub-style checksum to `prefix + body`; used to build test tokens and to
/// issue keys in checksummed formats.
pub fn with_crc32_base62(prefix: &str, body: &str) -> String {
    let check = base62_fixed6(crc32fast::hash(body.as_bytes()));
    let mut token = String::with_capacity(prefix.len() + body.len() + 6);
    token.push_str(prefix);
    token.push_str(body);
    token.extend(check.iter().map(|&b| b as char));
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_checksum_round_trips() {
        let token = with_crc32_base62("ghp_", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123");
        assert_eq!(token.len(), 40);
        assert!(Checksum::GithubCrc32Base62.is_valid(token.as_bytes()));
    }

    #[test]
    fn one_changed_character_fails() {
        let mut token = with_crc32_base62("ghp_", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123").into_bytes();
        token[10] ^= 0x01;
        assert!(!Checksum::GithubCrc32Base62.is_valid(&token));
    }

    #[test]
    fn short_and_empty_inputs_are_invalid() {
        assert!(!Checksum::NpmCrc32Base62.is_valid(b""));
        assert!(!Checksum::NpmCrc32Base62.is_valid(b"npm_abc"));
    }

    #[test]
    fn base62_pads_and_encodes_max() {
        assert_eq!(&base62_fixed6(0), b"000000");
        assert_eq!(&base62_fixed6(61), b"00000z");
        assert_eq!(&base62_fixed6(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn names_parse() {
        for name in Checksum::NAMES {
            let parsed: Checksum = name.parse().unwrap();
            assert_eq!(parsed.to_string(), *name);
        }
        assert!("crc64".parse::<Checksum>().is_err());
    }
}
