#!/usr/bin/env bash
# Memory of idle keep-alive connections: for each architecture, starts BenchApp afresh, reads its RSS, opens N
# connections that each send one GET /plaintext and then stay open and idle (benchmarks/idle_connections.py), waits,
# and reads the RSS again. Prints the RSS with the connections, its growth, and both as ratios to kestrel's in the same
# round; architectures alternate within each round.
#
# Usage: bash benchmarks/idle.sh [--connections N] [--rounds R] [--architectures a,b,...] [--no-build]
#   defaults: 10000 connections, 3 rounds, kestrel,partitioned-single,partitioned-transport
set -euo pipefail
cd "$(dirname "$0")/.."
connections=10000 rounds=3 architectures=kestrel,partitioned-single,partitioned-transport build=true
while (($#)); do
  case $1 in
    --connections) connections=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --architectures) architectures=$2; shift ;;
    --no-build) build=false ;;
    *) echo "idle.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -ra list <<<"$architectures"
# Each side holds N sockets: the server's and the client's descriptors must allow it.
ulimit -n "$(ulimit -Hn)"
((connections + 1000 <= $(ulimit -n))) || { echo "idle.sh: $connections connections need a file descriptor limit above $((connections + 1000)) (ulimit -Hn is $(ulimit -Hn))" >&2; exit 1; }
! $build || dotnet build benchmarks/BenchApp -c Release -v q -nologo >/dev/null
app=benchmarks/BenchApp/bin/Release/net10.0/BenchApp

server="" client=""
cleanup() { for pid in $client $server; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

results=$(mktemp)
for round in $(seq "$rounds"); do
  for ((k = 0; k < ${#list[@]}; k++)); do
    architecture=${list[(k + round - 1) % ${#list[@]}]}
    port=$((5700 + round * 10 + k))
    env=()
    [[ $architecture != partitioned-transport* ]] || env=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
    env "${env[@]}" "$app" "$architecture" "$port" "$(nproc)" >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 300); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext" && break; sleep 0.05; done
    sleep 1
    before=$(rss_kb "$server")
    python3 benchmarks/idle_connections.py "$port" "$connections" >"$results.client" &
    client=$!
    for _ in $(seq 1200); do grep -q '^ready' "$results.client" 2>/dev/null && break; sleep 0.1; done
    grep -q "^ready $connections" "$results.client" || { echo "idle.sh: $architecture: the client did not hold $connections connections" >&2; exit 1; }
    sleep 3
    after=$(rss_kb "$server")
    echo "$round $architecture $before $after" >>"$results"
    kill "$client"; wait "$client" 2>/dev/null || true; client=""
    kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
    echo "round $round $architecture: $((before / 1024)) MB before, $((after / 1024)) MB with $connections idle connections" >&2
  done
done

python3 - "$results" "$connections" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
kestrel = {r[0]: (int(r[2]), int(r[3])) for r in rows if r[1] == "kestrel"}
print(f"| Architecture | RSS before, MB | RSS with {int(sys.argv[2]):,} idle connections, MB | growth, KB per connection | RSS vs kestrel | growth vs kestrel |")
print("|---|---:|---:|---:|---:|---:|")
for arch in dict.fromkeys(r[1] for r in rows):
    mine = [r for r in rows if r[1] == arch]
    before = statistics.median(int(r[2]) for r in mine)
    after = statistics.median(int(r[3]) for r in mine)
    per = statistics.median((int(r[3]) - int(r[2])) / int(sys.argv[2]) for r in mine)
    ratio = statistics.median(int(r[3]) / kestrel[r[0]][1] for r in mine if r[0] in kestrel)
    growth = statistics.median((int(r[3]) - int(r[2])) / (kestrel[r[0]][1] - kestrel[r[0]][0]) for r in mine if r[0] in kestrel)
    print(f"| `{arch}` | {before / 1024:.1f} | {after / 1024:.1f} | {per:.1f} | {ratio:.2f}x | {growth:.2f}x |")
PY
