#!/usr/bin/env bash
# File-group throughput and peak RSS of vestige's `files` collector against `zstd -3 -T2`
# alone on the same files.
#
#   bench/files.sh [DATA_DIR] [SIZE_MB]
#
# Generates ~SIZE_MB (default 1024) of syslog/auth/nginx-like text under DATA_DIR/var/log
# (default /tmp/vestige-bench) unless it exists, builds the release binary, warms the page
# cache, then times with hyperfine (3 runs each) and measures peak RSS with /usr/bin/time -v.
# vestige runs with --nice 0 --ionice be:4 here so both sides get the same CPU priority
# (its default, nice 10, only matters when something else competes for the CPU).
# Needs: hyperfine, zstd, python3, GNU time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
data="${1:-/tmp/vestige-bench}"
size_mb="${2:-1024}"
work="$(mktemp -d /tmp/vestige-bench-out.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ ! -d "$data/var/log" ]; then
  python3 "$here/genlogs.py" "$data" "$size_mb"
fi
target="${CARGO_TARGET_DIR:-$repo/target}"
(cd "$repo" && cargo build --release -p vestige)
bin="$target/release/vestige"

cat > "$work/spec.yaml" <<'YAML'
name: bench-files
artifacts:
  - name: logs
    timeout: 600s
    collect:
      files:
        max_file_size: 1GiB
        max_total_size: 8GiB
        patterns: ["/var/log/**"]
YAML

bytes=$(find "$data/var/log" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
mapfile -d '' files < <(find "$data/var/log" -type f -print0 | sort -z)
echo "input: ${#files[@]} files, $bytes bytes"
cat "${files[@]}" > /dev/null # warm the page cache for both

export AWS_EC2_METADATA_DISABLED=true
hyperfine --warmup 1 --runs 3 --export-json "$work/hyperfine.json" \
  --prepare "rm -rf $work/out $work/z.zst" \
  -n vestige "$bin collect --quiet --nice 0 --ionice be:4 --spec $work/spec.yaml --root $data --out $work/out" \
  -n "zstd -3 -T2" "zstd -3 -T2 -q -c ${files[*]} > $work/z.zst"

rm -rf "$work/out"
/usr/bin/time -v "$bin" collect --quiet --nice 0 --ionice be:4 --spec "$work/spec.yaml" --root "$data" --out "$work/out" \
  2> "$work/time.txt" > /dev/null
rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
stored=$(find "$work/out" -name 'logs.tar.zst' -printf '%s')
zstd -3 -T2 -q -c "${files[@]}" > "$work/z.zst"
python3 - "$work/hyperfine.json" "$bytes" "$rss_kib" "$stored" "$(stat -c %s "$work/z.zst")" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
total = int(sys.argv[2]); rss = int(sys.argv[3]); stored = int(sys.argv[4]); zsize = int(sys.argv[5])
v = runs["vestige"]["mean"]; z = runs["zstd -3 -T2"]["mean"]
cpu = lambda r: r["user"] + r["system"]
vc = cpu(runs["vestige"]); zc = cpu(runs["zstd -3 -T2"])
print(f"vestige files: {v:.2f} s mean wall, {total / v / 1e6:.0f} MB/s, CPU {vc:.2f} s, stored {stored} bytes")
print(f"zstd -3 -T2:   {z:.2f} s mean wall, {total / z / 1e6:.0f} MB/s, CPU {zc:.2f} s, stored {zsize} bytes")
print(f"ratio (vestige speed / zstd speed), wall: {z / v:.2f}  (target >= 0.8)")
print(f"ratio, CPU time (zstd CPU / vestige CPU): {zc / vc:.2f}")
print(f"vestige peak RSS: {rss / 1024:.1f} MiB  (target <= 64 MiB)")
PY
