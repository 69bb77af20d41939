#!/usr/bin/env bash
# Where a server's CPU time goes under load: starts BenchApp as ARCHITECTURE, loads it with wrk (as run.sh does), and
# samples the server with `perf record` while it serves; prints the hottest functions (JIT-compiled code named through
# the runtime's perf map) and the share of each thread kind, and keeps the recording for `perf report`.
#
# Usage: bash benchmarks/profile.sh ARCHITECTURE [--scenario plaintext|pipelined|json] [--duration S] [--top N]
#                                   [--call-graph] [--out FILE] [--no-build]
#   ARCHITECTURE  kestrel, partitioned-single, partitioned-single-pool, partitioned-free, partitioned-transport,
#                 partitioned-transport-pool, partitioned-dedicated (the last three with inline socket completions,
#                 DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, as run.sh runs them)
#   --scenario    what wrk sends (default pipelined: 16 requests in flight per connection, 64 connections)
#   --duration    seconds sampled, after 3 s of warm-up (default 6)
#   --call-graph  record call stacks too (perf record -g), for `perf report --children`
#   --out         the recording (default benchmarks/out/profile-ARCHITECTURE.data)
# Profile two architectures one after the other and compare their tables: the difference per request is what one adds.
# Needs perf (Debian's linux-perf); on a VM without hardware counters it samples the cpu-clock, which is enough.
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")/.."

architecture="" scenario=pipelined duration=6 top=30 graph=() out="" build=true port=5180
while (($#)); do
  case $1 in
    --scenario) scenario=$2; shift ;;
    --duration) duration=$2; shift ;;
    --top) top=$2; shift ;;
    --call-graph) graph=(-g) ;;
    --out) out=$2; shift ;;
    --no-build) build=false ;;
    -h|--help) sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "profile.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) architecture=$1 ;;
  esac
  shift
done
[[ -n $architecture ]] || { echo "profile.sh: name an architecture (see --help)" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf is missing: apt-get install -y linux-perf" >&2; exit 1; }
command -v wrk >/dev/null || { echo "profile.sh: wrk is missing: apt-get install -y wrk" >&2; exit 1; }
case $scenario in
  plaintext) path=/plaintext lua=() tail=() ;;
  pipelined) path=/plaintext lua=(-s benchmarks/wrk/pipeline.lua) tail=(-- 16) ;;
  json) path=/json lua=() tail=() ;;
  *) echo "profile.sh: --scenario is plaintext, pipelined or json, not '$scenario'" >&2; exit 2 ;;
esac
out=${out:-benchmarks/out/profile-$architecture.data}
mkdir -p "$(dirname "$out")"

$build && dotnet build benchmarks/BenchApp -c Release -v q -nologo >/dev/null
# The perf map names JIT-compiled methods; without W^X, the code perf sees is the code the map names.
inline=()
[[ $architecture != partitioned-transport* && $architecture != partitioned-dedicated ]] || inline=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
env "${inline[@]}" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  benchmarks/BenchApp/bin/Release/net10.0/BenchApp "$architecture" "$port" 2 >"$out.server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext" && break
  kill -0 $server 2>/dev/null || { cat "$out.server.log" >&2; exit 1; }
  sleep 0.1
done

url=http://127.0.0.1:$port$path
wrk -t1 -c64 -d3s "${lua[@]}" "$url" "${tail[@]}" >/dev/null
perf record -F 1999 "${graph[@]}" -p $server -o "$out" -- sleep "$duration" >/dev/null 2>&1 &
recorder=$!
load=$(wrk -t1 -c64 -d"$((duration + 1))s" "${lua[@]}" "$url" "${tail[@]}")
wait $recorder
requests=$(awk '/requests in/ {print $1}' <<<"$load")
echo "$architecture, $scenario: $(awk '/Requests\/sec/ {print $2}' <<<"$load") requests/s; recording: $out"

# One line per function: its share of the server's samples. Type and assembly names are shortened to stay readable.
report() { perf report -i "$out" --no-children --stdio -g none "$@" 2>/dev/null | grep -E '^ +[0-9]'; }
samples=$(perf report -i "$out" --stdio -g none 2>/dev/null | awk '/^# Samples:/ {print $3}')
echo "samples: $samples at 1999 Hz, about $(python3 -c "
s='$samples'; n=float(s[:-1])*1000 if s.endswith('K') else float(s)
print(round(n / 1999 * 1e6 / $requests, 2))") µs of server CPU per request"
echo; echo "by thread:"; report --sort comm | head -8
echo; echo "hottest functions:"
report --sort symbol | head -"$top" |
  sed -E 's/ +- +- *$//; s/\[(System|Microsoft)[^]]*\] //g; s/(instance|class|valuetype) //g; s/\[OptimizedTier1\]//' | cut -c1-180
