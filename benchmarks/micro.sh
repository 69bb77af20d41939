#!/usr/bin/env bash
# Micro-benchmarks (BenchmarkDotNet) of the per-request cost Partitioned Hosting adds: picking a partition for a
# connection (the distribution policies) or for a key, the hop into a partition and back, a cross-partition call, and
# a whole request through the host with and without partitions, with time and allocations. Saves BenchmarkDotNet's
# Markdown reports, joined, to OUT.
#
# Usage: bash benchmarks/micro.sh [--job short|medium|long|dry] [--filter GLOB] [--out FILE]
#                                 [--no-build-references | --no-build]
#   --job     BenchmarkDotNet job (default short: 3 iterations after 3 warm-ups; dry: one invocation, to check it runs)
#   --filter  which benchmarks, e.g. '*PartitionCall*' (default: all)
#   --out     the Markdown report (default docs/benchmarks/micro.md; benchmarks/out/micro-dry.md for --job dry)
#   --no-build-references   build benchmarks/Micro without rebuilding src/ (which must be built in Release)
#   --no-build              use the existing Release build
# BenchmarkDotNet's own output and artifacts go to benchmarks/out/micro/ (ignored by git).
# Where a request's bytes go, by type: dotnet run -c Release --project benchmarks/Micro -- --allocations SingleThreaded
# (or Plain, FreeThreaded).
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")/.."
command_line="bash benchmarks/micro.sh${*:+ $*}"

job=short filter='*' out="" build=full
while (($#)); do
  case $1 in
    --job) job=$2; shift ;;
    --filter) filter=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build-references) build=no-references ;;
    --no-build) build=none ;;
    -h|--help) sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "micro.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z $out ]]; then
  if [[ ${job,,} == dry ]]; then out=benchmarks/out/micro-dry.md; else out=docs/benchmarks/micro.md; fi
fi

case $build in
  full) dotnet build benchmarks/Micro -c Release -v q -nologo ;;
  no-references) dotnet build benchmarks/Micro -c Release -v q -nologo -p:BuildProjectReferences=false ;;
esac

artifacts=benchmarks/out/micro
rm -rf "$artifacts"
mkdir -p "$(dirname "$out")"
# In process (Program.cs adds --inProcess); the default config already exports GitHub Markdown.
dotnet benchmarks/Micro/bin/Release/net10.0/Micro.dll --job "$job" --filter "$filter" --artifacts "$artifacts"

reports=("$artifacts"/results/*-report-github.md)
[[ -e ${reports[0]} ]] || { echo "micro.sh: BenchmarkDotNet wrote no report" >&2; exit 1; }
{
  echo "# Micro-benchmarks"
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- Machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory"
  echo "- Command: \`$command_line\`"
  echo
  echo "In-process BenchmarkDotNet runs. \`DistributionBenchmarks\`: one \`SelectPartition\` call of each built-in"
  echo "connection distribution policy (what a new connection pays). \`PartitionCallBenchmarks\`, on a started application"
  echo "with two partitions: \`PartitionForKey\` is the key policy (\`IPartitionInvoker.GetPartitionForKey\`);"
  echo "\`HopIntoPartition\` is \`IPartitionInvoker.InvokeAsync\` from outside into a partition and back, against"
  echo "\`ThreadPoolHop\` (\`Task.Run\`); \`CrossPartitionCall\` goes into partition 0, which calls partition 1 and awaits"
  echo "it, so the cross-partition call itself costs about \`CrossPartitionCall\` - \`HopIntoPartition\`."
  echo "\`RequestBenchmarks\` runs one plaintext request through a whole application as a server does (the host's"
  echo "\`IHttpApplication\`, with reused features and the response's \`OnCompleted\` callbacks, no socket), without"
  echo "partitions (\`Plain\`) and with two: what partitioning adds to a request, free of the network's and the load"
  echo "generator's noise. A \`SingleThreaded\` request hops from the benchmark's thread into its partition and back."
  for report in "${reports[@]}"; do
    echo
    echo "## $(basename "$report" -report-github.md)"
    echo
    cat "$report"
  done
} >"$out"
echo "Report written to $out" >&2
# BenchmarkDotNet reports a benchmark that threw (in its setup or its body) with a Mean of NA, and exits 0: that is a
# failure here. (Other columns may be NA legitimately, such as the error of a dry job's single run.)
failed=$(awk -F'|' '
  FNR == 1 { mean = 0 }
  !mean { for (i = 1; i <= NF; i++) if ($i ~ /^[[:space:]]*Mean[[:space:]]*$/) mean = i; next }
  { cell = $mean; gsub(/[*[:space:]]/, "", cell); if (cell == "NA") print FILENAME ": " $0 }' "${reports[@]}")
if [[ -n $failed ]]; then
  echo "$failed" >&2
  echo "micro.sh: some benchmarks failed (NA in the report); their exceptions are in BenchmarkDotNet's output above" >&2
  exit 1
fi
