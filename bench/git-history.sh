#!/usr/bin/env bash
# Git history benchmark: `revokd scan --git` on a deterministic repository of 10,000
# commits (bench/git_history_repo.py: secrets added and later deleted, tags, merged side
# branches) against two references measured in the same run:
#   1. scanning every commit's tree separately (`git archive` + `revokd scan DIR`),
#      timed on an evenly spaced sample of commits and extrapolated to all of them;
#   2. `git log -p --all | rg -f PATTERNS` (every diff of history through ripgrep, with
#      one pattern per shipped rule literal, as bench/scan.sh uses).
# Also: an incremental rescan with nothing new (database configured), and peak RSS.
# Environment: REVOKD_BIN (default: cargo build --release), REVOKD_BENCH_COMMITS
# (10000), REVOKD_BENCH_SAMPLE (commits in the per-commit sample, 100),
# REVOKD_BENCH_RUNS (3), REVOKD_BENCH_THREADS (2).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
COMMITS=${REVOKD_BENCH_COMMITS:-10000}
SAMPLE=${REVOKD_BENCH_SAMPLE:-100}
RUNS=${REVOKD_BENCH_RUNS:-3}
THREADS=${REVOKD_BENCH_THREADS:-2}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/git-history.sh: %s\n' "$*" >&2; exit 2; }
for n in "$COMMITS" "$SAMPLE" "$RUNS" "$THREADS"; do
  case $n in '' | *[!0-9]* | 0) die "counts must be positive integers" ;; esac
done
for tool in git rg hyperfine python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install git ripgrep hyperfine python3 time)"
done

if [ -n "${REVOKD_BIN:-}" ]; then
  REVOKD=$REVOKD_BIN
else
  log "cargo build --release"
  (cd "$REPO" && cargo build --release --quiet)
  REVOKD=${CARGO_TARGET_DIR:-$REPO/target}/release/revokd
fi
[ -x "$REVOKD" ] || die "no revokd binary at $REVOKD"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/revokd-git-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
GIT=$WORK/repo.git
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

log "generating $COMMITS commits"
git init --quiet --bare "$GIT"
python3 "$BENCH_DIR/git_history_repo.py" "$COMMITS" | git -C "$GIT" fast-import --quiet
git -C "$GIT" repack -adq
all_commits=$(git -C "$GIT" rev-list --all | wc -l)
pack_bytes=$(du -sb "$GIT/objects/pack" | cut -f1)
log "repository: $all_commits commits, pack $pack_bytes bytes"

PATS=$WORK/patterns.rg
python3 "$BENCH_DIR/rg_patterns.py" "$REPO/patterns" "$PATS" >/dev/null
RV=("$REVOKD" scan --git --format json --no-progress --threads "$THREADS")

# ---------------------------------------------------------------- correctness
rc=0
env -u REVOKD_DATABASE_URL "${RV[@]}" "$GIT" --output "$WORK/report.json" || rc=$?
[ "$rc" -eq 1 ] || die "revokd scan --git exited $rc (expected 1: findings)"
read -r findings blobs scanned < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(len(r["findings"]), r["stats"]["history"]["blobs"], r["stats"]["files"])' "$WORK/report.json")
log "revokd: $findings findings, $blobs distinct blobs, $scanned scanned"

# ---------------------------------------------------------------- timings
export REVOKD_DATABASE_URL="sqlite://$WORK/incremental.db"
"${RV[@]}" "$GIT" --output /dev/null || true   # fills the database for the rescan
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --ignore-failure --export-json "$WORK/hf.json" \
  -n "revokd scan --git" "env -u REVOKD_DATABASE_URL ${RV[*]} $GIT --output /dev/null" \
  -n "revokd scan --git (rescan, nothing new)" "${RV[*]} $GIT --output /dev/null" \
  -n "git log -p --all | rg -f" "bash -c 'git -C $GIT log -p --all | rg -c -f $PATS'" >&2

# Per-commit rescans: an evenly spaced sample, each commit's tree exported and scanned.
git -C "$GIT" rev-list --all > "$WORK/commits"
step=$(( all_commits / SAMPLE )); [ "$step" -ge 1 ] || step=1
awk -v s="$step" 'NR % s == 0' "$WORK/commits" | head -n "$SAMPLE" > "$WORK/sample"
sampled=$(wc -l < "$WORK/sample")
total_ns=0; scan_ns=0
while read -r commit; do
  tree=$WORK/tree
  rm -rf "$tree"; mkdir "$tree"
  t0=$(date +%s%N)
  git -C "$GIT" archive "$commit" | tar -x -C "$tree"
  t1=$(date +%s%N)
  env -u REVOKD_DATABASE_URL "$REVOKD" scan "$tree" --format json --no-progress --threads "$THREADS" --output /dev/null || [ $? -eq 1 ]
  t2=$(date +%s%N)
  total_ns=$((total_ns + t2 - t0)); scan_ns=$((scan_ns + t2 - t1))
done < "$WORK/sample"

# ---------------------------------------------------------------- peak RSS
/usr/bin/time -v -o "$WORK/time.txt" env -u REVOKD_DATABASE_URL "${RV[@]}" "$GIT" --output /dev/null || true
rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt")

python3 - "$WORK/hf.json" "$all_commits" "$sampled" "$total_ns" "$scan_ns" "$rss_kib" <<'PY'
import json, sys
hf, commits, sampled, total_ns, scan_ns, rss = sys.argv[1:]
commits, sampled = int(commits), int(sampled)
means = {r["command"]: r["mean"] for r in json.load(open(hf))["results"]}
full = means["revokd scan --git"]
per_commit = int(total_ns) / 1e9 / sampled * commits
per_commit_scan = int(scan_ns) / 1e9 / sampled * commits
print(f"commits                                   {commits}")
for name, mean in means.items():
    print(f"{name:42}{mean:9.2f} s")
print(f"{'per-commit rescans (export + scan), est.':42}{per_commit:9.1f} s  ({sampled} sampled)")
print(f"{'per-commit rescans (scan only), est.':42}{per_commit_scan:9.1f} s")
print(f"speed-up vs per-commit rescans            {per_commit / full:.1f}x (scan only: {per_commit_scan / full:.1f}x)")
print(f"speed-up vs git log -p | rg               {means['git log -p --all | rg -f'] / full:.2f}x")
print(f"rescan with nothing new vs full scan      {means['revokd scan --git (rescan, nothing new)'] / full:.2f}x the time")
print(f"peak RSS of revokd scan --git             {int(rss) / 1024:.1f} MiB")
PY
