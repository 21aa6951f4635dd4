#!/usr/bin/env bash
# vestige beside UAC (Unix-like Artifacts Collector, a POSIX shell collector) on the same host,
# for the same categories of data: UAC's process and network artifacts (the
# live_response/process/* and live_response/network/* part of its ir_triage profile) against
# vestige's volatile spec (bench/volatile.yaml: processes, connections, memory maps, open files,
# hidden-pid probe, modules, system). Reports wall time, CPU time and peak RSS of each, what
# each one stored, and the ratio of wall times, as Markdown.
#
# Each size runs in a fresh pid and network namespace (unshare) holding only a process zoo of
# that size (bench/zoo.py) and the two tools, so both see exactly the same processes and sockets
# whatever else the host is running; leaving the namespace kills the zoo.
#
# Get UAC (not part of vestige; any recent release or checkout):
#   git clone --depth 1 https://github.com/tclahr/uac /opt/uac
#   (or download a release tarball from https://github.com/tclahr/uac/releases and unpack it)
#
# Usage: UAC_DIR=/opt/uac [VESTIGE_BIN=path] [UAC_FULL=1] bench/uac.sh [ZOO_SIZES...]
#   ZOO_SIZES   default: 100 500
#   UAC_FULL=1  also run UAC's whole ir_triage profile once (and vestige's triage profile), in
#               the namespace of the first size, capped at UAC_TIMEOUT seconds (default 900)
#   UAC_BREAKDOWN=1  print (on stderr) which UAC artifacts took longest
#   VESTIGE_RUNS  hyperfine runs for vestige (default 10, after 1 warm-up); UAC runs once per size
# UAC's peak RSS is that of its largest single process (time -v reports the maximum over the
# waited-for children, not their sum).
# Needs root, util-linux (unshare), iproute2, hyperfine, python3, zstd, /usr/bin/time, and what
# UAC calls (Debian: apt-get install hyperfine time zstd lsof psmisc procps net-tools binutils).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

if [ "${1:-}" = "--inner" ]; then
  # Inside the namespace: pid 1 is this shell; $2 = zoo size, $3 = work dir, $4 = first size?
  n=$2 work=$3 first=$4
  ip link set lo up
  # Since Linux 6.14 pid_max is per pid namespace and a new one starts at 4194304; give it the
  # host's, or vestige's hidden-pid probe would walk 128 times the host's pid range.
  echo "$HOST_PID_MAX" >/proc/sys/kernel/pid_max 2>/dev/null || true
  zoo_pid=""
  rm -f "$work/ready"
  if [ "$n" -gt 0 ]; then
    python3 bench/zoo.py "$n" "$work/ready" & zoo_pid=$!
    while [ ! -s "$work/ready" ]; do sleep 0.2; done
  fi
  procs=$(ls -d /proc/[0-9]* | wc -l)
  socks=$(($(cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 | grep -vc 'local_address') + $(($(wc -l </proc/net/unix) - 1))))

  # UAC, once: it takes minutes, and a second run would see nothing new.
  rm -rf "$work/uac" && mkdir -p "$work/uac"
  (cd "$UAC_DIR" && /usr/bin/time -v -o "$work/uac.time" timeout "$UAC_TIMEOUT" \
    ./uac -a 'live_response/process/*,live_response/network/*' "$work/uac" >"$work/uac.log" 2>&1) \
    || echo "UAC exited with $? (see $work/uac.log)" >&2
  uac_wall=$(awk -F': ' '/Elapsed \(wall/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/uac.time")
  uac_cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/uac.time")
  uac_rss=$(awk '/Maximum resident/ {print $6}' "$work/uac.time")
  uac_tar=$(ls "$work"/uac/uac-*.tar.gz)
  uac_files=$(tar -tzf "$uac_tar" | grep -vc '/$')
  uac_pids=$(tar -tzf "$uac_tar" | sed -n 's:^\(.*/\)\{0,1\}live_response/process/proc/\([0-9]*\)/.*:\2:p' | sort -u | wc -l)
  uac_raw=$(tar -xzOf "$uac_tar" | wc -c)
  uac_stored=$(stat -c %s "$uac_tar")

  # vestige, the same way bench/volatile.sh runs it.
  spec=$PWD/bench/volatile.yaml
  cmd="rm -rf $work/v && $VESTIGE_BIN collect --spec $spec --out $work/v --quiet --imds-timeout 100ms --time-source none >/dev/null 2>&1"
  hyperfine --warmup 1 --runs "$VESTIGE_RUNS" --export-json "$work/h.json" --shell=bash "$cmd" >/dev/null 2>&1
  read -r v_wall v_sd v_cpu < <(python3 -c "
import json; r=json.load(open('$work/h.json'))['results'][0]
print(f\"{r['mean']:.3f} {r['stddev']:.3f} {r['user']+r['system']:.3f}\")")
  rm -rf "$work/v"
  /usr/bin/time -v -o "$work/v.time" "$VESTIGE_BIN" collect --spec "$spec" --out "$work/v" \
    --imds-timeout 100ms --time-source none >/dev/null 2>"$work/v.log"
  v_rss=$(awk '/Maximum resident/ {print $6}' "$work/v.time")
  v_records=$(grep -o 'artifact=[a-z_]* records=[0-9]* ms=[0-9]*' "$work/v.log" \
    | sed 's/artifact=//; s/ records=/: /; s/ ms=\([0-9]*\)/ (\1 ms)/' | paste -sd, - | sed 's/,/, /g')
  v_raw=$(python3 -c "
import json, glob; m=json.load(open(glob.glob('$work/v/*/*/manifest.json')[0]))
print(sum(a.get('raw_bytes', 0) for a in m['artifacts'] if a.get('kind') != 'spec'))")
  v_stored=$(du -sb "$work/v" | cut -f1)

  # The UAC artifacts that took longest, from the start times in its own log (the last one,
  # whose end is not logged, is left out).
  slowest() {
    echo
    echo "Slowest UAC $1 artifacts, $procs processes (seconds, start to next start, from its log):"
    echo
    grep -E '^\[[0-9]+/[0-9]+\] ' "$2" | awk '{print $2" "$3" "$5}' | while read -r d t a; do
      echo "$(date -d "$d $t" +%s) $a"; done | awk 'NR>1 {print $1-p, a} {p=$1; a=$2}' | sort -rn | head -5 \
      | sed 's/^/    /'
    echo
  }
  mib() { printf '%.1f' "$(echo "$1/1024" | bc -l)"; }
  mb() { printf '%.2f' "$(echo "$1/1000000" | bc -l)"; }
  printf '| %s | UAC process+network | %.1f s | %.1f s | %s MiB | %s files (%s per-pid dirs), %s MB raw, %s MB tar.gz |\n' \
    "$procs" "$uac_wall" "$uac_cpu" "$(mib "$uac_rss")" "$uac_files" "$uac_pids" "$(mb "$uac_raw")" "$(mb "$uac_stored")"
  printf '| %s | vestige volatile | %.3f s ± %.3f | %.3f s | %s MiB | %s; %s MB raw, %s MB stored |\n' \
    "$procs" "$v_wall" "$v_sd" "$v_cpu" "$(mib "$v_rss")" "$v_records" "$(mb "$v_raw")" "$(mb "$v_stored")"
  printf '| %s | ratio (UAC wall / vestige wall) | **%.0f×** | CPU %.0f× | | %s sockets in the namespace |\n' \
    "$procs" "$(echo "$uac_wall/$v_wall" | bc -l)" "$(echo "$uac_cpu/$v_cpu" | bc -l)" "$socks"
  [ "${UAC_BREAKDOWN:-0}" = 1 ] && slowest "process+network" "$work/uac.log" >&2

  if [ "${UAC_FULL:-0}" = 1 ] && [ "$first" = 1 ]; then
    rm -rf "$work/uacfull" && mkdir -p "$work/uacfull"
    rc=0
    (cd "$UAC_DIR" && /usr/bin/time -v -o "$work/uacfull.time" timeout "$UAC_TIMEOUT" \
      ./uac -p ir_triage "$work/uacfull" >"$work/uacfull.log" 2>&1) || rc=$?
    f_wall=$(awk -F': ' '/Elapsed \(wall/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/uacfull.time")
    f_rss=$(awk '/Maximum resident/ {print $6}' "$work/uacfull.time")
    f_note="exit $rc"; [ "$rc" = 124 ] && f_note="stopped by the ${UAC_TIMEOUT} s cap"
    f_files="none (no archive)"
    if f_tar=$(ls "$work"/uacfull/uac-*.tar.gz 2>/dev/null); then
      f_files="$(tar -tzf "$f_tar" | grep -vc '/$') files, $(mb "$(stat -c %s "$f_tar")") MB tar.gz"
    fi
    rm -rf "$work/vt"
    /usr/bin/time -v -o "$work/vt.time" "$VESTIGE_BIN" collect --spec triage --out "$work/vt" \
      --imds-timeout 100ms --time-source none >/dev/null 2>"$work/vt.log" || true
    t_wall=$(awk -F': ' '/Elapsed \(wall/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/vt.time")
    t_rss=$(awk '/Maximum resident/ {print $6}' "$work/vt.time")
    t_n=$(find "$work/vt" -name '*.zst' | wc -l)
    printf '\nWhole profiles, once, %s processes (different contents; for scale only):\n\n' "$procs"
    printf '| run | wall | peak RSS | stored |\n|---|---|---|---|\n'
    printf '| UAC `-p ir_triage` (%s) | %.1f s | %s MiB | %s |\n' "$f_note" "$f_wall" "$(mib "$f_rss")" "$f_files"
    printf '| vestige `--spec triage` | %.1f s | %s MiB | %s artifact objects, %s MB |\n' \
      "$t_wall" "$(mib "$t_rss")" "$t_n" "$(mb "$(du -sb "$work/vt" | cut -f1)")"
    slowest "ir_triage" "$work/uacfull.log"
  fi
  if [ -n "$zoo_pid" ]; then kill "$zoo_pid"; wait "$zoo_pid" 2>/dev/null || true; fi
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "run as root (both tools read every process)" >&2; exit 2; }
if [ -z "${UAC_DIR:-}" ] || [ ! -x "$UAC_DIR/uac" ]; then
  echo "set UAC_DIR to a UAC checkout, e.g.: git clone --depth 1 https://github.com/tclahr/uac /opt/uac" >&2
  exit 2
fi
UAC_DIR=$(cd "$UAC_DIR" && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500)
bin=${VESTIGE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p vestige >/dev/null
  bin=$PWD/target/release/vestige
fi
export HOST_PID_MAX=$(cat /proc/sys/kernel/pid_max) UAC_DIR VESTIGE_BIN=$bin UAC_TIMEOUT=${UAC_TIMEOUT:-900} VESTIGE_RUNS=${VESTIGE_RUNS:-10} UAC_FULL=${UAC_FULL:-0} UAC_BREAKDOWN=${UAC_BREAKDOWN:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$(cd "$UAC_DIR" && ./uac -V 2>/dev/null | head -1); $("$bin" --version 2>/dev/null || true); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| processes | run | wall | CPU user+sys | peak RSS | stored |\n|---|---|---|---|---|---|\n'
first=1
for n in "${sizes[@]}"; do
  unshare --pid --fork --mount-proc --net "$self" --inner "$n" "$work" "$first"
  first=0
done
