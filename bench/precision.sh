#!/usr/bin/env bash
# Precision benchmark: revokd's shipped rules against gitleaks' and Nosey Parker's default
# rule sets on the scanner benchmark's corpus (Linux 6.1 source + 50 planted fake secrets).
#
#   bash bench/precision.sh GITLEAKS_TOML NOSEYPARKER_BUILTIN_DIR
#
# GITLEAKS_TOML: gitleaks' default configuration (config/gitleaks.toml in its repository).
# NOSEYPARKER_BUILTIN_DIR: crates/noseyparker/data/default/builtin in Nosey Parker's
# repository (rules/*.yml and rulesets/default.yml). Neither is part of this repository:
# bring them from the projects themselves. NOSEYPARKER_BIN=path also runs Nosey Parker itself
# when a build is at hand. See bench/README.md, "Precision benchmark".
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CORPUS=${REVOKD_BENCH_CORPUS:-/var/tmp/revokd-bench/linux}
TIMEOUT=${REVOKD_BENCH_TIMEOUT:-600}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/precision.sh: %s\n' "$*" >&2; exit 2; }

[ $# -eq 2 ] || die "usage: bash bench/precision.sh GITLEAKS_TOML NOSEYPARKER_BUILTIN_DIR"
GITLEAKS_TOML=$(realpath -- "$1")
NP_DIR=$(realpath -- "$2")
[ -f "$GITLEAKS_TOML" ] || die "$GITLEAKS_TOML is not a file"
[ -f "$NP_DIR/rulesets/default.yml" ] && [ -d "$NP_DIR/rules" ] ||
  die "$NP_DIR has no rulesets/default.yml and rules/ (use crates/noseyparker/data/default/builtin)"
[ -d "$CORPUS" ] || die "no corpus at $CORPUS: run bench/scan.sh once to build it (or set REVOKD_BENCH_CORPUS)"
CORPUS=$(cd "$CORPUS" && pwd)

# ---------------------------------------------------------------- tools
missing=()
command -v rg >/dev/null || missing+=(ripgrep)
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
# shellcheck source=bench/apt-lib.sh
source "$BENCH_DIR/apt-lib.sh"
apt_install "${missing[@]}"
python3 -c 'import tomllib' 2>/dev/null || die "python3 >= 3.11 (tomllib) is required"
if ! python3 -c 'import re2' 2>/dev/null; then
  log "installing google-re2 (RE2, the regex dialect of Go and so of gitleaks) with pip"
  python3 -m pip install -q google-re2 || die "pip install google-re2 failed"
fi

if [ -n "${REVOKD_BIN:-}" ]; then
  REVOKD=$REVOKD_BIN
else
  log "cargo build --release"
  (cd "$REPO" && cargo build --release --quiet)
  REVOKD=$REPO/target/release/revokd
fi
[ -x "$REVOKD" ] || die "no revokd binary at $REVOKD"

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$BENCH_DIR/results"
WORK=$BENCH_DIR/results/precision-$stamp.d   # findings with raw (fake or test) secrets: git ignores results/
mkdir -p "$WORK"
out=$BENCH_DIR/results/precision-$stamp.txt

# ---------------------------------------------------------------- runs
log "revokd scan (shipped rules)"
set +e
timeout "$TIMEOUT" "$REVOKD" scan "$CORPUS" --format json --no-progress --threads 1 --show-secrets \
  --output "$WORK/revokd.json"
rc=$?
set -e
[ "$rc" -le 1 ] || die "revokd scan exited $rc"
revokd_rules=$("$REVOKD" patterns list --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

log "gitleaks default config (bench/gitleaks_emulate.py)"
timeout "$TIMEOUT" python3 "$BENCH_DIR/gitleaks_emulate.py" "$GITLEAKS_TOML" "$CORPUS" "$WORK/gitleaks.jsonl" \
  2> "$WORK/gitleaks.log" || die "gitleaks_emulate.py failed: $(tail -n 3 "$WORK/gitleaks.log")"
gitleaks_rules=$(sed -n 's/^gitleaks rules: \([0-9]*\) run.*/\1/p' "$WORK/gitleaks.log")

log "Nosey Parker default rules (bench/noseyparker_rg.py)"
timeout "$TIMEOUT" python3 "$BENCH_DIR/noseyparker_rg.py" "$NP_DIR" "$CORPUS" "$WORK/noseyparker.jsonl" \
  2> "$WORK/noseyparker.log" || die "noseyparker_rg.py failed: $(tail -n 3 "$WORK/noseyparker.log")"
np_rules=$(sed -n 's/^Nosey Parker default rules: \([0-9]*\) run.*/\1/p' "$WORK/noseyparker.log")

log "gitleaks default config through revokd patterns import-gitleaks"
mkdir -p "$WORK/imported"
set +e
"$REVOKD" patterns import-gitleaks "$GITLEAKS_TOML" --output "$WORK/imported.toml" 2> "$WORK/import.log"
rc=$?
set -e
[ "$rc" -le 1 ] || die "import-gitleaks exited $rc: $(tail -n 3 "$WORK/import.log")"
# Prefix the ids: the shipped rules stay loaded, and an id may exist in both sets.
sed 's/^id = "/id = "gl_/' "$WORK/imported.toml" > "$WORK/imported/gitleaks.toml"
imported_rules=$(grep -c '^id = "gl_' "$WORK/imported/gitleaks.toml" || true)
set +e
timeout "$TIMEOUT" "$REVOKD" scan "$CORPUS" --patterns "$WORK/imported" --format json --no-progress --threads 1 \
  --show-secrets --output "$WORK/imported.json" 2> "$WORK/imported-scan.log"
rc=$?
set -e
report_args=(--revokd "$WORK/revokd.json" --gitleaks "$WORK/gitleaks.jsonl" --noseyparker "$WORK/noseyparker.jsonl")
if [ "$rc" -gt 1 ]; then
  log "scan with the imported rules exited $rc (see $WORK/imported-scan.log); left out of the report"
else
  report_args+=(--imported "$WORK/imported.json")
fi

np_real=""
if [ -n "${NOSEYPARKER_BIN:-}" ]; then
  log "Nosey Parker itself ($NOSEYPARKER_BIN)"
  rm -rf "$WORK/np.datastore"
  timeout "$TIMEOUT" "$NOSEYPARKER_BIN" scan --datastore "$WORK/np.datastore" --progress never "$CORPUS" \
    > "$WORK/np-scan.txt" 2>&1 || die "noseyparker scan failed: $(tail -n 3 "$WORK/np-scan.txt")"
  timeout "$TIMEOUT" "$NOSEYPARKER_BIN" report --datastore "$WORK/np.datastore" --format jsonl --max-matches 0 \
    --output "$WORK/np-report.jsonl" 2> "$WORK/np-report.log" || die "noseyparker report failed"
  python3 "$BENCH_DIR/noseyparker_report.py" "$WORK/np-report.jsonl" "$CORPUS" "$WORK/noseyparker-real.jsonl" \
    2>> "$WORK/np-report.log"
  report_args+=(--noseyparker-real "$WORK/noseyparker-real.jsonl")
  np_real="$("$NOSEYPARKER_BIN" --version | head -n 1)"
fi

# ---------------------------------------------------------------- report
{
  echo "Precision benchmark $stamp"
  echo "revokd:   $REVOKD ($("$REVOKD" --version)); repository at commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "gitleaks: $GITLEAKS_TOML (sha256 $(sha256sum "$GITLEAKS_TOML" | cut -c1-16)), run by bench/gitleaks_emulate.py"
  echo "Nosey Parker: $NP_DIR (default ruleset), run by bench/noseyparker_rg.py with $(rg --version | head -n 1)"
  [ -z "$np_real" ] || echo "Nosey Parker binary: $np_real (NOSEYPARKER_BIN), scan summary in $WORK/np-scan.txt"
  echo "import-gitleaks: $(tail -n 1 "$WORK/import.log" | sed 's/^revokd: //')"
  echo
  PRECISION_RULE_COUNTS="revokd=$revokd_rules,gitleaks=$gitleaks_rules,noseyparker=$np_rules,imported=$imported_rules" \
    python3 "$BENCH_DIR/precision_report.py" "$CORPUS" "${report_args[@]}"
  echo
  echo "gitleaks_emulate.py:"
  sed 's/^/  /' "$WORK/gitleaks.log" | head -n 5
  echo "noseyparker_rg.py:"
  sed 's/^/  /' "$WORK/noseyparker.log" | head -n 5
  echo "import-gitleaks stderr:"
  sed 's/^/  /' "$WORK/import.log"
} | tee "$out"
log "written $out (findings in $WORK)"
