//! What the Debian package ships: the hardened unit (exposure at most 1.5), the default
//! configuration, the man page and completions generated from the clap definitions.

use std::process::Command;

use crate::support::{revokd, root, stdout};

/// The highest `systemd-analyze security` exposure the unit may have (issue target).
const MAX_EXPOSURE: f64 = 1.5;

#[test]
fn the_unit_scores_at_most_1_5_in_systemd_analyze_security() {
    let unit = root().join("systemd/revokd.service");
    let output = match Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output() {
        Ok(output) => output,
        Err(err) => {
            // .ci/run installs systemd; only a machine without it skips this check.
            println!("skipped: systemd-analyze is not available ({err}); install the Debian package `systemd`");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let score: f64 = text
        .lines()
        .find_map(|line| line.split("Overall exposure level for revokd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|score| score.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in:\n{text}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert!(score <= MAX_EXPOSURE, "exposure {score} > {MAX_EXPOSURE}:\n{text}");
}

#[test]
fn the_packaged_config_is_valid_and_matches_the_unit() {
    let config = revokd::config::Config::from_file(&root().join("packaging/revokd.toml")).unwrap();
    config.validate().unwrap();
    assert_eq!(config, {
        let mut defaults = revokd::config::Config::default();
        defaults.database.url = "sqlite:///var/lib/revokd/revokd.db".into();
        defaults
    });
    let unit = std::fs::read_to_string(root().join("systemd/revokd.service")).unwrap();
    assert!(unit.contains("StateDirectory=revokd") && unit.contains("/etc/revokd/revokd.toml"));
    let shutdown = config.server.shutdown_timeout.0.as_secs();
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim_end_matches('s').parse().ok())
        .unwrap();
    assert!(stop > shutdown, "systemd waits longer ({stop}s) than the drain ({shutdown}s)");
}

#[test]
fn completions_and_the_man_page_are_generated_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = revokd(dir.path(), &["completions", shell], b"");
        assert!(output.status.success(), "{shell}");
        let script = stdout(&output);
        assert!(script.contains("check-config") && script.contains("serve"), "{shell}: {script}");
    }
    let output = revokd(dir.path(), &["man"], b"");
    assert!(output.status.success());
    let page = stdout(&output);
    assert!(page.starts_with(".ie") || page.contains(".TH revokd 1"), "{page}");
    assert!(page.contains(r"check\-config") && page.contains("serve"), "{page}");
    let output = revokd(dir.path(), &["completions", "tcsh"], b"");
    assert_eq!(output.status.code(), Some(2), "an unknown shell is a usage error");
}
