#!/usr/bin/env bash
# Side-by-side plaintext throughput of plain Kestrel and the partitioned modes, alternating architectures over
# several rounds and reporting medians and ratios to plain Kestrel.
# Usage: benchmarks/quick.sh [rounds=3] [seconds=8] [partitions=processor count]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; seconds=${2:-8}; partitions=${3:-$(nproc)}
port=5100
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

dotnet build benchmarks/BenchApp -c Release -v q -nologo >/dev/null
app=benchmarks/BenchApp/bin/Release/net10.0/BenchApp
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for round in $(seq "$rounds"); do
  for arch in kestrel partitioned-single partitioned-free; do
    "$app" "$arch" "$port" "$partitions" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    wrk -t1 -c64 -d3s "http://127.0.0.1:$port/" >/dev/null
    rps=$(wrk -t1 -c64 -d"${seconds}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/{print $2}')
    echo "$arch $rps" | tee -a "$results" >&2
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base=$(awk '$1=="kestrel"{print $2}' "$results" | median)
echo
echo "| Architecture | Requests/s (median of $rounds) | min–max | vs kestrel |"
echo "|---|---|---|---|"
for arch in kestrel partitioned-single partitioned-free; do
  values=$(awk -v a="$arch" '$1==a{print $2}' "$results")
  med=$(median <<<"$values")
  min=$(sort -n <<<"$values" | head -1); max=$(sort -n <<<"$values" | tail -1)
  awk -v a="$arch" -v m="$med" -v lo="$min" -v hi="$max" -v b="$base" \
    'BEGIN {printf "| `%s` | %.0f | %.0f–%.0f | %.2fx |\n", a, m, lo, hi, m/b}'
done
