#!/usr/bin/env bash
# Builds a fully static, stripped vestige for Linux and packs it for release:
#   dist/vestige-VERSION-ARCH-linux.tar.gz  (vestige-VERSION-ARCH-linux/{vestige,profiles/,LICENSE-NOTE})
#     LICENSE-NOTE (packaging/license-note.py): vestige's license, the statically linked glibc
#     (LGPL-2.1-or-later), and every Rust crate in the binary with its declared license
#   dist/vestige-VERSION-ARCH-linux.tar.gz.sha256  (sha256sum format)
#
# glibc with +crt-static (no musl target is needed). Static glibc cannot load NSS modules, but
# its built-in "files" and "dns" lookups cover /etc/hosts and /etc/resolv.conf, which is all
# vestige resolves (IMDS, S3 endpoints).
#
# Environment:
#   VESTIGE_TARGET    Rust target triple (default x86_64-unknown-linux-gnu; aarch64-unknown-linux-gnu
#                     on a Graviton host or where that target and a linker are installed)
#   VESTIGE_DIST_DIR  output directory (default: dist/ at the workspace root)
#   CARGO_TARGET_DIR  honoured as usual
# Prints the path of the tarball on its last stdout line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target="${VESTIGE_TARGET:-x86_64-unknown-linux-gnu}"
arch="${target%%-*}"
dist="${VESTIGE_DIST_DIR:-$root/dist}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

version="$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="vestige"))')"

# The source revision goes into every manifest (tool.build.commit).
VESTIGE_BUILD_COMMIT="${VESTIGE_BUILD_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}" \
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked -p vestige --target "$target" >&2

bin="$target_dir/$target/release/vestige"
strip_tool="${STRIP:-strip}"
if command -v "$strip_tool" >/dev/null; then "$strip_tool" "$bin"; fi

# Refuse to ship a binary that needs a dynamic loader.
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
  echo "build-static: $bin is dynamically linked" >&2
  exit 1
fi
if readelf -d "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
  echo "build-static: $bin needs shared libraries" >&2
  exit 1
fi

name="vestige-$version-$arch-linux"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/profiles"
install -m 0755 "$bin" "$stage/$name/vestige"
install -m 0644 collector-spec/profiles/*.yaml "$stage/$name/profiles/"
# What the static binary contains and under which licenses (glibc is LGPL).
python3 "$root/packaging/license-note.py" "$target" >"$stage/$name/LICENSE-NOTE"

mkdir -p "$dist"
tarball="$dist/$name.tar.gz"
# Reproducible: fixed order, owner and mtime; gzip without a timestamp.
mtime="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -cf - "$name" \
  | gzip -n -9 >"$tarball"
(cd "$dist" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "build-static: $(stat -c %s "$bin") bytes, $(cut -d' ' -f1 "$tarball.sha256")" >&2
echo "$tarball"
