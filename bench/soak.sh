#!/usr/bin/env bash
# Soak: one `revokd serve` on SQLite under a steady RATE of signed 10-token alerts for
# DURATION (default 10 minutes at 1,000 requests/s, half the 2,000 requests/s target),
# sampling the daemon's RSS every SAMPLE seconds. Prints the RSS samples (start, every
# sample, end), the database size, and wrk's summary line (achieved rate, p50/p99,
# errors) with the load average.
#
#   bench/soak.sh                         # 10 minutes
#   DURATION=60 RATE=500 bench/soak.sh    # shorter, slower
#
# The pacing is a fixed schedule per wrk thread (bench/soak.lua: one request every
# THREADS*1000/RATE ms, shared by the thread's connections), so the achieved rate is
# RATE unless the daemon cannot keep up; the summary prints the achieved rate.
# Needs: wrk, python3, cargo.
set -euo pipefail

REQUESTS=${REQUESTS:-4000}
TOKENS=${TOKENS:-10}
RATE=${RATE:-1000}
DURATION=${DURATION:-600}
SAMPLE=${SAMPLE:-30}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PORT=${PORT:-18190}
KEYS_PORT=${KEYS_PORT:-18189}

# shellcheck source=bench/serve-lib.sh
source "$(dirname "$0")/serve-lib.sh"

replicas=()
url="sqlite://$work/soak.db"
prepare "$url"
start_replica "$url" "$PORT"
daemon=${replicas[0]}
interval=$(python3 -c "print($THREADS * 1000 / $RATE)")
ticks_before=$(cpu_ticks "$daemon")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rss_start=$(rss_kib "$daemon")
echo "== soak: $RATE requests/s ($CONNECTIONS connections, $THREADS threads, one request every ${interval} ms per thread), $TOKENS tokens per alert, ${DURATION}s"
echo "t=0s rss=$((rss_start / 1024)) MiB"
REVOKD_BENCH_DIR="$root/bench" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency \
  -s "$root/bench/soak.lua" "http://127.0.0.1:$PORT" -- "$work/requests.tsv" "$THREADS" "$interval" \
  > "$work/soak-wrk-0.out" &
wrk_pid=$!
started=$(date +%s)
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep "$SAMPLE"
  kill -0 "$wrk_pid" 2>/dev/null || break
  echo "t=$(($(date +%s) - started))s rss=$(($(rss_kib "$daemon") / 1024)) MiB" \
    "db=$(du -sm "$work"/soak.db* | awk '{s += $1} END {print s}') MiB load=$(cut -d' ' -f1 /proc/loadavg)"
done
wait "$wrk_pid"
rss_end=$(rss_kib "$daemon")
echo "t=$(($(date +%s) - started))s rss=$((rss_end / 1024)) MiB (end)"
cat "$work/soak-wrk-0.out"
python3 "$root/bench/wrk_summary.py" --name soak --cpu-ticks "$(($(cpu_ticks "$daemon") - ticks_before))" \
  --clk-tck "$(getconf CLK_TCK)" --rss-before "$rss_start" --rss-after "$rss_end" \
  --load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" "$work/soak-wrk-0.out"
