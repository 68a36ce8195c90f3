//! Hostile pattern files, configuration files and gitleaks configurations through the
//! real binary: exit 2 with a message that names the file (and the key or rule), never a
//! panic, never a hang.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::stderr;

/// Runs the real binary in `dir`; kills it after 60 s (a hang is a failure).
pub fn run(dir: &Path, args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_revokd"))
        .args(args)
        .current_dir(dir)
        .env_remove("REVOKD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the revokd binary runs");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    // The pipes are drained while waiting, so a large report cannot block the child.
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output().expect("revokd exits");
        let _ = done.send(());
        output
    });
    if finished.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let output = waiter.join().expect("the waiter returns");
        panic!("revokd {args:?} hung for 60 s; stderr: {}", stderr(&output));
    }
    waiter.join().expect("the waiter returns")
}

/// Asserts exit 2, no panic, and that stderr contains every one of `needles`.
#[track_caller]
pub fn expect_exit_2(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
}

const GOOD_RULE: &str = "[[rules]]\nid = 'ok'\nname = 'Ok'\nprefixes = ['okk_']\nregex = 'okk_[0-9]{8}'\n";

#[test]
fn hostile_pattern_files_are_exit_2_naming_the_file() {
    let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge_regex = "[[rules]]\nid = 'big'\nname = 'B'\nprefixes = ['big']\nregex = 'big\\w{1000}{1000}'\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not UTF-8", b"[[rules]]\nid = '\xff\xfe'\n".to_vec(), "bad.toml"),
        ("NUL bytes", b"[[rules]]\0\0\0".to_vec(), "bad.toml"),
        ("deep nesting", deep.into_bytes(), "bad.toml"),
        ("regex over the size limit", huge_regex.as_bytes().to_vec(), "rule big"),
        ("numbers where strings belong", b"[[rules]]\nid = 1\nname = 2\nregex = 3\n".to_vec(), "bad.toml"),
        (
            "negative max_len",
            b"[[rules]]\nid='a'\nname='A'\nprefixes=['abc']\nregex='abc'\nmax_len=-1\n".to_vec(),
            "bad.toml",
        ),
        (
            "NaN entropy",
            b"[[rules]]\nid='a'\nname='A'\nprefixes=['abc']\nregex='abc.+'\nmin_entropy=nan\n".to_vec(),
            "min_entropy",
        ),
        ("look-around regex", b"[[rules]]\nid='a'\nname='A'\nprefixes=['abc']\nregex='abc(?=x)'\n".to_vec(), "rule a"),
        ("duplicate ids", [GOOD_RULE, GOOD_RULE].concat().into_bytes(), "duplicate rule id"),
        ("10 MB of comments", format!("{GOOD_RULE}{}", "# padding\n".repeat(1_000_000)).into_bytes(), ""),
    ];
    for (what, text, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let patterns = dir.path().join("patterns");
        std::fs::create_dir(&patterns).unwrap();
        std::fs::write(patterns.join("bad.toml"), &text).unwrap();
        let output = run(dir.path(), &["scan", "--patterns", "patterns", "--format", "json", "patterns"]);
        if needle.is_empty() {
            // A big but valid file loads.
            assert!(matches!(output.status.code(), Some(0 | 1)), "{what}: {}", stderr(&output));
            continue;
        }
        expect_exit_2(&output, &[needle]);
        let err = stderr(&output);
        assert!(err.lines().count() <= 20, "{what}: the message stays short: {err}");
    }
}

#[test]
fn pattern_directories_with_odd_entries_are_errors_not_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().join("patterns");
    std::fs::create_dir(&patterns).unwrap();
    // A directory, a dangling symlink and a symlink loop named like rule files.
    std::fs::create_dir(patterns.join("dir.toml")).unwrap();
    let output = run(dir.path(), &["scan", "--patterns", "patterns", "patterns"]);
    expect_exit_2(&output, &["dir.toml"]);
    std::fs::remove_dir(patterns.join("dir.toml")).unwrap();
    std::os::unix::fs::symlink("missing.toml", patterns.join("dangling.toml")).unwrap();
    let output = run(dir.path(), &["scan", "--patterns", "patterns", "patterns"]);
    expect_exit_2(&output, &["dangling.toml"]);
    std::fs::remove_file(patterns.join("dangling.toml")).unwrap();
    std::os::unix::fs::symlink("b.toml", patterns.join("a.toml")).unwrap();
    std::os::unix::fs::symlink("a.toml", patterns.join("b.toml")).unwrap();
    let output = run(dir.path(), &["scan", "--patterns", "patterns", "patterns"]);
    expect_exit_2(&output, &["a.toml"]);
    std::fs::remove_file(patterns.join("a.toml")).unwrap();
    std::fs::remove_file(patterns.join("b.toml")).unwrap();
    // A FIFO named like a rule file: reading it would block forever.
    let status = Command::new("mkfifo").arg(patterns.join("fifo.toml")).status().expect("mkfifo runs");
    assert!(status.success());
    let output = run(dir.path(), &["scan", "--patterns", "patterns", "patterns"]);
    expect_exit_2(&output, &["fifo.toml", "not a regular file"]);
    // A missing directory.
    let output = run(dir.path(), &["scan", "--patterns", "nowhere", "patterns"]);
    expect_exit_2(&output, &["nowhere"]);
}

#[test]
fn hostile_config_files_are_exit_2_naming_the_key() {
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("not UTF-8", b"[server]\nlisten = '\xff'\n".to_vec(), &["revokd.toml"]),
        ("NUL", b"[server]\0".to_vec(), &["revokd.toml"]),
        ("unknown key", b"[server]\nlisen = '127.0.0.1:1'\n".to_vec(), &["lisen"]),
        ("string where a number belongs", b"[server]\nmax_connections = 'many'\n".to_vec(), &["max_connections"]),
        ("number too large", b"[server]\nmax_connections = 99999999999999\n".to_vec(), &["max_connections"]),
        ("negative number", b"[retention]\ndays = -1\n".to_vec(), &["days"]),
        ("duration overflow", b"[notify]\nretry_base = '99999999999999999999w'\n".to_vec(), &["retry_base"]),
        (
            "duration of weeks times millis overflow",
            b"[notify]\nretry_base = '30500000000000w'\n".to_vec(),
            &["retry_base"],
        ),
        ("zero timeout", b"[server]\nheader_read_timeout = '0s'\n".to_vec(), &["server.header_read_timeout"]),
        ("bad listen address", b"[server]\nlisten = 'localhost'\n".to_vec(), &["listen"]),
        ("deep nesting", format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), &["revokd.toml"]),
        ("a table where a value belongs", b"[database]\nurl = { a = 1 }\n".to_vec(), &["url"]),
        ("unsupported database", b"[database]\nurl = 'mysql://u:hunter2@h/db'\n".to_vec(), &["database.url", "***"]),
    ];
    for (what, text, needles) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("revokd.toml"), &text).unwrap();
        let output = run(dir.path(), &["--config", "revokd.toml", "check-config"]);
        expect_exit_2(&output, needles);
        assert!(!stderr(&output).contains("hunter2"), "{what}: a password reached the message");
    }
    let dir = tempfile::tempdir().unwrap();
    expect_exit_2(&run(dir.path(), &["--config", "missing.toml", "check-config"]), &["missing.toml"]);
    expect_exit_2(&run(dir.path(), &["--config", ".", "check-config"]), &["cannot read config file"]);
}

#[test]
fn hostile_gitleaks_configs_convert_what_loads_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bytes.toml"), b"[[rules]]\nid = '\xff'\n").unwrap();
    expect_exit_2(&run(dir.path(), &["patterns", "import-gitleaks", "bytes.toml"]), &["bytes.toml"]);
    // Ids that become equal in snake_case, a secretGroup beyond the groups, regexes our
    // engine rejects, keywords shorter than a literal, an empty id.
    let config = r#"
[[rules]]
id = "acme-key"
regex = 'acme_[0-9a-f]{32}'
keywords = ["acme"]
[[rules]]
id = "acme_key"
regex = 'acme_[0-9a-f]{16}'
keywords = ["acme"]
[[rules]]
id = "ACME.KEY"
regex = 'ACME[0-9]{8}'
[[rules]]
id = "group"
regex = '(tok)_([0-9]{8})'
secretGroup = 9
keywords = ["tok_"]
[[rules]]
id = "lookahead"
regex = 'abc(?=def)'
keywords = ["abc"]
[[rules]]
id = "short"
regex = 'x+y[0-9]{4}'
keywords = ["xy"]
[[rules]]
id = ""
regex = 'zzz[0-9]{4}'
keywords = ["zzz"]
[[rules]]
id = "huge"
regex = '\w{1000}{1000}'
keywords = ["huge"]
"#;
    std::fs::write(dir.path().join("gitleaks.toml"), config).unwrap();
    let converted = dir.path().join("patterns");
    std::fs::create_dir(&converted).unwrap();
    let output =
        run(dir.path(), &["patterns", "import-gitleaks", "gitleaks.toml", "--output", "patterns/imported.toml"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "some rules cannot convert: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for (rule, reason) in [
        ("acme_key", "duplicate rule id"),
        ("group", "secretGroup 9"),
        ("lookahead", "rule lookahead"),
        ("short", "no keywords"),
        ("huge", "rule huge"),
    ] {
        assert!(err.contains(&format!("not converted: {rule}: ")) && err.contains(reason), "{rule}: {err}");
    }
    // What was converted loads as it is.
    let work = tempfile::tempdir().unwrap();
    let output = run(work.path(), &["scan", "--patterns", converted.to_str().unwrap(), "."]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
