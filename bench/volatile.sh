#!/usr/bin/env bash
# Whole-run benchmark of a volatile-only collection: on the host as it is, then with process
# zoos of growing size. Reports wall time and CPU time (hyperfine) and peak RSS
# (/usr/bin/time -v) as a Markdown table. The SNTP skew check is off (--time-source none): off
# EC2 nothing answers 169.254.169.123 and the run would wait up to --time-timeout for it.
#
# Usage: [VESTIGE_BIN=path] bench/volatile.sh [ZOO_SIZES...]   (default: 0 30 500 2000 5000; root)
# With a C compiler it also times bench/proc_floor.c on the same host: the /proc reads alone
# (no parsing, hashing or compression), the floor any /proc collector pays.
# Needs: hyperfine, python3, /usr/bin/time (Debian: apt-get install hyperfine time; cc optional)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(0 30 500 2000 5000)
# VESTIGE_BIN picks a binary already built (e.g. the static one from packaging/build-static.sh).
bin=${VESTIGE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p vestige >/dev/null
  bin=$PWD/target/release/vestige
fi
spec=$PWD/bench/volatile.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
floor=""
if command -v cc >/dev/null && cc -O2 -pthread -o "$work/proc_floor" bench/proc_floor.c 2>/dev/null; then
  floor=$work/proc_floor
fi
cmd="rm -rf $work/out && $bin collect --spec $spec --out $work/out --quiet --imds-timeout 100ms --time-source none >/dev/null 2>&1"

printf '| processes on host | wall (mean ± σ) | CPU user+sys | peak RSS | /proc reads alone (proc_floor) |\n|---|---|---|---|---|\n'
for n in "${sizes[@]}"; do
  zoo_pid=""
  if [ "$n" -gt 0 ]; then
    python3 bench/zoo.py "$n" "$work/ready" & zoo_pid=$!
    while [ ! -s "$work/ready" ]; do sleep 0.2; done
  fi
  procs=$(ls -d /proc/[0-9]* | wc -l)
  hyperfine --warmup 2 --runs 10 --export-json "$work/h.json" --shell=bash "$cmd" >/dev/null 2>&1
  read -r mean sd cpu < <(python3 -c "
import json; r=json.load(open('$work/h.json'))['results'][0]
print(f\"{r['mean']*1000:.0f} {r['stddev']*1000:.0f} {(r['user']+r['system'])*1000:.0f}\")")
  rss=0
  for _ in 1 2 3; do
    rm -rf "$work/out"
    /usr/bin/time -v -o "$work/time.txt" "$bin" collect --spec "$spec" --out "$work/out" --quiet --imds-timeout 100ms --time-source none >/dev/null 2>&1
    k=$(awk '/Maximum resident/ {print $6}' "$work/time.txt")
    [ "${k:-0}" -gt "$rss" ] && rss=$k
  done
  floor_ms="-"
  if [ -n "$floor" ]; then
    hyperfine -N --warmup 2 --runs 10 --export-json "$work/f.json" "$floor 2" >/dev/null 2>&1
    floor_ms=$(python3 -c "
import json; r=json.load(open('$work/f.json'))['results'][0]
print(f\"{r['mean']*1000:.0f} ms ({(r['user']+r['system'])*1000:.0f} ms CPU)\")")
  fi
  printf '| %s | %s ms ± %s | %s ms | %.1f MiB | %s |\n' "$procs" "$mean" "$sd" "$cpu" "$(echo "$rss/1024" | bc -l)" "$floor_ms"
  if [ -n "$zoo_pid" ]; then kill "$zoo_pid"; wait "$zoo_pid" 2>/dev/null || true; rm -f "$work/ready"; fi
done
