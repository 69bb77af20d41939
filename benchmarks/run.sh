#!/usr/bin/env bash
# Benchmarks Partitioned Hosting against the traditional architectures, on 127.0.0.1:
#   kestrel             plain Kestrel, one process, thread pool
#   processes           N plain Kestrel processes sharing the port with SO_REUSEPORT
#   partitioned-single  one process, N SingleThreaded partitions
#   partitioned-single-pool  the same with IdleResume = ThreadPool (an await that completes while the partition's
#                       thread sleeps resumes on the thread pool under the partition's turn)
#   partitioned-free    one process, N FreeThreaded partitions
#   partitioned-transport  one process, N SingleThreaded partitions over the Partitioned transport (thread per
#                       core), run with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 as its documentation advises
#   partitioned-transport-pool  the same with IdleResume = ThreadPool
#   partitioned-dedicated  partitioned-transport plus one dedicated FreeThreaded partition (at most 4 requests at
#                       once) that runs the blocking endpoints of blocking-mix and starvation (RunOnPartition)
#   nginx               nginx, N worker processes, plaintext only
# Each run starts the architecture's server process(es) afresh, warms up, measures with wrk (h2load for http2) while
# polling their memory, and stops them; architectures alternate within each round. Around the measured run it reads
# the server processes' CPU time (/proc) and, from the .NET ones, the bytes they allocated (/_stats on a port of its
# own per process), per request. Medians over rounds go to OUT/results.json, results.md, meta.json and the charts
# throughput.png, throughput-ratio.png and memory.png.
# db and fortunes run against a PostgreSQL cluster of the runner's own (benchmarks/postgres.sh, port --db-port,
# installed from Debian's packages if missing), started once and stopped at the end; the partitioned architectures
# get a partition-local NpgsqlDataSource each, and the connections (BENCH_DB_POOL, default 64) are divided among
# the data sources of the process (or the processes).
#
# Usage: bash benchmarks/run.sh [--quick | --smoke] [options]
#   (no preset)  5 rounds of 6 s runs after 2 s of warm-up, every scenario (about 40 minutes on 2 cores)
#   --quick      3 rounds of 2 s runs after 1 s of warm-up; plaintext, keyed, blocking-mix (under 3 minutes)
#   --smoke      1 round of 1 s runs after 1 s of warm-up, to check the scripts; OUT defaults to benchmarks/out/smoke
#                (with --quick: its scenarios only)
#   --partitions N          partitions, processes and nginx workers (default: processor count)
#   --rounds R  --duration S  --warmup S        override the preset
#   --scenarios a,b,...     of plaintext,pipelined,json,cpu,keyed,io,blocking-mix,starvation,http2,db,fortunes
#   --architectures a,b,... of kestrel,processes,partitioned-single,partitioned-single-pool,partitioned-free,
#                           partitioned-transport,partitioned-transport-pool,partitioned-dedicated,nginx (default: all
#                           but partitioned-single-pool, partitioned-transport-pool and partitioned-dedicated)
#   --pin | --no-pin        pin the load generators to the last core and the servers to the others with taskset
#                           (default: pinned on 4 cores or more; on fewer, a server on one core would not be the
#                           architecture measured)
#   --db-port P             port of the benchmark's PostgreSQL cluster (default 5499)
#   --db-options "K=V;..."  added to Npgsql's connection string (default TechEmpower's ASP.NET Core entries' own:
#                           "Multiplexing=true;Write Coalescing Buffer Threshold Bytes=1000"; "" for none)
#   --connections C  --threads T                wrk load (default 64 connections, 1 thread)
#   --out DIR               where results go (default docs/benchmarks)
#   --no-build-references   build the benchmark projects without rebuilding src/ (which must be built in Release)
#   --no-build              use the existing Release builds
# Raw output of every run is kept in benchmarks/out/runs-<time>/ (ignored by git).
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")/.."
command_line="${BENCH_DB_SOURCE:+BENCH_DB_SOURCE=$BENCH_DB_SOURCE }bash benchmarks/run.sh${*:+ $*}"

all_scenarios=plaintext,pipelined,json,cpu,keyed,io,blocking-mix,starvation,http2,db,fortunes
quick_scenarios=plaintext,keyed,blocking-mix
all_architectures=kestrel,processes,partitioned-single,partitioned-single-pool,partitioned-free,partitioned-transport,partitioned-transport-pool,partitioned-dedicated,nginx
default_architectures=kestrel,processes,partitioned-single,partitioned-free,partitioned-transport,nginx

quick=false smoke=false rounds="" duration="" warmup="" scenarios="" out=""
partitions=$(nproc) architectures=$default_architectures connections=64 threads=1 db_port=5499 pin=""
db_options="Multiplexing=true;Write Coalescing Buffer Threshold Bytes=1000"
h2_connections=8 h2_streams=8          # 64 concurrent HTTP/2 streams, as many as the HTTP/1.1 connections
block_connections=2 block_pause_ms=200 # blocking-mix: each blocking connection sleeps 50 ms, then pauses 200 ms
pipeline_depth=16                      # pipelined: requests each connection has in flight
starve_connections=16                  # starvation: each blocking connection blocks 20 ms in sync-over-async, back to back
build=full
while (($#)); do
  case $1 in
    --quick) quick=true ;;
    --smoke) smoke=true ;;
    --partitions) partitions=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --architectures) architectures=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; shift ;;
    --db-port) db_port=$2; shift ;;
    --pin) pin=true ;;
    --no-pin) pin=false ;;
    --db-options) db_options=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build-references) build=no-references ;;
    --no-build) build=none ;;
    -h|--help) sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# Explicit options win over --smoke, which wins over --quick, which wins over the full defaults.
if $smoke; then
  : "${rounds:=1}" "${duration:=1}" "${warmup:=1}" "${out:=benchmarks/out/smoke}"
elif $quick; then
  : "${rounds:=3}" "${duration:=2}" "${warmup:=1}"
fi
if $quick; then : "${scenarios:=$quick_scenarios}"; fi
: "${rounds:=5}" "${duration:=6}" "${warmup:=2}" "${scenarios:=$all_scenarios}" "${out:=docs/benchmarks}"
IFS=, read -ra scenario_list <<<"$scenarios"
IFS=, read -ra architecture_list <<<"$architectures"
for s in "${scenario_list[@]}"; do [[ ,$all_scenarios, == *,$s,* ]] || { echo "run.sh: unknown scenario '$s'" >&2; exit 2; }; done
for a in "${architecture_list[@]}"; do [[ ,$all_architectures, == *,$a,* ]] || { echo "run.sh: unknown architecture '$a'" >&2; exit 2; }; done

# Tools: wrk always, h2load for http2, nginx for its architecture; one apt-get update for all that are missing.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ ,$scenarios, != *,http2,* ]] || command -v h2load >/dev/null || missing+=(nghttp2-client)
[[ ,$architectures, != *,nginx,* ]] || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
  echo "Installing ${missing[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Pinning: the load on the last core, the servers (every process of the architecture) on the others.
: "${pin:=$( (($(nproc) >= 4)) && echo true || echo false)}"
server_cpu=() load_cpu=() pinning="none: servers and load share all $(nproc) cores"
if $pin; then
  ((($(nproc) >= 2))) || { echo "run.sh: --pin needs at least 2 cores" >&2; exit 2; }
  command -v taskset >/dev/null || { echo "run.sh: --pin needs taskset (util-linux)" >&2; exit 2; }
  server_cpu=(taskset -c "0-$(($(nproc) - 2))") load_cpu=(taskset -c "$(($(nproc) - 1))")
  servers=$( (($(nproc) == 2)) && echo "core 0" || echo "cores 0-$(($(nproc) - 2))")
  pinning="servers on $servers, load generators on core $(($(nproc) - 1)) (taskset)"
fi

build_args=(-c Release -v q -nologo)
case $build in
  full) dotnet build benchmarks/BenchApp "${build_args[@]}" ;;
  no-references) dotnet build benchmarks/BenchApp "${build_args[@]}" -p:BuildProjectReferences=false ;;
esac
[[ $build == none ]] || dotnet build benchmarks/Charts "${build_args[@]}"
app=benchmarks/BenchApp/bin/Release/net10.0/BenchApp
charts=benchmarks/Charts/bin/Release/net10.0/Charts.dll

raw=$PWD/benchmarks/out/runs-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$raw" "$out"
runs=$raw/runs.jsonl
: >"$runs"

server_pids=() poller_pid="" blocker_pid="" db_dir=""

# Stops the servers of the current run: TERM, then KILL whatever is still there after 10 s (nginx workers too).
stop_servers() {
  local pid children=()
  ((${#server_pids[@]})) || return 0
  mapfile -t children < <(pgrep -P "$(IFS=,; echo "${server_pids[*]}")" || true)
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}" "${children[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  server_pids=()
}

stop_background() {
  local pid
  for pid in $poller_pid $blocker_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  poller_pid="" blocker_pid=""
}

cleanup() {
  stop_background
  stop_servers
  if [[ -n $db_dir ]]; then
    bash benchmarks/postgres.sh stop "$db_dir" || true
    rm -rf "$db_dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keeps in FILE the highest sum of VmRSS (kB) seen over PIDS and their children, polled every 200 ms.
poll_rss() {
  local file=$1; shift
  local roots=("$@") peak=0 sum pid key value rest children
  while :; do
    sum=0
    mapfile -t children < <(pgrep -P "$(IFS=,; echo "${roots[*]}")" || true)
    for pid in "${roots[@]}" "${children[@]}"; do
      while read -r key value rest; do
        if [[ $key == VmRSS: ]]; then sum=$((sum + value)); break; fi
      done 2>/dev/null <"/proc/$pid/status" || true
    done
    if ((sum > peak)); then peak=$sum; echo "$peak" >"$file.tmp" && mv "$file.tmp" "$file"; fi
    sleep 0.2
  done
}

write_nginx_conf() {
  local dir=$1 port=$2
  mkdir -p "$dir/temp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes $partitions;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir/temp/client_body;
  proxy_temp_path $dir/temp/proxy;
  fastcgi_temp_path $dir/temp/fastcgi;
  uwsgi_temp_path $dir/temp/uwsgi;
  scgi_temp_path $dir/temp/scgi;
  server {
    listen 127.0.0.1:$port reuseport;
    location / {
      default_type text/plain;
      return 200 "Hello, World!";
    }
  }
}
EOF
}

# Starts ARCHITECTURE on PORT (HTTP/2 on H2PORT) and returns once every process is serving; sets server_pids,
# startup_ms (launch to the first 200 response) and ready_ms (launch to every process listening).
start_servers() {
  local architecture=$1 port=$2 h2port=$3 log=$4 start now i pid
  local nginx_dir=${log%.server.log}.nginx
  server_pids=()
  start=${EPOCHREALTIME/./}
  case $architecture in
    nginx)
      write_nginx_conf "$nginx_dir" "$port"
      "${server_cpu[@]}" /usr/sbin/nginx -e "$nginx_dir/error.log" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -g 'daemon off;' >"$log" 2>&1 &
      server_pids+=($!) ;;
    processes)
      for i in $(seq "$partitions"); do
        BENCH_STATS_PORT=$((stats_port + i - 1)) "${server_cpu[@]}" "$app" processes "$port" "$partitions" "$h2port" >"$log.$i" 2>&1 &
        server_pids+=($!)
      done ;;
    partitioned-transport|partitioned-transport-pool|partitioned-dedicated)
      BENCH_STATS_PORT=$stats_port DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 \
        "${server_cpu[@]}" "$app" "$architecture" "$port" "$partitions" "$h2port" >"$log" 2>&1 &
      server_pids+=($!) ;;
    *)
      BENCH_STATS_PORT=$stats_port "${server_cpu[@]}" "$app" "$architecture" "$port" "$partitions" "$h2port" >"$log" 2>&1 &
      server_pids+=($!) ;;
  esac
  for i in $(seq 3000); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/plaintext" || true) == 200 ]] && break
    for pid in "${server_pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "run.sh: $architecture exited at start; its output:" >&2; cat "$log"* "$nginx_dir/error.log" >&2 2>/dev/null; exit 1; }
    done
    ((i < 3000)) || { echo "run.sh: $architecture did not answer within 30 s" >&2; exit 1; }
    sleep 0.01
  done
  now=${EPOCHREALTIME/./}
  startup_ms=$(((now - start) / 1000))
  # With SO_REUSEPORT the kernel only spreads connections over the sockets already listening: wait for them all.
  if [[ $architecture == processes ]]; then
    for i in $(seq "$partitions"); do
      until grep -q '^ready' "$log.$i"; do
        kill -0 "${server_pids[i - 1]}" 2>/dev/null || { echo "run.sh: process $i of $architecture exited at start:" >&2; cat "$log.$i" >&2; exit 1; }
        sleep 0.01
      done
    done
  fi
  now=${EPOCHREALTIME/./}
  ready_ms=$(((now - start) / 1000))
}

scenario_path() {
  case $1 in
    plaintext|pipelined|http2) echo /plaintext ;;
    json) echo /json ;;
    cpu) echo /cpu ;;
    keyed) echo / ;;
    io) echo /io ;;
    blocking-mix) echo /mix ;;
    starvation) echo /starve ;;
    db) echo /db ;;
    fortunes) echo /fortunes ;;
  esac
}

# Prints "BYTES CPU_TICKS": bytes allocated by the .NET server processes (the sum of their /_stats; - for nginx) and
# the user+system CPU time of all the architecture's server processes and their children, in clock ticks.
server_stats() {
  local architecture=$1 bytes=0 ticks=0 pid children=() fields i count=1
  if [[ $architecture == nginx ]]; then
    bytes=-
  else
    [[ $architecture != processes ]] || count=$partitions
    for ((i = 0; i < count; i++)); do
      read -r fields _ < <(curl -sf --max-time 5 "http://127.0.0.1:$((stats_port + i))/_stats")
      bytes=$((bytes + fields))
    done
  fi
  mapfile -t children < <(pgrep -P "$(IFS=,; echo "${server_pids[*]}")" || true)
  for pid in "${server_pids[@]}" "${children[@]}"; do
    # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the command's closing parenthesis.
    fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -ra fields <<<"$fields"
    ticks=$((ticks + fields[11] + fields[12]))
  done
  echo "$bytes $ticks"
}

# Runs one measured run of SCENARIO against ARCHITECTURE and appends its record to runs.jsonl.
run_one() {
  local architecture=$1 scenario=$2 round=$3 port=$4
  local h2port=$((port + 1)) base="$raw/r$round-$scenario-$architecture" before after
  local url="http://127.0.0.1:$port$(scenario_path "$scenario")"
  local wrk_args=(-t"$threads" -c"$connections" --latency) wrk_tail=()
  [[ $scenario != pipelined ]] || wrk_tail=(-- "$pipeline_depth")
  [[ $scenario != keyed ]] || wrk_args+=(-s benchmarks/wrk/keyed.lua)
  [[ $scenario != pipelined ]] || wrk_args+=(-s benchmarks/wrk/pipeline.lua)

  start_servers "$architecture" "$port" "$h2port" "$base.server.log"
  echo 0 >"$base.rss"
  poll_rss "$base.rss" "${server_pids[@]}" &
  poller_pid=$!

  local record=(--architecture "$architecture" --scenario "$scenario" --round "$round")
  if [[ $scenario == http2 ]]; then
    local h2_url="http://127.0.0.1:$h2port/plaintext"
    "${load_cpu[@]}" h2load -t"$threads" -c"$h2_connections" -m"$h2_streams" -D"$warmup" "$h2_url" >/dev/null
    before=$(server_stats "$architecture")
    "${load_cpu[@]}" h2load -t"$threads" -c"$h2_connections" -m"$h2_streams" -D"$duration" "$h2_url" >"$base.h2load"
    after=$(server_stats "$architecture")
    record+=(--h2load "$base.h2load")
  else
    "${load_cpu[@]}" wrk "${wrk_args[@]}" -d"${warmup}s" "$url" "${wrk_tail[@]}" >/dev/null
    if [[ $scenario == blocking-mix || $scenario == starvation ]]; then
      # The blocking client starts first and outlasts the measured one.
      if [[ $scenario == blocking-mix ]]; then
        BENCH_BLOCK_PAUSE_MS=$block_pause_ms "${load_cpu[@]}" wrk -t1 -c"$block_connections" -d"$((duration + 1))s" --latency \
          -s benchmarks/wrk/block.lua "http://127.0.0.1:$port/" >"$base.blocker" &
      else
        "${load_cpu[@]}" wrk -t1 -c"$starve_connections" -d"$((duration + 1))s" --latency \
          -s benchmarks/wrk/starve.lua "http://127.0.0.1:$port/" >"$base.blocker" &
      fi
      blocker_pid=$!
      sleep 0.3
    fi
    before=$(server_stats "$architecture")
    "${load_cpu[@]}" wrk "${wrk_args[@]}" -d"${duration}s" "$url" "${wrk_tail[@]}" >"$base.wrk"
    after=$(server_stats "$architecture")
    record+=(--wrk "$base.wrk")
    if [[ -n $blocker_pid ]]; then
      wait "$blocker_pid"
      blocker_pid=""
      record+=(--blocker "$base.blocker")
    fi
  fi

  stop_background
  stop_servers
  record+=(--stats-before "$before" --stats-after "$after" --clock-ticks "$(getconf CLK_TCK)")
  python3 benchmarks/results.py record "${record[@]}" --rss-kb "$(cat "$base.rss")" --startup-ms "$startup_ms" --ready-ms "$ready_ms" >>"$runs"
}

db_scenarios=false
for s in "${scenario_list[@]}"; do [[ $s != db && $s != fortunes ]] || db_scenarios=true; done
if $db_scenarios; then
  db_dir=$(mktemp -d /tmp/bench-postgres.XXXXXX)
  echo "Starting PostgreSQL in $db_dir on port $db_port" >&2
  BENCH_DB=$(bash benchmarks/postgres.sh start "$db_dir" "$db_port" | tail -1)
  BENCH_DB_OPTIONS=$db_options
  export BENCH_DB BENCH_DB_OPTIONS
fi

echo "Benchmark: ${#architecture_list[@]} architectures, scenarios $scenarios, $rounds round(s) of ${duration}s after ${warmup}s warm-up, $partitions partitions; raw output in $raw" >&2
run_index=0
for round in $(seq "$rounds"); do
  for scenario in "${scenario_list[@]}"; do
    # Rotate the order each round, so that no architecture always runs first or last.
    count=${#architecture_list[@]}
    for ((k = 0; k < count; k++)); do
      architecture=${architecture_list[(k + round - 1) % count]}
      [[ $architecture != nginx || $scenario == plaintext ]] || continue
      port=$((5100 + 2 * (run_index % 50)))   # ports 5100-5199, a fresh pair for each run
      stats_port=$((5300 + 16 * (run_index % 25)))  # 5300-5699, up to 16 per run (one per process)
      run_index=$((run_index + 1))
      run_one "$architecture" "$scenario" "$round" "$port"
    done
  done
done

python3 benchmarks/results.py meta "$out/meta.json" \
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" cores="$(nproc)" \
  cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  memory_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" \
  os="$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")" \
  dotnet="$(dotnet --version)" \
  wrk="$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')" \
  h2load="$(h2load --version 2>/dev/null | head -1 || echo 'h2load not installed')" \
  nginx="$(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //' || echo 'nginx not installed')" \
  command="$command_line" \
  load="wrk -t$threads -c$connections (HTTP/1.1 keep-alive); http2: h2load -t$threads -c$h2_connections -m$h2_streams" \
  partitions="$partitions" rounds="$rounds" duration_s="$duration" warmup_s="$warmup" \
  scenarios="$scenarios" architectures="$architectures" \
  block_connections="$block_connections" block_pause_ms="$block_pause_ms" starve_connections="$starve_connections" raw="$raw" \
  pinning="$pinning" db_options="$db_options" db_source="${BENCH_DB_SOURCE:-partition}" postgres="$($db_scenarios && "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/postgres" --version || echo 'not used')"
python3 benchmarks/results.py report "$runs" "$out" "$out/meta.json"
dotnet "$charts" "$out/results.json" "$out"
echo >&2
cat "$out/results.md"
