#!/usr/bin/env bash
# Builds vestige and runs every test: unit tests, end-to-end tests (process zoo in a PID
# namespace, local S3 server), lints and formatting. Needs root for namespaces and mounts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads=2
