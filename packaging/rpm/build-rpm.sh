#!/usr/bin/env bash
# Builds vestige-VERSION-1.ARCH.rpm from the prebuilt binary with rpmbuild (vestige.spec).
# Usage: build-rpm.sh BINARY [OUTDIR]  (default OUTDIR dist/). Environment: VESTIGE_RPM_ARCH
# (x86_64 or aarch64, default x86_64), VESTIGE_VERSION (default: the binary's --version).
# Prints the .rpm path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:?usage: build-rpm.sh BINARY [OUTDIR]}"
out="${2:-$root/dist}"
arch="${VESTIGE_RPM_ARCH:-x86_64}"
version="${VESTIGE_VERSION:-$("$bin" --version | awk '{print $2}')}"

top="$(mktemp -d)"
trap 'rm -rf "$top"' EXIT
stage="$top/stage"
mkdir -p "$stage/profiles"
install -m 0755 "$bin" "$stage/vestige"
install -m 0644 "$root"/collector-spec/profiles/*.yaml "$stage/profiles/"
install -m 0644 "$root/systemd/vestige-shutdown-capture.service" "$root/systemd/shutdown-capture.env.example" "$stage/"
rpmbuild -bb --quiet \
  --define "_topdir $top" \
  --define "vestige_version $version" \
  --define "vestige_arch $arch" \
  --define "vestige_stage $stage" \
  --target "$arch" \
  "$here/vestige.spec" >&2
mkdir -p "$out"
rpm="$(find "$top/RPMS" -name '*.rpm' | head -n1)"
cp "$rpm" "$out/"
echo "$out/$(basename "$rpm")"
