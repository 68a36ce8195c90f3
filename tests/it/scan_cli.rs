//! `revokd scan` end to end: the real binary on fixture trees.

use std::path::Path;

use serde_json::Value;

use crate::support::{example_token, fixture, revokd, stderr, stdout};

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

fn tree() -> std::path::PathBuf {
    fixture("scan/tree")
}

#[test]
fn json_report_has_the_spec_fields_and_exit_code_1() {
    let out = revokd(&tree(), &["scan", "--format", "json", "--no-progress"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let findings = report["findings"].as_array().unwrap();
    let rules: Vec<(&str, &str)> =
        findings.iter().map(|f| (f["path"].as_str().unwrap(), f["rule"].as_str().unwrap())).collect();
    // build/ is gitignored, the allow-marked line is suppressed, blob.bin is binary.
    assert_eq!(rules, [(".env", "github_token"), ("src/app.py", "xai_api_key")]);
    let xai = &findings[1];
    let token = example_token("xai.toml", "xai-");
    assert_eq!(xai["line"], 3);
    assert_eq!(xai["column"], 12);
    assert_eq!(xai["end_column"], 12 + 84);
    assert_eq!(xai["secret_sha256"], revokd::secret::sha256_hex(token.as_bytes()));
    assert_eq!(xai["redacted"], format!("xai-…{}", &token[token.len() - 2..]));
    assert_eq!(xai["revocable"], true);
    assert_eq!(xai["commit"], Value::Null);
    assert!(xai.get("secret").is_none(), "raw secret only with --show-secrets");
    assert_eq!(xai["fingerprint"].as_str().unwrap().len(), 32);
    assert_eq!(report["stats"]["skipped_binary"], 1);
    assert_eq!(report["stats"]["files"], 4, "{report}");
    assert!(!stdout(&out).contains(&token), "the raw secret leaked into the report");
}

#[test]
fn show_secrets_adds_the_raw_value() {
    let out = revokd(&tree(), &["scan", "src", "--format", "jsonl", "--show-secrets"], b"");
    let line: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["secret"], example_token("xai.toml", "xai-"));
}

#[test]
fn jsonl_has_one_object_per_finding() {
    let out = revokd(&tree(), &["scan", "--format", "jsonl"], b"");
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["fingerprint"].is_string()));
}

#[test]
fn human_report_is_path_line_column_rule_redacted() {
    let out = revokd(&tree(), &["scan"], b"");
    let text = stdout(&out);
    assert!(text.contains("src/app.py:3:12 xai_api_key xai-…"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when piped");
}

#[test]
fn sarif_is_2_1_0_with_rules_results_and_fingerprints() {
    let out = revokd(&tree(), &["scan", "--format", "sarif"], b"");
    let sarif = json(&out);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "xai_api_key"));
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let result = &results[1];
    assert_eq!(result["ruleId"], "xai_api_key");
    assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], "xai_api_key");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(3), Some(12)));
    assert!(result["partialFingerprints"]["revokdFingerprint/v1"].is_string());
}

#[test]
fn output_file_receives_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.json");
    let out = revokd(&tree(), &["scan", "--format", "json", "--output", target.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let report: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 2);
}

#[test]
fn no_findings_exits_0() {
    let out = revokd(&tree(), &["scan", "clean.txt"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn no_ignore_scans_gitignored_files() {
    let out = revokd(&tree(), &["scan", "--no-ignore", "--format", "jsonl"], b"");
    assert!(stdout(&out).contains("build/out.txt"), "{}", stdout(&out));
}

#[test]
fn binary_files_are_scanned_only_when_asked() {
    let out = revokd(&tree(), &["scan", "blob.bin"], b"");
    assert_eq!(out.status.code(), Some(0));
    let out = revokd(&tree(), &["scan", "blob.bin", "--scan-binary"], b"");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn stdin_is_scanned_as_dash() {
    let token = example_token("github.toml", "ghp_");
    let out = revokd(Path::new("."), &["scan", "-", "--format", "jsonl"], format!("x\n  {token}\n").as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((line["path"].as_str(), line["line"].as_u64(), line["column"].as_u64()), (Some("-"), Some(2), Some(3)));
}

#[test]
fn baseline_suppresses_known_findings_and_keeps_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let token = example_token("xai.toml", "xai-");
    std::fs::write(dir.path().join("a.txt"), format!("{token}\n")).unwrap();
    let out = revokd(dir.path(), &["scan", "--write-baseline", "base.json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let out = revokd(dir.path(), &["scan", "a.txt", "--baseline", "base.json"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    std::fs::write(dir.path().join("b.txt"), format!("{token}\n")).unwrap();
    let out = revokd(dir.path(), &["scan", "a.txt", "b.txt", "--baseline", "base.json"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("b.txt:1:1 "), "{}", stdout(&out));
}

#[test]
fn a_broken_baseline_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.json"), "[1,2").unwrap();
    let out = revokd(dir.path(), &["scan", "--baseline", "base.json"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a revokd JSON report"), "{}", stderr(&out));
}

/// Files are skipped above `--max-file-size` (with a warning and `skipped_large`), at the
/// byte, both below the read buffer (4 MiB) and above it, where the size is only asked
/// once the first buffer is full.
#[test]
fn files_over_the_size_limit_are_skipped_at_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let token = example_token("xai.toml", "xai-");
    let padded = |len: usize| {
        let mut text = format!("{token}\n").into_bytes();
        text.resize(len, b'.');
        text
    };
    std::fs::write(dir.path().join("at.txt"), padded(200)).unwrap();
    std::fs::write(dir.path().join("over.txt"), padded(201)).unwrap();
    std::fs::write(dir.path().join("empty.txt"), b"").unwrap();
    let out = revokd(dir.path(), &["scan", ".", "--format", "json", "--max-file-size", "200"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let paths: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["at.txt"]);
    assert_eq!(report["stats"]["skipped_large"], 1, "{report}");
    assert!(stderr(&out).contains("over.txt: skipped, 201 bytes is over the 200 byte limit"), "{}", stderr(&out));

    // Larger than the read buffer: the secret at the end is found under the limit, and
    // the file is skipped over it.
    let big = 5 * 1024 * 1024;
    let mut text = vec![b'.'; big];
    text.extend_from_slice(format!("\n{token}\n").as_bytes());
    std::fs::write(dir.path().join("big.txt"), &text).unwrap();
    let limit = text.len().to_string();
    let out = revokd(dir.path(), &["scan", "big.txt", "--format", "json", "--max-file-size", &limit], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(json(&out)["findings"][0]["line"], 2);
    let limit = (text.len() - 1).to_string();
    let out = revokd(dir.path(), &["scan", "big.txt", "--format", "json", "--max-file-size", &limit], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["stats"]["skipped_large"], 1);

    let out = revokd(dir.path(), &["scan", "empty.txt", "at.txt", "--format", "json", "--max-file-size", "0"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["stats"]["skipped_large"], 1);
    assert_eq!(json(&out)["stats"]["files"], 1);
}

#[test]
fn unreadable_file_is_a_warning_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let token = example_token("xai.toml", "xai-");
    std::fs::write(dir.path().join("a.txt"), format!("{token}\n")).unwrap();
    // Root reads any file whatever its mode; /proc/self/clear_refs opens but fails to read.
    let unreadable = if is_root() {
        "/proc/self/clear_refs".to_string()
    } else {
        let path = dir.path().join("secret.txt");
        std::fs::write(&path, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        path.display().to_string()
    };
    let out = revokd(dir.path(), &["scan", "a.txt", &unreadable, "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(json(&out)["stats"]["errors"], 1);
    assert!(stderr(&out).contains("warning:"), "{}", stderr(&out));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

#[test]
fn missing_path_is_exit_2() {
    let out = revokd(&tree(), &["scan", "does-not-exist"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does-not-exist: no such file or directory"));
}

#[test]
fn broken_pattern_file_is_exit_2_naming_file_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("scan/broken-rule.toml"), dir.path().join("broken.toml")).unwrap();
    let out = revokd(&tree(), &["scan", "--patterns", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("broken.toml: rule broken: regex does not parse"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn a_rule_whose_example_fails_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("scan/bad-example-rule.toml"), dir.path().join("acme.toml")).unwrap();
    let out = revokd(&tree(), &["scan", "--patterns", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rule acme_token: example does not match"), "{}", stderr(&out));
}

#[test]
fn user_patterns_add_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("scan/custom-rule.toml"), dir.path().join("acme.toml")).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("c.env"), "ACME=acme_3f9a1c77b2e04d5c8a6b19e0f2d4c7a1\n").unwrap();
    let out = revokd(work.path(), &["scan", "--patterns", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("c.env:1:6 acme_token acme_…"), "{}", stdout(&out));
}

#[test]
fn patterns_test_reports_failures_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("scan/bad-example-rule.toml"), dir.path().join("acme.toml")).unwrap();
    let out = revokd(Path::new("."), &["patterns", "test", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAIL "), "{}", stdout(&out));
    let out = revokd(Path::new("."), &["patterns", "test"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn patterns_list_json_lists_shipped_rules() {
    let out = revokd(Path::new("."), &["patterns", "list", "--format", "json"], b"");
    let list = json(&out);
    assert!(list.as_array().unwrap().iter().any(|r| r["id"] == "github_token" && r["confidence"] == "high"));
}

#[test]
fn min_confidence_filters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.toml"), LOW_RULE).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("c.txt"), "zorg_pass = 'Xq7fP2mLk9Rt'\n").unwrap();
    let patterns = dir.path().to_str().unwrap();
    let out = revokd(work.path(), &["scan", "--patterns", patterns], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = revokd(work.path(), &["scan", "--patterns", patterns, "--min-confidence", "high"], b"");
    assert_eq!(out.status.code(), Some(0));
}

const LOW_RULE: &str = r#"
[[rules]]
id = "zorg_password"
name = "Zorg password"
keywords = ["zorg_pass"]
regex = "zorg_pass\\s*=\\s*'(?P<secret>[^']{8,})'"
"#;

/// SARIF accepted by GitHub code scanning: Microsoft's SARIF Multitool with GitHub's
/// rules reports nothing. `.ci/run` installs the tool and sets `SARIF_MULTITOOL`; on a
/// developer machine without it the check is skipped with a message, in CI it is required.
#[test]
fn sarif_passes_the_multitool_github_rules() {
    let Some(tool) = std::env::var_os("SARIF_MULTITOOL") else {
        assert!(std::env::var_os("CI").is_none(), "CI must set SARIF_MULTITOOL");
        eprintln!("SARIF_MULTITOOL not set: skipping the SARIF Multitool check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("report.sarif");
    let out = revokd(&tree(), &["scan", "--format", "sarif", "--output", sarif.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let log = dir.path().join("validation.sarif");
    let result = std::process::Command::new(tool)
        .args(["validate", "--rule-kind", "Gh;Sarif", "--log", "ForceOverwrite", "-o"])
        .arg(&log)
        .arg(&sarif)
        .output()
        .expect("the SARIF Multitool runs");
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{text}");
    assert!(!text.contains(": error "), "{text}");
    assert!(!text.contains(": warning "), "{text}");
}

#[test]
fn gitleaks_import_converts_what_it_can_and_the_result_scans() {
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("imported.toml");
    let config = fixture("gitleaks/config.toml");
    let out = revokd(
        dir.path(),
        &["patterns", "import-gitleaks", config.to_str().unwrap(), "--output", converted.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "three rules cannot convert: {}", stderr(&out));
    let err = stderr(&out);
    for (rule, reason) in
        [("key-files", "path-only rule"), ("unanchored", "fixed literal"), ("bad-regex", "regex does not parse")]
    {
        assert!(err.contains(&format!("not converted: {rule}: ")) && err.contains(reason), "{rule}: {err}");
    }
    assert!(err.contains("3 rule(s) converted"), "{err}");
    let text = std::fs::read_to_string(&converted).unwrap();
    assert!(text.contains(r#"prefixes = ["zt-live-", "zt-test-"]"#), "{text}");
    assert!(text.contains("(?P<secret>acme_"), "{text}");

    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("cfg.ini"),
        "acme = acme_3f9a1c77b2e04d5c8a6b19e0f2d4c7a1\npassword = \"changeme-123\"\npassword = 'Tr0ub4dor&3x'\n",
    )
    .unwrap();
    let out = revokd(work.path(), &["scan", "--patterns", dir.path().to_str().unwrap(), "--format", "jsonl"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rules: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rules, ["acme_api_key", "generic_password"], "the stopword suppresses changeme");
}

#[test]
fn gitleaks_import_of_garbage_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.toml"), "[[rules]\nid=").unwrap();
    let out = revokd(dir.path(), &["patterns", "import-gitleaks", "g.toml"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a gitleaks configuration"), "{}", stderr(&out));
}
