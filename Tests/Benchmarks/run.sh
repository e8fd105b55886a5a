#!/usr/bin/env bash
# Benchmarks a release build of the gateway beside nginx+nchan in one run, with ../shared/bench.
#   Tests/Benchmarks/run.sh                       # the standard scenarios
#   IDLE_CONNS="10000" FANOUTS="1000:10" REPEATS=1 Tests/Benchmarks/run.sh
# Needs nginx and libnginx-mod-nchan (apt-get install -y nginx libnginx-mod-nchan). Loopback only.
#
# The peers take turns: each repeat runs every scenario once on each peer before the next repeat starts. The
# noise of a shared machine comes in spells of tens of seconds, and running all of one peer's repeats and then
# all of the other's lets one spell decide the comparison. The idle scenarios run in the first repeat only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
cd "$root"
swift build -c release --product sse-gateway
export GATEWAY_CMD="$root/.build/release/sse-gateway serve --config $root/Tests/Benchmarks/bench-config.json"
export PEERS=${PEERS:-"gateway nchan1"}
export OUT=${OUT:-$root/.build/bench-$(date +%Y%m%d-%H%M%S).jsonl}
repeats=${REPEATS:-3}
idle=${IDLE_CONNS-"1000 10000 30000"}
cd "$bench"
for ((repeat = 1; repeat <= repeats; repeat++)); do
  if ((repeat == 1)); then conns=$idle; else conns=""; fi
  IDLE_CONNS=$conns REPEATS=1 ./run-peers.sh
done
python3 summarize.py "$OUT"
# Run by run, in the order they ran, so that neighbours can be compared.
python3 - "$OUT" <<'PY'
import json, sys
print("\n| run | p50 ms | p99 ms | server CPU % | steal % (server, client core) |\n|---|---|---|---|---|")
for line in open(sys.argv[1]):
    run = json.loads(line)
    if run.get("mode") != "fanout":
        continue
    lat, steal = run["lat_ms"], [cpu["steal_pct"] for cpu in run.get("cpus", [])]
    print(f"| {run['label']} | {lat['p50']} | {lat['p99']} | {run['server']['cpu_pct']} | {steal} |")
PY
