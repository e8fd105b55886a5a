#!/usr/bin/env bash
# Upstream routes in one run, against Tests/Benchmarks/upstream-backend.py:
#   Tests/Benchmarks/upstream.sh BINARY          # BINARY: a release build of sse-gateway
#   REPEATS=3 CLIENTS=1000 RATE=100 Tests/Benchmarks/upstream.sh .build/release/sse-gateway
# Idle memory per stream and upstream requests held, per-client route against shared route (CLIENTS idle streams
# each); then, REPEATS times, taking turns: delivery through one shared upstream request to CLIENTS clients, and the
# hub's own fan-out to as many, at RATE events/s for 10 s (ssebench from ../shared/bench). The gateway runs on CPU 0
# with one event loop; the backend and the load generator on CPU 1. Loopback only.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,8p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(realpath "$1")
repeats=${REPEATS:-2} clients=${CLIENTS:-1000} rate=${RATE:-100}
bench=${BENCH_DIR:-$root/../shared/bench}
work=$(mktemp -d -t upstream-bench.XXXXXX)
out=${OUT_DIR:-/tmp/upstream-bench}/upstream-$(date +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$out")"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
gcc -O2 -o "$work/ssebench" "$bench/ssebench.c"

backend=$(free_port)
taskset -c 1 python3 "$root/Tests/Benchmarks/upstream-backend.py" "$backend" & pids+=($!)
gateway=$(free_port)
cat > "$work/config.json" <<JSON
{"server": {"host": "127.0.0.1", "port": $gateway, "threads": 1, "maxConnections": 60000, "backlog": 4096},
 "hub": {"store": {"type": "memory"}},
 "routes": [
   {"path": "/app/direct", "upstream": "http://127.0.0.1:$backend/direct"},
   {"path": "/app/shared", "upstream": {"url": "http://127.0.0.1:$backend/shared", "share": true}}],
 "logging": {"level": "warning"}, "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
JSON
gw=
start_gateway() {
    if [ -n "$gw" ]; then kill -TERM "$gw"; wait "$gw" || true; fi
    taskset -c 0 "$binary" serve --config "$work/config.json" > "$work/gateway.log" 2>&1 & gw=$!; pids+=($gw)
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gateway/readyz")" = 200 ] && return; sleep 0.1
    done
    echo "the gateway did not become ready:" >&2; cat "$work/gateway.log" >&2; exit 1
}
upstreams() { curl -s "http://127.0.0.1:$gateway/metrics" | awk '/^sse_upstream_connections_active/ {print $2}'; }

# A fresh gateway for each idle measurement: memory freed by the previous one would hide the next one's growth.
for mode in direct shared; do
    start_gateway
    taskset -c 1 "$work/ssebench" --mode idle -c "$clients" --hold 8 --pid "$gw" --label "idle-$mode" \
        --url "http://127.0.0.1:$gateway/app/$mode" > "$work/idle.json" &
    bench=$!
    sleep 6
    held=$(upstreams)
    wait $bench
    sed "s/^{/{\"scenario\":\"idle-$mode\",\"upstream_requests\":${held:-0},/" "$work/idle.json" >> "$out"
done
start_gateway

for ((round = 1; round <= repeats; round++)); do
    taskset -c 1 "$work/ssebench" --mode fanout -c "$clients" -r "$rate" -t 10 --payload 200 --pid "$gw" \
        --url "http://127.0.0.1:$gateway/app/shared?run={run}" --pub-url "http://127.0.0.1:$backend/publish" \
        --pub-conns 4 --pub-header 'Content-Type: application/x-www-form-urlencoded' --pub-body 'data={msg}' \
        | sed 's/^{/{"scenario":"shared-upstream",/' >> "$out"
    taskset -c 1 "$work/ssebench" --mode fanout -c "$clients" -r "$rate" -t 10 --payload 200 --pid "$gw" \
        --url "http://127.0.0.1:$gateway/.well-known/mercure?topic={run}" \
        --pub-url "http://127.0.0.1:$gateway/.well-known/mercure" --pub-conns 4 \
        --pub-header 'Content-Type: application/x-www-form-urlencoded' --pub-body 'topic={run}&data={msg}' \
        | sed 's/^{/{"scenario":"hub",/' >> "$out"
done

python3 - "$out" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print("\n| idle streams | upstream requests held | KiB per stream (gateway RSS) |\n|---|---|---|")
for r in runs:
    if r["scenario"].startswith("idle"):
        print(f"| {r['scenario']} ({r.get('ok', '?')} streams) | {r['upstream_requests']} | {r['server'].get('kib_per_conn')} |")
print("\n| fan-out | delivered/s | of | µs CPU per delivery | p50 / p99 ms |\n|---|---|---|---|---|")
for r in runs:
    if r["mode"] == "fanout":
        cpu = r["server"]["cpu_pct"] / 100 * 1e6 / max(r["delivered_per_s"], 1)
        print(f"| {r['scenario']} | {r['delivered_per_s']:.0f} | {r['delivered']:,} / {r['published'] * r['subscribers']:,} "
              f"| {cpu:.2f} | {r['lat_ms']['p50']:.1f} / {r['lat_ms']['p99']:.1f} |")
PY
echo "raw: $out"
