//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (fixtures live under it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    root().join("fixtures").join(path)
}

/// Runs the real `revokd` binary with `args` in `dir`, feeding `stdin`.
pub fn revokd(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_revokd"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the revokd binary runs");
    child.stdin.take().expect("stdin is piped").write_all(stdin).expect("stdin accepts input");
    child.wait_with_output().expect("revokd exits")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A constructed token of `rule` taken from the shipped rule file's first example.
pub fn example_token(file: &str, prefix: &str) -> String {
    let text = std::fs::read_to_string(root().join("patterns").join(file)).expect("shipped rule file exists");
    text.match_indices(prefix)
        .map(|(start, _)| {
            let token: String =
                text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
            token
        })
        .find(|token| token.len() >= 30)
        .expect("the rule file has an example with that prefix")
}
