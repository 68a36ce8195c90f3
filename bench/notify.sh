#!/usr/bin/env bash
# Owner-email benchmark: alert → email accepted by a local SMTP server (median over
# ALERTS signed alerts) and outbox throughput (EMAILS emails), plus a reference in the
# same run: Python's smtplib sending EMAILS messages over one connection to the same
# kind of server (the server's own ceiling). Needs python3-aiosmtpd.
#   bash bench/notify.sh            # PROFILE=release for an optimised build
set -euo pipefail
cd "$(dirname "$0")/.."
ALERTS=${ALERTS:-100}
EMAILS=${EMAILS:-1000}
PROFILE=${PROFILE:-dev}
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo run -q "${flag[@]}" --example notify_bench -- --alerts "$ALERTS" --emails "$EMAILS"

# Reference: the SMTP server's own throughput with a plain client.
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 tests/smtp_sink.py serve --until-killed --port "$port" --dir "$dir" </dev/null >/dev/null &
sink=$!
trap 'kill $sink 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
/usr/bin/python3 - "$port" "$EMAILS" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port, n = int(sys.argv[1]), int(sys.argv[2])
m = EmailMessage(); m["Subject"] = "reference"; m["From"] = "a@example.org"; m["To"] = "b@example.org"
m.set_content("x" * 1500); m.add_alternative("<p>" + "x" * 3000 + "</p>", subtype="html")
s = smtplib.SMTP("127.0.0.1", port); t = time.time()
for _ in range(n):
    s.send_message(m)
print("reference: Python smtplib, one connection, same server: %.0f emails/s" % (n / (time.time() - t)))
PY
