#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine, builds vestige, and runs every test:
# unit tests, end-to-end tests (process zoo in a PID namespace, a local S3 server, the
# static binary in an empty root), lints and formatting. Run as root: the end-to-end tests
# create PID/mount namespaces and bind mounts.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- set-up (idempotent) ---
export DEBIAN_FRONTEND=noninteractive
apt_pkgs=()
command -v zstd >/dev/null || apt_pkgs+=(zstd)
command -v unshare >/dev/null || apt_pkgs+=(util-linux)
command -v python3 >/dev/null || apt_pkgs+=(python3 python3-pip)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${apt_pkgs[@]}"
fi

# --- build and test ---
cargo fmt --all -- --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads=2
