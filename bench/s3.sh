#!/usr/bin/env bash
# Upload to the local S3 server (moto) against writing to a directory: one incompressible
# 1 GiB file collected as a file group, wall time and peak RSS (/usr/bin/time -v) of each.
#
# Usage: [VESTIGE_BIN=path] [SIZE_MIB=1024] bench/s3.sh   (needs python3 with moto[server])
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VESTIGE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p vestige >/dev/null
  bin=$PWD/target/release/vestige
fi
size=${SIZE_MIB:-1024}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 & moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 50); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break; sleep 0.2; done
python3 -c "
import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port', region_name='us-east-1').create_bucket(Bucket='bench-evidence')"
mkdir -p "$work/root/data"
head -c "$((size << 20))" /dev/urandom > "$work/root/data/big.bin"
cat > "$work/spec.yaml" <<EOF
name: s3-bench
artifacts:
  - name: big
    timeout: 30m
    collect:
      files:
        patterns: [/data/big.bin]
        max_file_size: 8GiB
        max_total_size: 8GiB
EOF
run() {
  /usr/bin/time -v -o "$work/time.txt" "$bin" collect --quiet --time-source none --imds-timeout 100ms \
    --spec "$work/spec.yaml" --root "$work/root" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  rss=$(awk '/Maximum resident/ {print $6}' "$work/time.txt")
  printf '%s | %.1f MiB' "$wall" "$(echo "$rss/1024" | bc -l)"
}
printf '| sink (%s MiB incompressible file) | wall (m:ss) | peak RSS |\n|---|---|---|\n' "$size"
printf '| directory | %s |\n' "$(run --out "$work/out")"
printf '| local S3 server, 2 parts in flight (default) | %s |\n' "$(run --s3 s3://bench-evidence/b --endpoint-url "http://127.0.0.1:$port")"
printf '| local S3 server, 3 parts in flight | %s |\n' "$(run --s3 s3://bench-evidence/b --endpoint-url "http://127.0.0.1:$port" --parts-in-flight 3)"
