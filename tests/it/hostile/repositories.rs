//! Hostile trees and repositories for `revokd scan` and `revokd scan --git`: symlink
//! loops, huge and sparse files, odd file names, corrupt packs and refs. Each is a
//! warning (the rest is still scanned) or exit 2 with a message; never a panic or hang.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::Value;

use super::files::run;
use crate::scan_git::Repo;
use crate::support::{stderr, stdout};
use crate::testdb::xai_token;

fn report(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("JSON report ({e}); stderr: {}", stderr(output)))
}

/// Paths of the findings in a JSON report, sorted.
fn finding_paths(report: &Value) -> Vec<String> {
    let mut paths: Vec<String> =
        report["findings"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
    paths.sort();
    paths
}

#[test]
fn symlink_loops_huge_files_and_odd_names_in_a_tree() {
    let secret = xai_token();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(".", root.join("sub/self")).unwrap();
    std::os::unix::fs::symlink("../sub", root.join("sub/parent")).unwrap();
    std::os::unix::fs::symlink("loop-b", root.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", root.join("loop-b")).unwrap();
    // A sparse 100 MiB file: over the default size limit, skipped without reading it.
    std::fs::File::create(root.join("huge.bin")).unwrap().set_len(100 << 20).unwrap();
    // Names that are not UTF-8, contain a newline, start with a dash, are 255 bytes.
    let odd: Vec<&[u8]> = vec![b"bad-\xff\xfe.txt", b"new\nline.txt", b"-rf", b"\x1b[31mred.txt"];
    for name in &odd {
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(name)), format!("k = '{secret}'\n")).unwrap();
    }
    let long = "l".repeat(250) + ".txt";
    std::fs::write(root.join(&long), format!("{secret}\n")).unwrap();
    for format in ["json", "sarif", "human", "jsonl"] {
        let output = run(root, &["scan", "--format", format, "."]);
        assert_eq!(output.status.code(), Some(1), "{format}: {}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        if format == "json" {
            let report = report(&output);
            assert_eq!(report["findings"].as_array().unwrap().len(), odd.len() + 1, "{report}");
            assert_eq!(report["stats"]["skipped_large"], 1, "{report}");
        }
    }
    // Following symlinks is not what a scan does: the loops are not entered.
    let output = run(root, &["scan", "--format", "json", "loop-a"]);
    assert!(matches!(output.status.code(), Some(0 | 2)), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn odd_paths_in_history_are_reported_as_git_stores_them() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("normal.txt", &format!("{secret}\n"));
    std::fs::write(repo.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), format!("{secret}\n")).unwrap();
    std::fs::write(repo.path().join("tab\there.txt"), format!("{secret}\n")).unwrap();
    repo.write("deep/a/b/c/d/e/f/g/h/i/j/k.txt", &format!("{secret}\n"));
    std::os::unix::fs::symlink("normal.txt", repo.path().join("link.txt")).unwrap();
    std::os::unix::fs::symlink("loop", repo.path().join("loop")).unwrap();
    repo.commit("odd paths");
    let output = run(Path::new("/"), &["scan", "--git", "--format", "json", repo.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let paths = finding_paths(&report(&output));
    assert_eq!(paths.len(), 4, "symlinks are blobs holding a path, not followed: {paths:?}");
    assert!(paths.contains(&"tab\there.txt".to_string()), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("caf")), "{paths:?}");
}

#[test]
fn corrupt_packs_and_refs_are_warnings_or_exit_2() {
    let secret = xai_token();
    let mut repo = Repo::new();
    repo.write("a.txt", &format!("{secret}\n"));
    repo.commit("one");
    repo.write("b.txt", "clean\n");
    repo.commit("two");
    repo.git(&["gc", "--quiet", "--aggressive"]);
    let pack_dir = repo.path().join(".git/objects/pack");
    let pack = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("gc wrote a pack");
    let original = std::fs::read(&pack).unwrap();
    let target = repo.path().to_str().unwrap().to_string();
    let scan = || run(Path::new("/"), &["scan", "--git", "--format", "json", &target]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zeroed middle", {
            let mut bytes = original.clone();
            let middle = bytes.len() / 2;
            let end = bytes.len().min(middle + 64);
            bytes[middle..end].fill(0);
            bytes
        }),
        ("truncated", original[..original.len() / 2].to_vec()),
        ("garbage", b"PACK\0\0\0\x02garbage".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in cases {
        make_writable(&pack);
        std::fs::write(&pack, &bytes).unwrap();
        let output = scan();
        let err = stderr(&output);
        assert!(!err.contains("panicked"), "{what}: {err}");
        match output.status.code() {
            // Whatever could be read was scanned; what could not is counted and named.
            Some(0 | 1) => {
                let report = report(&output);
                assert!(report["stats"]["errors"].as_u64().unwrap() >= 1, "{what}: {report}");
                assert!(err.contains("warning"), "{what}: {err}");
            }
            Some(2) => assert!(!err.trim().is_empty(), "{what}"),
            other => panic!("{what}: exit {other:?}: {err}"),
        }
    }
    make_writable(&pack);
    std::fs::write(&pack, &original).unwrap();
    // A ref that points at nothing, and a ref file of garbage.
    std::fs::write(repo.path().join(".git/refs/heads/ghost"), "0123456789012345678901234567890123456789\n").unwrap();
    std::fs::write(repo.path().join(".git/refs/heads/junk"), "not a ref at all\n").unwrap();
    let output = scan();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(matches!(output.status.code(), Some(1 | 2)), "{}", stderr(&output));
    // HEAD of garbage: the references are still enumerated and scanned.
    std::fs::write(repo.path().join(".git/HEAD"), [0xff, 0xfe, 0x00]).unwrap();
    let output = scan();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(matches!(output.status.code(), Some(1 | 2)), "{}", stderr(&output));
}

fn make_writable(path: &Path) {
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(path, permissions).unwrap();
}
