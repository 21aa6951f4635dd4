#!/usr/bin/env bash
# Builds vestige_VERSION_ARCH.deb with dpkg-deb from a staged tree:
#   /opt/vestige/bin/vestige, /opt/vestige/share/profiles/*.yaml,
#   /lib/systemd/system/vestige-shutdown-capture.service (inert until
#   /etc/vestige/shutdown-capture.env exists), /usr/share/doc/vestige/.
# Usage: build-deb.sh BINARY [OUTDIR]  (default OUTDIR dist/). Environment: VESTIGE_DEB_ARCH
# (amd64 or arm64, default amd64), VESTIGE_VERSION (default: the binary's --version),
# VESTIGE_DEB_COMPRESSION (xz, the default, gzip or none).
# Prints the .deb path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:?usage: build-deb.sh BINARY [OUTDIR]}"
out="${2:-$root/dist}"
arch="${VESTIGE_DEB_ARCH:-amd64}"
version="${VESTIGE_VERSION:-$("$bin" --version | awk '{print $2}')}"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/vestige"
install -d -m 0755 "$pkg/DEBIAN" "$pkg/opt/vestige/bin" "$pkg/opt/vestige/share/profiles" \
  "$pkg/lib/systemd/system" "$pkg/usr/share/doc/vestige"
install -m 0755 "$bin" "$pkg/opt/vestige/bin/vestige"
install -m 0644 "$root"/collector-spec/profiles/*.yaml "$pkg/opt/vestige/share/profiles/"
install -m 0644 "$root/systemd/vestige-shutdown-capture.service" "$pkg/lib/systemd/system/"
install -m 0644 "$root/systemd/shutdown-capture.env.example" "$pkg/usr/share/doc/vestige/"
printf 'vestige\nLicense: Apache-2.0\n' >"$pkg/usr/share/doc/vestige/copyright"

size_kb="$(du -sk "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: vestige
Version: $version
Architecture: $arch
Maintainer: vestige maintainers <vestige@localhost>
Installed-Size: $size_kb
Section: admin
Priority: optional
Description: forensic collection agent for EC2 instances
 Captures a Linux host's volatile state (processes, connections, memory maps, open
 files, kernel modules) into a hashed, zstd-compressed evidence bundle in an
 Object-Locked S3 bucket or a local directory. Static binary in /opt/vestige/bin.
CONTROL
cat >"$pkg/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
install -d -m 0700 /var/lib/vestige
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # Enabled but inert: the unit only runs when /etc/vestige/shutdown-capture.env exists.
  systemctl enable vestige-shutdown-capture.service >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
cat >"$pkg/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl disable vestige-shutdown-capture.service >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
cat >"$pkg/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
SCRIPT
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/vestige_${version}_${arch}.deb"
dpkg-deb --root-owner-group "-Z${VESTIGE_DEB_COMPRESSION:-xz}" --build "$pkg" "$deb" >/dev/null
echo "$deb"
