#!/usr/bin/env bash
# Partner-webhook load test: signed alerts of TOKENS tokens each, CONNECTIONS concurrent
# connections, for DURATION, against `revokd serve` on 127.0.0.1 with SQLite (default) or
# PostgreSQL (DATABASE_URL=postgres://…). Every token is a real issued key, so the first
# pass over the pre-signed requests disables keys and later passes are repeat sightings.
#
# Prints wrk's throughput and latency percentiles, then the request → key-disabled
# latency from the daemon's own histogram (/metrics).
#
# wrk is a closed loop (saturation: its latency is connections ÷ throughput). With RATE
# set, the load is open-loop instead: RATE requests/s on CONNECTIONS connections, each
# request sent once (REQUESTS must cover RATE × DURATION), latency measured from each
# request's scheduled send time (examples/webhook_rate_load.rs).
#
#   bench/webhook-load.sh                      # SQLite, saturation
#   RATE=2000 DURATION=10s REQUESTS=20000 bench/webhook-load.sh   # SQLite, 2,000 requests/s
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/revokd_bench bench/webhook-load.sh
#
# Needs: wrk (Debian package), python3 (serves the key list), cargo.
set -euo pipefail

REQUESTS=${REQUESTS:-4000}
TOKENS=${TOKENS:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20s}
PORT=${PORT:-18080}
# KIND=foreign: tokens of a type we do not issue (HTTP + signature path only, no DB work).
KIND=${KIND:-issued}
KEYS_PORT=${KEYS_PORT:-18081}
RATE=${RATE:-}

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "${created_db:-}" ]]; then psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $created_db" postgres || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet --bin revokd --example webhook_load_prep --example webhook_rate_load)
revokd=${DAEMON_BIN:-$target/release/revokd}  # DAEMON_BIN: another build, for A/B runs

prep_args=("$work" "$REQUESTS" "$TOKENS")
[[ $KIND == foreign ]] && prep_args+=(foreign)
"$target/release/examples/webhook_load_prep" "${prep_args[@]}"
(cd "$work" && exec python3 -m http.server "$KEYS_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)

url=${DATABASE_URL:-sqlite://$work/revokd.db}
if [[ $url == postgres://* ]]; then
  created_db=${url##*/}
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $created_db" postgres
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $created_db" postgres
fi
head -c 32 /dev/urandom > "$work/pepper" && chmod 600 "$work/pepper"
cat > "$work/revokd.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[database]
url = "$url"
[github]
public_keys_url = "http://127.0.0.1:$KEYS_PORT/keys.json"
[keys]
pepper_file = "$work/pepper"
[log]
level = "warn"
TOML
export REVOKD_CONFIG="$work/revokd.toml"
cd "$work"
"$revokd" db migrate >/dev/null
"$revokd" teams add load --admin load@example.com >/dev/null
[[ $KIND == foreign ]] || "$revokd" keys import --team load < "$work/tokens.txt" >/dev/null

"$revokd" serve &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz"; echo

# The daemon's CPU time (user + system, clock ticks) from /proc: what the run cost it,
# independent of what else the shared machine was doing.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
ticks_before=$(cpu_ticks)
if [[ -n $RATE ]]; then
  echo "== open loop: $RATE requests/s, $CONNECTIONS connections, $TOKENS tokens per request, $url"
  "$target/release/examples/webhook_rate_load" "127.0.0.1:$PORT" "$work/requests.tsv" \
    "$CONNECTIONS" "$RATE" "${DURATION%s}" | tee "$work/load.out"
  requests_done=$(awk '/^open loop:/ {for (i = 1; i < NF; i++) if ($(i + 1) == "answered") print $i}' "$work/load.out")
else
  echo "== wrk: $CONNECTIONS connections, $TOKENS tokens per request, $REQUESTS distinct signed requests, $url"
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$root/bench/webhook-load.lua" \
    "http://127.0.0.1:$PORT" -- "$work/requests.tsv" "$THREADS" | tee "$work/wrk.out"
  requests_done=$(awk '/requests in/ {print $1}' "$work/wrk.out")
fi
ticks_after=$(cpu_ticks)
python3 - "$ticks_before" "$ticks_after" "$requests_done" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import sys
before, after, done, hz, cores = (int(x) for x in sys.argv[1:])
cpu = (after - before) / hz
per = cpu / max(done, 1)
print(f"== daemon CPU: {cpu:.2f} s for {done} requests = {per * 1e3:.3f} ms/request "
      f"(CPU-bound ceiling on {cores} cores: {cores / per if per else 0:,.0f} requests/s)")
PY

echo "== request received → key disabled (daemon histogram)"
curl -fs "http://127.0.0.1:$PORT/metrics" | python3 "$root/bench/histogram-quantiles.py" revokd_leak_to_disable_seconds
