#!/usr/bin/env bash
# Partner-webhook load against the deployments of issue 9, in one run:
#   sqlite    one `revokd serve` on SQLite, one wrk with CONNECTIONS connections;
#   postgres  REPLICAS `revokd serve` processes on one PostgreSQL database, one wrk per
#             replica with CONNECTIONS/REPLICAS connections each, started together (a
#             load balancer spreads GitHub's deliveries the same way; wrk's Lua cannot
#             round-robin across hosts, and a proxy in between would measure itself).
# Signed alerts of TOKENS valid tokens each (every token an issued key: the first pass
# over the REQUESTS pre-signed alerts disables keys, later passes are repeat sightings;
# the replicas get the same alerts, so they race on the same keys).
#
# Prints per scenario: requests/s (summed over the wrk processes), p50/p99 latency (per
# wrk; the worst is the scenario's), non-2xx answers and socket errors, the daemons' RSS
# and CPU per request, and the load average (the machine is shared: compare the
# daemons' CPU per request, not only the wall-clock numbers).
#
#   bench/scale-load.sh                          # both scenarios, 64 connections, 30 s
#   SCENARIOS=sqlite DURATION=10s bench/scale-load.sh
#
# Needs: wrk, python3, psql (postgres scenario; server at PGHOST:PGPORT, trust auth), cargo.
set -euo pipefail

SCENARIOS=${SCENARIOS:-"sqlite postgres"}
REQUESTS=${REQUESTS:-4000}
TOKENS=${TOKENS:-10}
CONNECTIONS=${CONNECTIONS:-64}
REPLICAS=${REPLICAS:-2}
THREADS=${THREADS:-2}
DURATION=${DURATION:-30s}
PORT=${PORT:-18180}
KEYS_PORT=${KEYS_PORT:-18179}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}

# shellcheck source=bench/serve-lib.sh
source "$(dirname "$0")/serve-lib.sh"

# run NAME: wrk against every port in `ports` (CONNECTIONS split between them), then
# the summary line.
run() {
  local name=$1 n=${#ports[@]} i
  local per=$((CONNECTIONS / n))
  local ticks_before=0 ticks_after=0 rss_before="" rss_after=""
  for pid in "${replicas[@]}"; do
    ticks_before=$((ticks_before + $(cpu_ticks "$pid")))
    rss_before+="$(rss_kib "$pid") "
  done
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "== $name: $n replica(s), $CONNECTIONS connections ($per per replica), $TOKENS tokens per alert, $DURATION"
  local wrks=()
  for i in "${!ports[@]}"; do
    wrk -t "$THREADS" -c "$per" -d "$DURATION" --latency -s "$root/bench/webhook-load.lua" \
      "http://127.0.0.1:${ports[$i]}" -- "$work/requests.tsv" "$THREADS" > "$work/$name-wrk-$i.out" &
    wrks+=($!)
  done
  for pid in "${wrks[@]}"; do wait "$pid"; done
  for pid in "${replicas[@]}"; do
    ticks_after=$((ticks_after + $(cpu_ticks "$pid")))
    rss_after+="$(rss_kib "$pid") "
  done
  local load_after
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  for i in "${!ports[@]}"; do
    echo "-- wrk against port ${ports[$i]}"
    cat "$work/$name-wrk-$i.out"
  done
  python3 "$root/bench/wrk_summary.py" --name "$name" --cpu-ticks "$((ticks_after - ticks_before))" \
    --clk-tck "$(getconf CLK_TCK)" --rss-before "$rss_before" --rss-after "$rss_after" \
    --load-before "$load_before" --load-after "$load_after" "$work"/"$name"-wrk-*.out | tee -a "$work/summary.txt"
}

for scenario in $SCENARIOS; do
  replicas=()
  ports=()
  case $scenario in
    sqlite)
      url="sqlite://$work/sqlite.db"
      prepare "$url"
      start_replica "$url" "$PORT"
      ports=("$PORT")
      run sqlite
      ;;
    postgres)
      created_db="revokd_scale_bench_$$"
      psql -q -h "$PGHOST" -p "$PGPORT" -U postgres -c "CREATE DATABASE $created_db" postgres
      url="postgres://postgres@$PGHOST:$PGPORT/$created_db"
      prepare "$url"
      for i in $(seq 1 "$REPLICAS"); do
        start_replica "$url" "$((PORT + i))"
        ports+=("$((PORT + i))")
      done
      run postgres
      ;;
    *)
      echo "unknown scenario $scenario (sqlite, postgres)" >&2
      exit 2
      ;;
  esac
  for pid in "${replicas[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${replicas[@]}"; do wait "$pid" 2>/dev/null || true; done
done

echo "== summary ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores)"
cat "$work/summary.txt"
