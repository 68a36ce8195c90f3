//! The pepper: a secret key for hashing stored API keys, kept in a file outside the
//! database, so that a database dump alone yields neither tokens nor a way to test
//! guesses against the stored hashes.
//!
//! `key_hash` = HMAC-SHA256(pepper, token), lowercase hex. One HMAC costs about a
//! microsecond; the hash is what the key store indexes and looks up.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Length of a newly created pepper (256 bits, the HMAC-SHA256 block-size sweet spot).
pub const PEPPER_LEN: usize = 32;

/// Shortest pepper file accepted: below 128 bits a pepper adds little.
const MIN_PEPPER_LEN: usize = 16;

/// The pepper bytes. `Debug` never shows them.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error("pepper file {path} is accessible by group or others (mode {mode:04o}); run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("pepper file {path} is too short ({len} bytes, at least {MIN_PEPPER_LEN} needed)")]
    TooShort { path: PathBuf, len: usize },
    #[error("pepper file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("pepper file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot get random bytes for a new pepper: {0}")]
    Random(String),
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

impl Pepper {
    /// A pepper from bytes (tests, benchmarks).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Pepper {
        Pepper(bytes.into())
    }

    /// Reads the pepper at `path`, first creating it (32 random bytes, mode 0600) if it
    /// does not exist. Creation is atomic: concurrent first runs all end up with the
    /// same file. A file readable or writable by group or others is refused.
    pub fn load_or_create(path: &Path) -> Result<Pepper, PepperError> {
        match fs::symlink_metadata(path) {
            Ok(_) => Pepper::load(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create(path)?;
                Pepper::load(path)
            }
            Err(source) => Err(PepperError::Io { path: path.to_owned(), source }),
        }
    }

    /// Reads an existing pepper file, refusing one that group or others can access.
    pub fn load(path: &Path) -> Result<Pepper, PepperError> {
        let io_err = |source| PepperError::Io { path: path.to_owned(), source };
        let meta = fs::metadata(path).map_err(io_err)?;
        if !meta.is_file() {
            return Err(PepperError::NotAFile { path: path.to_owned() });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(PepperError::Permissions { path: path.to_owned(), mode });
        }
        let bytes = fs::read(path).map_err(io_err)?;
        if bytes.len() < MIN_PEPPER_LEN {
            return Err(PepperError::TooShort { path: path.to_owned(), len: bytes.len() });
        }
        Ok(Pepper(bytes))
    }

    /// HMAC-SHA256(pepper, token), lowercase hex: the `key_hash` stored for a key.
    pub fn key_hash(&self, token: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Writes a new pepper to a private temporary file, then hard-links it into place, which
/// fails if another process won the race (then its file is used).
fn create(path: &Path) -> Result<(), PepperError> {
    let io_err = |source| PepperError::Io { path: path.to_owned(), source };
    let mut bytes = [0u8; PEPPER_LEN];
    getrandom::fill(&mut bytes).map_err(|e| PepperError::Random(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(source));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(io_err(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/revokd.pepper");
        let first = Pepper::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).unwrap().len(), PEPPER_LEN);
        let again = Pepper::load_or_create(&path).unwrap();
        assert_eq!(first.key_hash("xai-abc"), again.key_hash("xai-abc"));
        assert_ne!(first.key_hash("xai-abc"), first.key_hash("xai-abd"));
        assert_eq!(format!("{first:?}"), "Pepper(<redacted>)");
    }

    #[test]
    fn group_or_world_access_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revokd.pepper");
        Pepper::load_or_create(&path).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = Pepper::load_or_create(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        Pepper::load(&path).unwrap();
    }

    #[test]
    fn short_pepper_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fs::write(&path, b"short").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(Pepper::load(&path), Err(PepperError::TooShort { len: 5, .. })));
    }

    #[test]
    fn known_hmac_value() {
        // RFC 4231 test case 2.
        let pepper = Pepper::from_bytes(b"Jefe".to_vec());
        assert_eq!(
            pepper.key_hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
