#!/usr/bin/env bash
# Builds the Debian package: release binary, man page and completions generated from the
# clap definitions (`revokd man`, `revokd completions`), then `cargo deb`.
# Output: $CARGO_TARGET_DIR/debian/revokd_<version>-1_<arch>.deb (default target/).
# Needs `cargo install cargo-deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
release="${CARGO_TARGET_DIR:-target}/release"
cargo build --release --locked
mkdir -p "$release/assets"
"$release/revokd" man > "$release/assets/revokd.1"
"$release/revokd" completions bash > "$release/assets/revokd.bash"
"$release/revokd" completions zsh > "$release/assets/_revokd"
"$release/revokd" completions fish > "$release/assets/revokd.fish"
# cargo-deb reads `target/release/…` assets from the real target directory.
cargo deb --no-build --strip "$@"
