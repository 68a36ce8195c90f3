//! The git scan as a library, as the scan API's worker drives it: stopping a scan
//! between blobs (cancellation), and cloning a URL pinned to a checked address with
//! redirects refused (against a dumb-HTTP git server on loopback, Python's
//! `http.server`).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use revokd::git::{self, BlobScanOptions, CloneOptions, Depth, GitError, Pin, Progress, Redirects, RefSelection};
use revokd::patterns::RuleSet;
use revokd::scan::Scanner;

use crate::scan_git::{Repo, git_in};

/// Asks to stop once `after` blobs were scanned.
struct StopAfter {
    done: AtomicU64,
    after: u64,
}

impl Progress for StopAfter {
    fn stop_requested(&self) -> bool {
        self.done.load(Ordering::Relaxed) >= self.after
    }

    fn blob_done(&self, _bytes: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn scanner() -> Scanner {
    Scanner::new(Arc::new(RuleSet::load(&[]).unwrap())).unwrap()
}

#[test]
fn a_stop_request_ends_the_scan_between_blobs() {
    let mut repo = Repo::new();
    for n in 0..20 {
        repo.write(&format!("f{n:02}.txt"), &format!("file number {n}\n"));
    }
    repo.commit("twenty files");
    let opened = git::open(&repo.path().display().to_string()).unwrap();
    let history = git::enumerate(&opened.repo, &RefSelection::All, Depth::History, &git::NoProgress).unwrap();
    assert_eq!(history.blobs.len(), 20);
    let options = BlobScanOptions { threads: 1, max_file_size: 1 << 20, read: Default::default() };
    let never = StopAfter { done: AtomicU64::new(0), after: u64::MAX };
    let full = git::scan_history(&opened.repo, &scanner(), &history, &Default::default(), &options, &never);
    assert!(!full.stopped);
    assert_eq!((full.output.stats.files, full.clean_blobs.len()), (20, 20));

    let stop = StopAfter { done: AtomicU64::new(0), after: 3 };
    let stopped = git::scan_history(&opened.repo, &scanner(), &history, &Default::default(), &options, &stop);
    assert!(stopped.stopped, "the scan says it was stopped");
    assert_eq!(stopped.output.stats.files, 3, "no blob was read after the stop request");
    assert_eq!(stopped.clean_blobs.len(), 3, "only scanned blobs are clean");

    // Enumeration checks between commits.
    let at_once = StopAfter { done: AtomicU64::new(0), after: 0 };
    let err = git::enumerate(&opened.repo, &RefSelection::All, Depth::History, &at_once).unwrap_err();
    assert!(matches!(err, GitError::Stopped), "{err}");
}

/// A dumb-HTTP git server on 127.0.0.1: `/repo.git/…` serves a bare copy of a
/// repository; `/moved.git/…` answers 301 to the same path under `/repo.git/`.
/// Stopped when dropped.
struct GitHttp {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

const SERVER: &str = r#"
import http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/moved.git/"):
            self.send_response(301)
            self.send_header("Location", "/repo.git/" + self.path[len("/moved.git/"):])
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=sys.argv[1]))
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl GitHttp {
    fn start(repo: &Repo) -> GitHttp {
        let dir = tempfile::tempdir().unwrap();
        let source = repo.path().display().to_string();
        git_in(dir.path(), &["clone", "--quiet", "--bare", &source, "repo.git"], 0);
        git_in(&dir.path().join("repo.git"), &["update-server-info"], 0);
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", SERVER])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        GitHttp { child, port, _dir: dir }
    }

    fn pin(&self, host: &str) -> Pin {
        Pin { host: host.into(), port: self.port, addr: IpAddr::V4(Ipv4Addr::LOCALHOST) }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_pinned_clone_connects_to_the_checked_address_and_refuses_redirects() {
    let mut repo = Repo::new();
    repo.write("README", "hello\n");
    let head = repo.commit("first");
    let server = GitHttp::start(&repo);
    // A name no resolver knows (RFC 6761): only the pin can lead to the server.
    let host = "revokd-pinned.invalid";
    let url = format!("http://{host}:{}/repo.git", server.port);
    let err = git::open(&url).err().expect("unpinned, the name does not resolve");
    assert!(matches!(err, GitError::Clone { .. }), "{err}");

    let pinned = CloneOptions { pin: Some(server.pin(host)), redirects: Redirects::Refuse };
    let opened = git::open_with(&url, &pinned).unwrap();
    assert_eq!(opened.repo.head_id().unwrap().to_string(), head);

    // A redirect (to the very same server) is refused when asked, followed otherwise.
    let moved = format!("http://{host}:{}/moved.git", server.port);
    let err = git::open_with(&moved, &pinned).err().expect("a redirect is refused");
    assert!(err.to_string().contains("301"), "the redirect is an error: {err}");
    let following = CloneOptions { redirects: Redirects::Follow, ..pinned };
    assert!(git::open_with(&moved, &following).is_ok());
}
