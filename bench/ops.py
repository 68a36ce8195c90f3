#!/usr/bin/env python3
"""Operations measurements for the closing note of issue 7 (run: python3 bench/ops.py).

Runs the real `revokd serve` under a notify socket owned by this script and measures:
  1. start -> READY=1 on an existing, migrated SQLite database (median of RUNS starts),
     with a local HTTP server playing GitHub's public-key endpoint;
  2. idle RSS (VmRSS) 2 s after READY=1;
  3. SIGTERM -> exit with 20 requests in flight (each has sent half its body; the rest
     is sent right after SIGTERM), against SIGTERM -> exit with none in flight
     (the reference, same run);
  4. the unit's `systemd-analyze security --offline=true` exposure score.

Binary: $BENCH_REVOKD, else target/release/revokd, else the debug build (reported).
"""
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RUNS = int(os.environ.get("RUNS", "10"))
IN_FLIGHT = 20


def binary():
    for path in [os.environ.get("BENCH_REVOKD"), os.path.join(TARGET, "release/revokd"), os.path.join(TARGET, "debug/revokd")]:
        if path and os.access(path, os.X_OK):
            return path
    sys.exit("build revokd first (cargo build --release)")


def key_server():
    """Serves one P-256 public key the way GitHub lists them; returns its URL."""
    pem = subprocess.run(
        "openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout 2>/dev/null",
        shell=True, check=True, capture_output=True, text=True).stdout
    body = json.dumps({"public_keys": [{"key_identifier": "ab" * 32, "key": pem, "is_current": True}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/meta/public_keys/secret_scanning"


class Daemon:
    def __init__(self, exe, workdir):
        self.sock_path = os.path.join(workdir, f"notify-{time.monotonic_ns()}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path)
        env.pop("RUST_LOG", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([exe, "--config", "revokd.toml", "serve"], cwd=workdir, env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "revokd.log"), "a"))

    def wait(self, state):
        while True:
            message = self.sock.recv(4096).decode()
            if state in message.splitlines():
                return time.perf_counter(), message

    def ready(self):
        at, message = self.wait("READY=1")
        status = [l for l in message.splitlines() if l.startswith("STATUS=listening on ")][0]
        self.addr = status.split("listening on ")[1].split(";")[0]
        return at - self.started

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int([l for l in f if l.startswith("VmRSS:")][0].split()[1])

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        os.unlink(self.sock_path)


def sigterm_exit(exe, workdir, in_flight):
    d = Daemon(exe, workdir)
    d.ready()
    host, port = d.addr.rsplit(":", 1)
    body = json.dumps([{"token": "xai-" + "A" * 80, "type": "xai_api_key", "url": "", "source": "content"}]).encode()
    head = (f"POST /github/secret-scanning HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: {'ab' * 32}\r\n"
            f"Github-Public-Key-Signature: MEUCIQ==\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    conns = []
    for _ in range(in_flight):
        c = socket.create_connection((host, int(port)))
        c.sendall(head + body[: len(body) // 2])
        conns.append(c)
    time.sleep(0.3)
    t0 = time.perf_counter()
    d.proc.terminate()
    for c in conns:
        c.sendall(body[len(body) // 2:])
    answered = sum(1 for c in conns if c.recv(64).startswith(b"HTTP/1.1 "))
    code = d.proc.wait(timeout=60)
    elapsed = time.perf_counter() - t0
    d.close()
    return elapsed, code, answered


def main():
    exe = binary()
    workdir = tempfile.mkdtemp(prefix="revokd-ops-bench-")
    keys_url = key_server()
    with open(os.path.join(workdir, "revokd.toml"), "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\n[database]\nurl = "sqlite://{workdir}/revokd.db"\n'
                f'[github]\npublic_keys_url = "{keys_url}"\n[log]\nlevel = "warn"\n')
    # First start creates and migrates the database; it is not measured.
    d = Daemon(exe, workdir)
    d.ready()
    d.proc.terminate()
    d.proc.wait()
    d.close()

    starts, rss = [], []
    for _ in range(RUNS):
        d = Daemon(exe, workdir)
        starts.append(d.ready() * 1000)
        time.sleep(2)
        rss.append(d.rss_kib() / 1024)
        d.proc.terminate()
        d.proc.wait()
        d.close()

    idle = [sigterm_exit(exe, workdir, 0) for _ in range(3)]
    busy = [sigterm_exit(exe, workdir, IN_FLIGHT) for _ in range(3)]

    unit = os.path.join(ROOT, "systemd/revokd.service")
    score = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]

    print(f"binary: {exe}")
    print(f"start -> READY=1 (existing db, {RUNS} runs): median {statistics.median(starts):.1f} ms, "
          f"min {min(starts):.1f}, max {max(starts):.1f} (target <= 200 ms)")
    print(f"idle RSS 2 s after READY: median {statistics.median(rss):.1f} MiB, max {max(rss):.1f} (target <= 40 MiB)")
    print(f"SIGTERM -> exit, idle: median {statistics.median(t for t, _, _ in idle) * 1000:.1f} ms, "
          f"exit codes {[c for _, c, _ in idle]}")
    print(f"SIGTERM -> exit, {IN_FLIGHT} in flight: median {statistics.median(t for t, _, _ in busy) * 1000:.1f} ms, "
          f"exit codes {[c for _, c, _ in busy]}, answered {[a for _, _, a in busy]} of {IN_FLIGHT}")
    print(f"unit: {score}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
