#!/usr/bin/env bash
# Memory evidence benchmark, as Markdown tables (hyperfine for wall and CPU time,
# /usr/bin/time -v for peak RSS):
# 1. process memory: one process holding SIZE_MIB of anonymous memory (half random bytes,
#    half log-like text), dumped with `collect --pid` through the whole pipeline (SHA-256,
#    zstd, directory sink);
# 2. full RAM: the `ram` collector over a synthetic kcore of SIZE_MIB of the same content (the
#    file is in the page cache, so this measures vestige's LiME path, not a real kcore).
#
# Usage: [VESTIGE_BIN=path] [SIZE_MIB=1024] [LEVELS="1 3"] bench/memory.sh     (root)
# Needs: hyperfine, python3, /usr/bin/time (Debian: apt-get install hyperfine time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${SIZE_MIB:-1024}
levels=${LEVELS:-"1 3"}
bin=${VESTIGE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p vestige >/dev/null
  bin=$PWD/target/release/vestige
fi
work=$(mktemp -d)
target_pid=""
cleanup() { [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The target: prints "ready" once every page is written, then sleeps.
python3 - "$size_mib" "$work/ready" <<'PY' &
import mmap, os, sys, time
n = int(sys.argv[1]) << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
half = n // 2
step = 1 << 20
for off in range(0, half, step):
    m[off:off + step] = os.urandom(step)
line = b"Dec  4 19:00:00 host sshd[1234]: Accepted publickey for ec2-user from 10.0.0.1 port 4242\n"
block = (line * (step // len(line) + 1))[:step]
for off in range(half, n, step):
    m[off:off + step] = block
open(sys.argv[2], "w").write("ready")
while True:
    time.sleep(3600)
PY
target_pid=$!
while [ ! -s "$work/ready" ]; do sleep 0.2; done

printf '| zstd level | dumped | wall (mean ± σ) | throughput | CPU user+sys | peak RSS |\n|---|---|---|---|---|---|\n'
for level in $levels; do
  spec=$work/memory-$level.yaml
  cat >"$spec" <<YAML
name: bench-memory
zstd_level: $level
artifacts:
  - name: process_memory
    timeout: 600s
    collect:
      process_memory:
        select: []
        file_backed: false
        max_process_bytes: 64GiB
        max_total_bytes: 64GiB
YAML
  run="$bin collect --spec $spec --pid $target_pid --out $work/out --quiet --imds-timeout 100ms"
  hyperfine --warmup 1 --runs 5 --export-json "$work/h.json" --shell=bash \
    "rm -rf $work/out && $run >/dev/null 2>&1" >/dev/null 2>&1
  rm -rf "$work/out"
  /usr/bin/time -v -o "$work/time.txt" $run >"$work/summary.txt" 2>/dev/null
  dumped=$(python3 -c "
import json,sys
s=json.loads(open('$work/summary.txt').read().strip().splitlines()[-1])
m=json.load(open(s['location']+'/manifest.json'))
print(sum(a['raw_bytes'] or 0 for a in m['artifacts'] if a['name'].endswith('.mem')))")
  rss=$(awk '/Maximum resident/ {print $6}' "$work/time.txt")
  python3 - "$work/h.json" "$level" "$dumped" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
level, dumped, rss = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mb = dumped / 1e6
print(f"| {level} | {dumped / 2**20:.0f} MiB | {r['mean']:.2f} s ± {r['stddev']:.2f} | "
      f"{mb / r['mean']:.0f} MB/s | {r['user'] + r['system']:.2f} s | {rss / 1024:.1f} MiB |")
PY
done

# Full RAM from a synthetic kcore: an ELF64 core with one PT_LOAD holding the same content.
python3 - "$size_mib" "$work/kcore" "$work/iomem" <<'PY'
import os, struct, sys
n = int(sys.argv[1]) << 20
base = 0x100000
with open(sys.argv[2], "wb") as f:
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    f.write(ehdr + struct.pack("<IIQQQQQQ", 1, 7, 4096, 0xffff888000000000 + base, base, n, n, 4096))
    f.write(b"\0" * (4096 - 64 - 56))
    step = 1 << 20
    line = b"Dec  4 19:00:00 host sshd[1234]: Accepted publickey for ec2-user from 10.0.0.1 port 4242\n"
    block = (line * (step // len(line) + 1))[:step]
    for off in range(0, n, step):
        f.write(os.urandom(step) if off < n // 2 else block)
open(sys.argv[3], "w").write(f"{base:08x}-{base + n - 1:08x} : System RAM\n")
PY
printf '\n| full RAM (synthetic kcore), zstd level | LiME bytes | wall (mean ± σ) | throughput | CPU user+sys | peak RSS |\n|---|---|---|---|---|---|\n'
for level in $levels; do
  spec=$work/ram-$level.yaml
  cat >"$spec" <<YAML
name: bench-ram
zstd_level: $level
artifacts:
  - name: ram
    timeout: 600s
    collect:
      ram: { kcore: $work/kcore, iomem: $work/iomem }
YAML
  run="$bin collect --spec $spec --out $work/out --quiet --imds-timeout 100ms"
  hyperfine --warmup 1 --runs 5 --export-json "$work/h.json" --shell=bash \
    "rm -rf $work/out && $run >/dev/null 2>&1" >/dev/null 2>&1
  rm -rf "$work/out"
  /usr/bin/time -v -o "$work/time.txt" $run >"$work/summary.txt" 2>/dev/null
  dumped=$(python3 -c "
import json
s=json.loads(open('$work/summary.txt').read().strip().splitlines()[-1])
m=json.load(open(s['location']+'/manifest.json'))
print(sum(a['raw_bytes'] or 0 for a in m['artifacts'] if a['name'].endswith('.lime')))")
  rss=$(awk '/Maximum resident/ {print $6}' "$work/time.txt")
  python3 - "$work/h.json" "$level" "$dumped" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
level, dumped, rss = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(f"| {level} | {dumped / 2**20:.0f} MiB | {r['mean']:.2f} s ± {r['stddev']:.2f} | "
      f"{dumped / 1e6 / r['mean']:.0f} MB/s | {r['user'] + r['system']:.2f} s | {rss / 1024:.1f} MiB |")
PY
done
