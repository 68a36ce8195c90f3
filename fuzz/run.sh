#!/usr/bin/env bash
# Runs fuzz targets one after another, each for SECONDS (default 600), at low priority.
#   fuzz/run.sh [SECONDS] [TARGET...]        (no TARGET: every target)
# Needs `cargo install cargo-fuzz`. cargo-fuzz passes nightly-only flags to rustc
# (-Zsanitizer=address, coverage instrumentation); RUSTC_BOOTSTRAP=1 lets a stable
# toolchain accept them. The corpus grows in fuzz/corpus/TARGET (seeded from
# fuzz/seeds/TARGET); a crash is saved in fuzz/artifacts/TARGET and stops the run with
# a non-zero status.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(partner_alert pattern_file scanner_reference gitleaks_import config_file)
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: ${seconds}s"
  # -rss_limit_mb: the scanner target builds inputs up to 300 KiB and compiles ~100
  # rules; 4 GiB catches leaks without tripping on ASan's own overhead.
  nice -n 10 cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1
done
