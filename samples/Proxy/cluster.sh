#!/usr/bin/env bash
# Three sample nodes (samples/WebApi) behind the YARP proxy (samples/Proxy) on 127.0.0.1, all on one key map:
# 1,000 keys x 3 increments through the proxy, then checks that each key was served by one node and one partition,
# that the totals are exact, that no node saw a misdirected request, and that a request sent straight to the wrong
# node gets 421 naming the owner. Exits non-zero when a check fails.
#
#   bash samples/Proxy/cluster.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

for tool in curl jq; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done

dotnet build samples/WebApi -c Release -v q --nologo >/dev/null || exit 1
dotnet build samples/Proxy -c Release -v q --nologo >/dev/null || exit 1

for port in 5100 5101 5102 5103 5111 5112 5113; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "FAIL: port $port is already in use on 127.0.0.1; stop what listens there first"
    exit 1
  fi
done

proxy=http://127.0.0.1:5100
nodes=(http://127.0.0.1:5101 http://127.0.0.1:5102 http://127.0.0.1:5103)
management=(5111 5112 5113)
keys=1000

# The configuration every node and the proxy share: the key rule and the node list.
shared=(--PartitionedHosting:Keys:0:Pattern=/counters/{key} --PartitionedHosting:Keys:0:Name=key)
for i in "${!nodes[@]}"; do
  shared+=("--PartitionedHosting:Cluster:Nodes:$i=${nodes[$i]}")
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for i in "${!nodes[@]}"; do
  dotnet samples/WebApi/bin/Release/net10.0/WebApi.dll "--contentRoot=$PWD/samples/WebApi" \
    "--Urls=${nodes[$i]};http://127.0.0.1:${management[$i]}" "--ManagementPort=${management[$i]}" \
    "--PartitionedHosting:Cluster:Self=${nodes[$i]}" --PartitionedHosting:PartitionCount=2 "${shared[@]}" \
    --Logging:LogLevel:Default=Warning >"$work/node$i.log" 2>&1 &
  pids+=($!)
done
dotnet samples/Proxy/bin/Release/net10.0/Proxy.dll "--contentRoot=$PWD/samples/Proxy" "--Urls=$proxy" "${shared[@]}" --Logging:LogLevel:Default=Warning >"$work/proxy.log" 2>&1 &
pids+=($!)

for url in "${nodes[@]/%//healthz}" "$proxy/healthz"; do
  curl -sf --retry 60 --retry-delay 1 --retry-all-errors --max-time 2 -o /dev/null "$url" \
    || { echo "FAIL: $url did not come up"; cat "$work"/*.log; exit 1; }
done

# Ready when the proxy routes by key: a keyed read of each node's keys through the proxy is answered by the owner
# (200), not refused by another node (421).
ready=0
for attempt in $(seq 1 50); do
  statuses=$(for k in 0 1 2 3 4 5 6 7 8 9; do curl -s -o /dev/null -w '%{http_code} ' "$proxy/counters/ready-$k"; done)
  if [[ "$statuses" == "200 200 200 200 200 200 200 200 200 200 " ]]; then ready=1; break; fi
  sleep 0.2
done
if ((ready == 0)); then
  echo "FAIL: the proxy does not route keys to their owners (last statuses: $statuses)"
  tail -n 30 "$work"/*.log
  exit 1
fi

failures=0
check() { # check DESCRIPTION EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    echo "ok:   $1 ($3)"
  else
    echo "FAIL: $1: expected $2, got $3"
    failures=$((failures + 1))
  fi
}

# 1,000 keys x 3 increments through the proxy, many in parallel.
for round in 1 2 3; do
  for ((k = 0; k < keys; k++)); do
    printf 'url = "%s/counters/key-%d"\n' "$proxy" "$k"
  done
done >"$work/requests"
started=$(date +%s.%N)
curl -s --parallel --parallel-max 32 -X POST -w '\n' --config "$work/requests" >"$work/answers" 2>/dev/null
if ! jq -s 'length' "$work/answers" >/dev/null 2>&1; then
  echo "Answers that are not JSON (the first few):"
  grep -v '^{' "$work/answers" | head -5
fi
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
echo "sent $((keys * 3)) increments through the proxy in ${elapsed}s"

check "answers" $((keys * 3)) "$(jq -s 'length' "$work/answers")"
check "keys answered" "$keys" "$(jq -s 'map(.key) | unique | length' "$work/answers")"
check "keys served by more than one node or partition" 0 \
  "$(jq -s 'group_by(.key) | map(select((map([.node, .partition]) | unique | length) != 1)) | length' "$work/answers")"
check "keys whose increments are not exactly 1, 2, 3" 0 \
  "$(jq -s 'group_by(.key) | map(select((map(.value) | sort) != [1, 2, 3])) | length' "$work/answers")"
check "nodes that served keys" 3 "$(jq -s 'map(.node) | unique | length' "$work/answers")"

total=0
misdirected=0
for i in "${!nodes[@]}"; do
  total=$((total + $(curl -sf "${nodes[$i]}/counters" | jq '.total')))
  misdirected=$((misdirected + $(curl -sf "http://127.0.0.1:${management[$i]}/_partitions" | jq '.cluster.misdirected')))
done
check "total of every node's counters" $((keys * 3)) "$total"
check "misdirected requests on the nodes" 0 "$misdirected"

# A key sent straight to a node that does not own it: 421, naming the owner.
owner=$(jq -rs 'map(select(.key == "key-1"))[0].node' "$work/answers")
for node in "${nodes[@]}"; do
  if [[ "$node" != "$owner" ]]; then wrong=$node; break; fi
done
status=$(curl -s -o /dev/null -D "$work/headers" -w '%{http_code}' -X POST "$wrong/counters/key-1")
check "status of key-1 sent to $wrong" 421 "$status"
check "owner named by the 421" "$owner" "$(grep -i '^x-partition-owner:' "$work/headers" | cut -d' ' -f2 | tr -d '\r')"
check "key-1 after the misdirected request" 3 "$(curl -sf "$proxy/counters/key-1" | jq '.value')"

if ((failures > 0)); then
  echo "$failures check(s) failed; logs:"
  tail -n 20 "$work"/*.log
  exit 1
fi
echo "all checks passed"
