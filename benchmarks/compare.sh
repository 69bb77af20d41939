#!/usr/bin/env bash
# Before and after, side by side: the benchmark app built from a base revision and from the working tree, run in
# alternating order in every round, each partitioned architecture's throughput as a ratio to plain Kestrel measured in
# the same round. For changes that must not cost the request path (or that claim to make it faster).
#
# Usage: bash benchmarks/compare.sh BASE-REVISION [options]
#   --rounds R (5)  --duration S (5)  --warmup S (2)  --partitions N (processor count)
#   --scenarios a,b,...      of plaintext,pipelined,json,keyed,http2,db,fortunes (default plaintext,json); db and
#                            fortunes run against a PostgreSQL cluster of their own, as in run.sh (port 5499)
#   --architectures a,b,...  of partitioned-single,partitioned-free,partitioned-transport (default all three),
#                            or another of run.sh's partitioned ones (partitioned-single-pool, partitioned-transport-pool)
# Prints one table row per scenario and architecture: medians of base and head as ratios to kestrel, and head / base,
# for requests/s and for the server's CPU time per request (user + system, from /proc, over the measured run), which is
# far steadier than requests/s on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bash benchmarks/compare.sh BASE-REVISION [options]}; shift
rounds=5 duration=5 warmup=2 partitions=$(nproc) scenarios=plaintext,json
architectures=partitioned-single,partitioned-free,partitioned-transport
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --partitions) partitions=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --architectures) architectures=$2; shift ;;
    *) echo "compare.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ ,$scenarios, != *,http2,* ]] || command -v h2load >/dev/null || missing+=(nghttp2-client)
if ((${#missing[@]})); then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; fi
for scenario in ${scenarios//,/ }; do
  [[ $scenario =~ ^(plaintext|pipelined|json|keyed|http2|db|fortunes)$ ]] || { echo "compare.sh: unknown scenario '$scenario'" >&2; exit 2; }
done

out=benchmarks/out/compare-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
worktree=$out/base
git worktree add --detach -q "$worktree" "$base"
db_dir=""
cleanup() {
  git worktree remove --force "$worktree" >/dev/null 2>&1 || true
  if [[ -n $db_dir ]]; then bash benchmarks/postgres.sh stop "$db_dir" >/dev/null || true; rm -rf "$db_dir"; fi
}
trap cleanup EXIT
if [[ ,$scenarios, == *,db,* || ,$scenarios, == *,fortunes,* ]]; then
  # The same cluster and driver settings as run.sh's.
  db_dir=$(mktemp -d /tmp/compare-postgres.XXXXXX)
  BENCH_DB=$(bash benchmarks/postgres.sh start "$db_dir" 5499 | tail -1)
  BENCH_DB_OPTIONS="Multiplexing=true;Write Coalescing Buffer Threshold Bytes=1000"
  export BENCH_DB BENCH_DB_OPTIONS
fi
echo "Building $base and the working tree..." >&2
dotnet build "$worktree/benchmarks/BenchApp" -c Release -v q -nologo >/dev/null
dotnet build benchmarks/BenchApp -c Release -v q -nologo >/dev/null
declare -A apps=([base]=$worktree/benchmarks/BenchApp/bin/Release/net10.0/BenchApp [head]=benchmarks/BenchApp/bin/Release/net10.0/BenchApp)

port=5300
measure() { # VERSION ARCHITECTURE SCENARIO -> "requests/s CPU-µs-per-request"
  local version=$1 architecture=$2 scenario=$3 env=() pid rps requests ticks
  [[ $architecture != partitioned-transport* ]] || env=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
  env "${env[@]}" "${apps[$version]}" "$architecture" "$port" "$partitions" "$((port + 1))" >"$out/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext" && break; sleep 0.05; done
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  if [[ $scenario == http2 ]]; then
    h2load -c8 -m8 -D"$warmup" "http://127.0.0.1:$((port + 1))/plaintext" >/dev/null
    ticks=$(cpu_ticks)
    h2load -c8 -m8 -D"$duration" "http://127.0.0.1:$((port + 1))/plaintext" >"$out/load.txt"
    rps=$(awk '/^finished in/{gsub(",", "", $4); print $4}' "$out/load.txt")
    requests=$(awk '/^requests:/{print $4}' "$out/load.txt")
  else
    local script=() tail=() path=$scenario
    [[ $scenario != keyed ]] || { script=(-s benchmarks/wrk/keyed.lua); path=""; }
    [[ $scenario != pipelined ]] || { script=(-s benchmarks/wrk/pipeline.lua); tail=(-- 16); path=plaintext; }
    wrk -t1 -c64 "${script[@]}" -d"${warmup}s" "http://127.0.0.1:$port/$path" "${tail[@]}" >/dev/null
    ticks=$(cpu_ticks)
    wrk -t1 -c64 "${script[@]}" -d"${duration}s" "http://127.0.0.1:$port/$path" "${tail[@]}" >"$out/load.txt"
    rps=$(awk '/Requests\/sec/{print $2}' "$out/load.txt")
    requests=$(awk '/requests in/{print $1}' "$out/load.txt")
  fi
  ticks=$(( $(cpu_ticks) - ticks ))
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk -v r="$rps" -v t="$ticks" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%s %.3f\n", r, (n > 0 ? t * 1e6 / hz / n : 0)}'
}

IFS=, read -ra scenario_list <<<"$scenarios"
IFS=, read -ra architecture_list <<<"$architectures"
results=$out/runs.txt
for round in $(seq "$rounds"); do
  for scenario in "${scenario_list[@]}"; do
    echo "$round $scenario kestrel head $(measure head kestrel "$scenario")" | tee -a "$results" >&2
    for architecture in "${architecture_list[@]}"; do
      # Alternate which version goes first, so that neither always runs on a warmer machine.
      order=(base head); ((round % 2)) || order=(head base)
      for version in "${order[@]}"; do
        echo "$round $scenario $architecture $version $(measure "$version" "$architecture" "$scenario")" | tee -a "$results" >&2
      done
    done
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "Base $base ($(git rev-parse --short "$base")), head: working tree at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' with changes'); $rounds rounds of ${duration} s, $partitions partitions, wrk -t1 -c64 (h2load -c8 -m8)."
echo
echo "| Scenario | Architecture | base / kestrel | head / kestrel | head / base | CPU per request, base / kestrel | head / kestrel | head / base |"
echo "|---|---|---|---|---|---|---|---|"
for scenario in "${scenario_list[@]}"; do
  for architecture in "${architecture_list[@]}"; do
    ratios() { # VERSION FIELD: per-round ratio to that round's kestrel (field 5: requests/s, 6: CPU per request)
      awk -v s="$scenario" -v a="$architecture" -v v="$1" -v f="$2" '
        $2==s && $3=="kestrel" {k[$1]=$f}
        $2==s && $3==a && $4==v {r[$1]=$f}
        END {for (i in r) if (k[i] > 0) print r[i]/k[i]}' "$results"
    }
    b=$(ratios base 5 | median); h=$(ratios head 5 | median)
    cb=$(ratios base 6 | median); ch=$(ratios head 6 | median)
    awk -v s="$scenario" -v a="$architecture" -v b="$b" -v h="$h" -v cb="$cb" -v ch="$ch" \
      'BEGIN {printf "| %s | `%s` | %.3fx | %.3fx | %.3f | %.3fx | %.3fx | %.3f |\n", s, a, b, h, h/b, cb, ch, ch/cb}'
  done
done
