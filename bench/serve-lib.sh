# Shared by bench/scale-load.sh and bench/soak.sh (sourced, not run): builds the
# release binary, pre-signs REQUESTS alerts of TOKENS tokens (examples/webhook_load_prep),
# serves the GitHub key list on KEYS_PORT, and defines `prepare URL` (migrate, one team,
# every token imported as an issued key) and `start_replica URL PORT`. Everything it
# starts is stopped, and the work directory and a created PostgreSQL database
# (`created_db`) removed, on exit.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pids=()
created_db=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n $created_db ]]; then
    psql -q -h "$PGHOST" -p "$PGPORT" -U postgres -c "DROP DATABASE IF EXISTS $created_db WITH (FORCE)" postgres || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -z ${BENCH_REVOKD:-} ]]; then
  (cd "$root" && cargo build --release --quiet --bin revokd --example webhook_load_prep)
fi
revokd=${BENCH_REVOKD:-$target/release/revokd}
prep=${BENCH_PREP:-$target/release/examples/webhook_load_prep}

"$prep" "$work" "$REQUESTS" "$TOKENS"
(cd "$work" && exec python3 -m http.server "$KEYS_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
head -c 32 /dev/urandom > "$work/pepper" && chmod 600 "$work/pepper"

# config FILE URL PORT: one replica's configuration (the pepper file is shared).
config() {
  cat > "$1" <<TOML
[server]
listen = "127.0.0.1:$3"
[database]
url = "$2"
[github]
public_keys_url = "http://127.0.0.1:$KEYS_PORT/keys.json"
[keys]
pepper_file = "$work/pepper"
[smtp]
from = "revokd@example.org"
[log]
level = "warn"
TOML
}

# prepare URL: migrate, one team, every token imported as its key.
prepare() {
  config "$work/admin.toml" "$1" "$PORT"
  REVOKD_CONFIG="$work/admin.toml" "$revokd" db migrate >/dev/null
  REVOKD_CONFIG="$work/admin.toml" "$revokd" teams add load --admin load@example.com >/dev/null
  REVOKD_CONFIG="$work/admin.toml" "$revokd" keys import --team load < "$work/tokens.txt" >/dev/null
}

# start_replica URL PORT: starts `revokd serve` in its own directory (its ./mail/),
# waits for /readyz; the pid is appended to `replicas`.
start_replica() {
  local dir="$work/replica-$2"
  mkdir -p "$dir"
  config "$dir/revokd.toml" "$1" "$2"
  (cd "$dir" && REVOKD_CONFIG="$dir/revokd.toml" exec "$revokd" serve 2>"$dir/stderr") &
  pids+=($!)
  replicas+=($!)
  for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$2/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "replica on port $2 did not become ready:" >&2
  cat "$dir/stderr" >&2
  return 2
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

