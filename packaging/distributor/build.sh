#!/usr/bin/env bash
# Builds the SSM Distributor package for vestige:
#   OUTDIR/vestige-linux-ARCH.zip  (install.sh, uninstall.sh, vestige, profiles/, unit)
#   OUTDIR/manifest.json           (Distributor manifest with each zip's SHA-256)
# Usage: build.sh BINARY [OUTDIR]   (BINARY: the static vestige; default OUTDIR dist/distributor)
# Environment: VESTIGE_ARCH (x86_64 or arm64, default x86_64), VESTIGE_VERSION (default: the
# binary's `--version`).
# Upload both files to one S3 prefix, then:
#   aws ssm create-document --name vestige --document-type Package \
#     --content file://OUTDIR/manifest.json --attachments Key=SourceUrl,Values=s3://BUCKET/PREFIX
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:?usage: build.sh BINARY [OUTDIR]}"
out="${2:-$root/dist/distributor}"
arch="${VESTIGE_ARCH:-x86_64}"
version="${VESTIGE_VERSION:-$("$bin" --version | awk '{print $2}')}"
case "$version" in ''|*[!0-9A-Za-z.+-]*) echo "build.sh: bad version '$version'" >&2; exit 1 ;; esac

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/profiles"
install -m 0755 "$here/install.sh" "$here/uninstall.sh" "$stage/"
install -m 0755 "$bin" "$stage/vestige"
install -m 0644 "$root"/collector-spec/profiles/*.yaml "$stage/profiles/"
install -m 0644 "$root/systemd/vestige-shutdown-capture.service" "$root/systemd/shutdown-capture.env.example" "$stage/"

mkdir -p "$out"
zip_name="vestige-linux-$arch.zip"
rm -f "$out/$zip_name"
(cd "$stage" && find . -exec touch -h -d @0 {} + && TZ=UTC zip -q -X -r "$out/$zip_name" $(find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort))
sha="$(sha256sum "$out/$zip_name" | cut -d' ' -f1)"

python3 - "$out/manifest.json" "$version" "$arch" "$zip_name" "$sha" <<'PY'
import json, sys
path, version, arch, name, sha = sys.argv[1:]
platforms = ["amazon", "redhat", "centos", "oracle", "suse", "ubuntu", "debian"]
manifest = {
    "schemaVersion": "2.0",
    "version": version,
    "publisher": "vestige",
    "packages": {p: {"_any": {arch: {"file": name}}} for p in platforms},
    "files": {name: {"checksums": {"sha256": sha}}},
}
with open(path, "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
PY
echo "$out/manifest.json"
