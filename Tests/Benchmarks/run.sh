#!/usr/bin/env bash
# Benchmarks a release build of the gateway beside nginx+nchan in one run, with ../shared/bench.
#   Tests/Benchmarks/run.sh                       # the standard scenarios
#   IDLE_CONNS="10000" FANOUTS="1000:10" REPEATS=1 Tests/Benchmarks/run.sh
# Needs nginx and libnginx-mod-nchan (apt-get install -y nginx libnginx-mod-nchan). Loopback only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
cd "$root"
swift build -c release --product sse-gateway
export GATEWAY_CMD="$root/.build/release/sse-gateway serve --config $root/Tests/Benchmarks/bench-config.json"
export PEERS=${PEERS:-"gateway nchan1"}
export OUT=${OUT:-$root/.build/bench-$(date +%Y%m%d-%H%M%S).jsonl}
cd "$bench"
./run-peers.sh
python3 summarize.py "$OUT"
