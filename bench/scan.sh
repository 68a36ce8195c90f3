#!/usr/bin/env bash
# Scanner benchmark: `revokd scan` (all shipped rules) against `rg -c -f` (one regex per
# shipped rule literal) on a corpus cut from Debian's linux-source-6.1, warm cache, same
# run. See bench/README.md for what is measured and the environment variables.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

CORPUS=${REVOKD_BENCH_CORPUS:-/var/tmp/revokd-bench/linux}
PATTERNS_DIR=${REVOKD_PATTERNS_DIR:-$REPO/patterns}
TARBALL=${REVOKD_BENCH_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
TAR_TOP=linux-source-6.1
THREADS=${REVOKD_BENCH_THREADS:-2}
RUNS=${REVOKD_BENCH_RUNS:-5}
TIMEOUT=${REVOKD_BENCH_TIMEOUT:-600}   # seconds, for each untimed run (warm-up, RSS)
SKIP_REVOKD=${REVOKD_BENCH_SKIP_REVOKD:-0}
STRICT=${REVOKD_BENCH_STRICT:-0}
CORPUS_DIRS=(fs net include kernel Documentation arch/x86 tools sound drivers/net)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/scan.sh: %s\n' "$*" >&2; exit 2; }

case $THREADS in '' | *[!0-9]* | 0) die "REVOKD_BENCH_THREADS must be a positive integer" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "REVOKD_BENCH_RUNS must be a positive integer" ;; esac

# ---------------------------------------------------------------- tools
missing=()
[ -d "$CORPUS" ] || [ -f "$TARBALL" ] || missing+=(linux-source-6.1)
command -v xz >/dev/null || missing+=(xz-utils)
command -v rg >/dev/null || missing+=(ripgrep)
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
# shellcheck source=bench/apt-lib.sh
source "$BENCH_DIR/apt-lib.sh"
apt_install "${missing[@]}"
python3 -c 'import tomllib' 2>/dev/null || die "python3 >= 3.11 (tomllib) is required"
[ -d "$PATTERNS_DIR" ] || die "no patterns directory $PATTERNS_DIR (set REVOKD_PATTERNS_DIR)"

# ---------------------------------------------------------------- corpus
if [ ! -d "$CORPUS" ]; then
  [ -f "$TARBALL" ] || die "$TARBALL not found (package linux-source-6.1)"
  partial="$CORPUS.partial"
  rm -rf -- "$partial"
  mkdir -p -- "$partial"
  members=()
  for d in "${CORPUS_DIRS[@]}"; do members+=("$TAR_TOP/$d/*"); done
  log "extracting ${CORPUS_DIRS[*]} from $TARBALL into $CORPUS"
  tar -xJf "$TARBALL" -C "$partial" --strip-components=1 --no-same-owner --wildcards "${members[@]}"
  for d in "${CORPUS_DIRS[@]}"; do [ -d "$partial/$d" ] || die "$d missing after extraction"; done
  [ ! -e "$partial/planted" ] || die "$partial/planted exists in the source tree"
  python3 "$BENCH_DIR/plant.py" "$partial/planted" >&2
  mv -T -- "$partial" "$CORPUS"
fi
CORPUS=$(cd "$CORPUS" && pwd)
corpus_du=$(du -sb "$CORPUS" | cut -f1)
read -r corpus_files corpus_bytes < <(find "$CORPUS" -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n+0, s+0}')
log "corpus $CORPUS: $corpus_du bytes (du -sb), $corpus_files files, $corpus_bytes bytes in files"

# ---------------------------------------------------------------- revokd
if [ -n "${REVOKD_BIN:-}" ]; then
  REVOKD=$REVOKD_BIN
elif [ "$SKIP_REVOKD" = 1 ]; then
  REVOKD=
else
  log "cargo build --release"
  (cd "$REPO" && cargo build --release)
  REVOKD=${CARGO_TARGET_DIR:-$REPO/target}/release/revokd
  case $REVOKD in /*) ;; *) REVOKD=$REPO/$REVOKD ;; esac
fi
if [ "$SKIP_REVOKD" != 1 ]; then
  [ -x "$REVOKD" ] || die "no revokd binary at $REVOKD"
fi

# ---------------------------------------------------------------- work files
WORK=$(mktemp -d "${TMPDIR:-/tmp}/revokd-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
PATS=$WORK/patterns.rg
pats_info=$(python3 "$BENCH_DIR/rg_patterns.py" "$PATTERNS_DIR" "$PATS")
log "rg patterns from $PATTERNS_DIR: $pats_info"

# rg sees the same files as revokd: hidden files too, .gitignore honoured without a git repo.
RG_BASE=(--hidden --no-require-git -c)
RG_FLAGS=("${RG_BASE[@]}" -f "$PATS")
RV_FLAGS=(--format json --no-progress)

# Untimed warm-up runs that also check exit codes (hyperfine -i would hide an error).
# rg: 0 matches, 1 none, 2 error. revokd: 0 none, 1 findings, 2 error.
run_checked() { # name outfile cmd...
  local name=$1 out=$2 rc=0
  shift 2
  timeout "$TIMEOUT" "$@" >"$out" || rc=$?
  [ "$rc" -le 1 ] || die "$name exited $rc (124 = timed out after ${TIMEOUT}s)"
}
log "warming the cache: rg"
run_checked rg "$WORK/rg.out" rg --threads "$THREADS" "${RG_FLAGS[@]}" "$CORPUS"
read -r rg_files rg_lines < <(awk -F: '{n++; s+=$NF} END {print n+0, s+0}' "$WORK/rg.out")
if [ "$SKIP_REVOKD" != 1 ]; then
  log "warming the cache: revokd (report kept for the finding counts)"
  run_checked revokd /dev/null "$REVOKD" scan "$CORPUS" "${RV_FLAGS[@]}" --threads "$THREADS" --output "$WORK/report.json"
fi

# The first rules revokd had (issue 2): what the whole library is compared with.
STARTER_RULES=xai_api_key,github_token,github_fine_grained_pat,aws_access_key_id,private_key

# ---------------------------------------------------------------- timing
# Share of all cores busy over one second (other processes: nothing of ours runs then).
cpu_busy() {
  local a b i total=0 idle
  read -ra a < /proc/stat
  sleep 1
  read -ra b < /proc/stat
  idle=$(((b[4] + b[5]) - (a[4] + a[5])))
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  [ "$total" -gt 0 ] || total=1
  echo $((100 * (total - idle) / total))
}
busy_before=$(cpu_busy)
[ "$busy_before" -le 10 ] || log "warning: the machine is ${busy_before}% busy before timing; wall times will be inflated"
q() { printf '%q' "$1"; }
hf=(hyperfine -N --style basic --warmup 1 --runs "$RUNS" --ignore-failure --export-json "$WORK/hyperfine.json")
hf+=(-n rg "rg --threads $THREADS ${RG_BASE[*]} -f $(q "$PATS") $(q "$CORPUS")")
if [ "$SKIP_REVOKD" != 1 ]; then
  rv="$(q "$REVOKD") scan $(q "$CORPUS") ${RV_FLAGS[*]} --output /dev/null"
  hf+=(-n revokd "$rv --threads $THREADS" -n "revokd --threads 1" "$rv --threads 1")
  starter=""
  for id in ${STARTER_RULES//,/ }; do starter+=" --rule $id"; done
  hf+=(-n "revokd, starter rules" "$rv --threads $THREADS$starter")
fi
hf+=(-n "rg --threads 1" "rg --threads 1 ${RG_BASE[*]} -f $(q "$PATS") $(q "$CORPUS")")
# The file-reading floor: one literal that never occurs, so rg does little but read files.
hf+=(-n "rg --threads 1 (one literal)" "rg --threads 1 ${RG_BASE[*]} -F zq9xj7kw4vq $(q "$CORPUS")")
log "hyperfine: ${RUNS} runs each"
"${hf[@]}" >&2
busy_after=$(cpu_busy)

# ---------------------------------------------------------------- peak RSS
rss_of() { # cmd... -> max RSS in KiB
  local rc=0
  timeout "$TIMEOUT" /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null || rc=$?
  [ "$rc" -le 1 ] || die "$1 exited $rc under /usr/bin/time"
  awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt"
}
rss_args=()
rg_rss=$(rss_of rg --threads "$THREADS" "${RG_FLAGS[@]}" "$CORPUS")
rss_args+=(--rg-rss-kib "$rg_rss")
if [ "$SKIP_REVOKD" != 1 ]; then
  rss=$(rss_of "$REVOKD" scan "$CORPUS" "${RV_FLAGS[@]}" --output /dev/null --threads "$THREADS")
  rss1=$(rss_of "$REVOKD" scan "$CORPUS" "${RV_FLAGS[@]}" --output /dev/null --threads 1)
  rss_args+=(--rss-kib "$rss" --rss1-kib "$rss1" --report "$WORK/report.json")
fi
if [ "$STRICT" = 1 ]; then rss_args+=(--strict); fi

# ---------------------------------------------------------------- engine
# The scanner engine alone (files in memory, one thread): every shipped rule against the
# five starter rules, to show what the library's size costs.
if [ "$SKIP_REVOKD" != 1 ]; then
  if [ -n "${REVOKD_ENGINE_BIN:-}" ]; then
    ENGINE=$REVOKD_ENGINE_BIN
  else
    log "cargo build --release --example scan_engine"
    (cd "$REPO" && cargo build --release --example scan_engine)
    ENGINE=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/scan_engine
    case $ENGINE in /*) ;; *) ENGINE=$REPO/$ENGINE ;; esac
  fi
  log "engine: all rules, then the starter rules"
  timeout "$TIMEOUT" "$ENGINE" "$CORPUS" >"$WORK/engine-all.txt" || die "scan_engine failed"
  timeout "$TIMEOUT" "$ENGINE" "$CORPUS" --rules "$STARTER_RULES" >"$WORK/engine-starter.txt" || die "scan_engine failed"
  rss_args+=(--engine-all "$WORK/engine-all.txt" --engine-starter "$WORK/engine-starter.txt")
fi

# ---------------------------------------------------------------- summary
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$BENCH_DIR/results"
out=$BENCH_DIR/results/scan-$stamp.txt
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$REPO" status --porcelain -- src patterns Cargo.toml Cargo.lock build.rs 2>/dev/null)" ] || commit="$commit (+ uncommitted changes)"
rc=0
{
  echo "revokd scan benchmark, $stamp"
  echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "revokd:  ${REVOKD:-skipped} at commit $commit"
  echo "rg:      $(rg --version | head -1); hyperfine $(hyperfine --version | awk '{print $2}')"
  echo "corpus:  $CORPUS"
  echo "         $corpus_du bytes (du -sb), $corpus_files files, $corpus_bytes bytes in files"
  echo "         linux-source-6.1: ${CORPUS_DIRS[*]}; planted/: bench/plant.py"
  echo "rg patterns: $pats_info (from $PATTERNS_DIR)"
  echo "rg matches: $rg_lines matching lines in $rg_files files"
  echo "other load: ${busy_before}% of all cores busy just before timing, ${busy_after}% just after"
  if [ "$busy_before" -gt 10 ] || [ "$busy_after" -gt 10 ]; then
    echo "            (over 10%: wall times are inflated; compare cpu times, or rerun on a quiet machine)"
  fi
  echo
  python3 "$BENCH_DIR/summarize.py" --hyperfine "$WORK/hyperfine.json" --corpus "$CORPUS" \
    --corpus-bytes "$corpus_bytes" --threads "$THREADS" --expected "$CORPUS/planted/EXPECTED.tsv" \
    "${rss_args[@]}" || rc=$?
} >"$out"
cp "$WORK/hyperfine.json" "$BENCH_DIR/results/scan-$stamp.hyperfine.json"
[ ! -f "$WORK/report.json" ] || cp "$WORK/report.json" "$BENCH_DIR/results/scan-$stamp.report.json"
cat "$out"
log "written $out"
exit "$rc"
