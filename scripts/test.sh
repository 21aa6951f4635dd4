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
command -v systemd-analyze >/dev/null || apt_pkgs+=(systemd)
command -v zip >/dev/null || apt_pkgs+=(zip)
command -v unzip >/dev/null || apt_pkgs+=(unzip)
command -v rpmbuild >/dev/null || apt_pkgs+=(rpm)
command -v ip >/dev/null || apt_pkgs+=(iproute2)
command -v readelf >/dev/null || apt_pkgs+=(binutils)
command -v dash >/dev/null || apt_pkgs+=(dash)
command -v dpkg-deb >/dev/null || apt_pkgs+=(dpkg)
command -v setpriv >/dev/null || apt_pkgs+=(util-linux)
command -v chromium >/dev/null || apt_pkgs+=(chromium)
command -v age >/dev/null || apt_pkgs+=(age)
command -v openssl >/dev/null || apt_pkgs+=(openssl)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${apt_pkgs[@]}"
fi

# The local S3 server (moto, which brings boto3) and the CloudFormation linter.
python3 -c 'import moto.server' 2>/dev/null && command -v cfn-lint >/dev/null \
  || python3 -m pip install -q 'moto[server]' cfn-lint \
  || python3 -m pip install -q --break-system-packages 'moto[server]' cfn-lint
# The hunt pack's local engine (DuckDB) and an independent SQL parser for the Athena DDL.
python3 -c 'import duckdb, sqlglot' 2>/dev/null \
  || python3 -m pip install -q duckdb sqlglot \
  || python3 -m pip install -q --break-system-packages duckdb sqlglot

# --- build and test ---
# The report tests render in headless Chromium (installed above); never skip them here.
export VESTIGE_REQUIRE_CHROMIUM=1
cargo fmt --all -- --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads=2
# A longer, bounded fuzz pass: every parser of host bytes over mutations of a corpus of real
# files (proptest; cargo-fuzz would need a nightly toolchain).
VESTIGE_FUZZ_CASES=3000 cargo test -p vestige --lib mutated_corpus
