//! Shared pieces of the fuzz targets: GitHub's published partner-alert example, the
//! slow reference scanner, and the decoder that turns fuzz bytes into scanner input.

pub mod reference;
pub mod scanner_input;

/// GitHub's published partner-alert example (research/github-partner-protocol.md §7).
pub const GITHUB_BODY: &[u8] =
    br#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
pub const GITHUB_SIGNATURE: &str =
    "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
pub const GITHUB_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd
AjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==
-----END PUBLIC KEY-----
";
