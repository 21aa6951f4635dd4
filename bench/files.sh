#!/usr/bin/env bash
# File-group throughput and peak RSS of vestige's `files` collector against `zstd -3 -T2`
# alone on the same files.
#
#   [VESTIGE_BIN=path] bench/files.sh [DATA_DIR] [SIZE_MB]
#
# Generates ~SIZE_MB (default 1024) of syslog/auth/nginx-like text under DATA_DIR/var/log
# (default /tmp/vestige-bench) unless it exists, builds the release binary, warms the page
# cache, then times alternating rounds of each with /usr/bin/time (wall, CPU, peak RSS).
# vestige runs with --nice 0 --ionice be:4 here so both sides get the same CPU priority
# (its default, nice 10, only matters when something else competes for the CPU).
# Needs: zstd, python3, GNU time (Debian: apt-get install zstd time).
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
# VESTIGE_BIN picks a binary already built (e.g. the static one from packaging/build-static.sh).
bin="${VESTIGE_BIN:-}"
if [ -z "$bin" ]; then
  target="${CARGO_TARGET_DIR:-$repo/target}"
  (cd "$repo" && cargo build --release -p vestige)
  bin="$target/release/vestige"
fi

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
# Rounds alternate vestige, zstd and sha256sum, so drift in a shared machine's speed touches
# all three alike (hyperfine runs one command's runs back to back); medians are reported.
rounds="${FILES_ROUNDS:-6}"
vcmd=("$bin" collect --quiet --nice 0 --ionice be:4 --spec "$work/spec.yaml" --root "$data" --out "$work/out")
for i in $(seq 0 "$rounds"); do # round 0 warms up and is not counted
  rm -rf "$work/out" "$work/z.zst"
  /usr/bin/time -f "vestige $i %e %U %S %M" -a -o "$work/times.txt" "${vcmd[@]}" >/dev/null 2>&1
  /usr/bin/time -f "zstd $i %e %U %S %M" -a -o "$work/times.txt" \
    sh -c 'zstd -3 -T2 -q -c "$@" > "$0"' "$work/z.zst" "${files[@]}"
  /usr/bin/time -f "sha256sum $i %e %U %S %M" -a -o "$work/times.txt" sha256sum "${files[@]}" >/dev/null
done
stored=$(find "$work/out" -name 'logs.tar.zst' -printf '%s')
python3 - "$work/times.txt" "$bytes" "$stored" "$(stat -c %s "$work/z.zst")" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 6 and f[1] != "0":
        runs[f[0]].append((float(f[2]), float(f[3]) + float(f[4]), int(f[5])))
total = int(sys.argv[2]); stored = int(sys.argv[3]); zsize = int(sys.argv[4])
wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
rss = max(r[2] for r in runs["vestige"])
n = len(runs["vestige"])
print(f"{n} alternating rounds, medians")
print(f"vestige files: {wall['vestige']:.2f} s wall, {total / wall['vestige'] / 1e6:.0f} MB/s, CPU {cpu['vestige']:.2f} s, stored {stored} bytes")
print(f"zstd -3 -T2:   {wall['zstd']:.2f} s wall, {total / wall['zstd'] / 1e6:.0f} MB/s, CPU {cpu['zstd']:.2f} s, stored {zsize} bytes")
print(f"sha256sum:     {wall['sha256sum']:.2f} s wall, {total / wall['sha256sum'] / 1e6:.0f} MB/s, CPU {cpu['sha256sum']:.2f} s")
print(f"ratio (vestige speed / zstd speed), wall: {wall['zstd'] / wall['vestige']:.2f}  (target >= 0.8)")
print(f"ratio, CPU time (zstd CPU / vestige CPU): {cpu['zstd'] / cpu['vestige']:.2f}")
print(f"vestige peak RSS: {rss / 1024:.1f} MiB  (target <= 64 MiB)")
PY
