#!/usr/bin/env bash
# Compares the gateway with and without stream compression, with ../shared/bench's ssebench patched to inflate
# gzip/deflate bodies (ssebench-content-encoding.patch), on one event loop (threads 1):
#   - idle: server RSS per stream for IDLE_CONNS idle streams;
#   - fanout: deliveries/s and server CPU for FANOUT_CONNS subscribers at each rate of RATES.
# Three servers per scenario: "off" (no middleware), "identity" (compression configured, clients do not ask for it)
# and "gzip" (clients send Accept-Encoding: gzip).
#   Tests/Benchmarks/compression.sh
#   IDLE_CONNS=2000 FANOUT_CONNS=1000 RATES="10 50" DURATION=10 Tests/Benchmarks/compression.sh
# Loopback only. Results: JSON lines in $OUT, one summary line per run on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
port=${GATEWAY_PORT:-18100}
IDLE_CONNS=${IDLE_CONNS:-2000}
FANOUT_CONNS=${FANOUT_CONNS:-1000}
RATES=${RATES:-"10 50 100"}
DURATION=${DURATION:-10}
OUT=${OUT:-$root/.build/compression-$(date +%Y%m%d-%H%M%S).jsonl}
cd "$root"
swift build -c release --product sse-gateway
work=$(mktemp -d -t compression-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$bench/ssebench.c" "$work/ssebench.c"
patch -s -d "$work" -p1 < "$root/Tests/Benchmarks/ssebench-content-encoding.patch"
gcc -O2 -o "$work/ssebench" "$work/ssebench.c" -lz
sed "s/18100/$port/" "$root/Tests/Benchmarks/bench-config.json" > "$work/off.json"
sed "s/18100/$port/" "$root/Tests/Benchmarks/compression-config.json" > "$work/on.json"
ulimit -n "$(ulimit -Hn)"

server_pid=
start_server() { # config
    taskset -c 0 "$root/.build/release/sse-gateway" serve --config "$1" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && return
        sleep 0.1
    done
    echo "the gateway did not start" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() {
    kill -TERM "$server_pid"; wait "$server_pid" || true
}

summarize() { # label, result line
    python3 - "$1" "$2" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
s = r["server"]
if r["mode"] == "idle":
    print(f"{label:9} idle  c={r['conns']:<5} ok={r['ok']:<5} rss {s['rss_base_kib']} -> {s['rss_conn_kib']} KiB"
          f"  = {s['kib_per_conn']:.2f} KiB/stream")
else:
    print(f"{label:9} fanout c={r['conns']} r={r['rate']:g}: {r['delivered_per_s']} deliveries/s,"
          f" ratio {r['delivery_ratio']:.4f}, p50 {r['lat_ms']['p50']} ms, p99 {r['lat_ms']['p99']} ms,"
          f" server CPU {s['cpu_pct']}%")
PY
}

run() { # label, config, extra ssebench args...
    local label=$1 config=$2; shift 2
    start_server "$config"
    local line
    line=$(taskset -c 1 "$work/ssebench" --pid "$server_pid" --label "$label" "$@" 2> "$work/bench.err" | tail -1)
    stop_server
    echo "$line" >> "$OUT"
    summarize "$label" "$line"
}

sub="http://127.0.0.1:$port/.well-known/mercure?topic={run}"
pub=(--pub-url "http://127.0.0.1:$port/.well-known/mercure" --pub-method POST
    --pub-header 'Content-Type: application/x-www-form-urlencoded' --pub-body 'topic={run}&data={msg}')
for variant in off identity gzip; do
    config=$work/on.json; header=()
    [ "$variant" = off ] && config=$work/off.json
    [ "$variant" = gzip ] && header=(-H 'Accept-Encoding: gzip')
    run "$variant" "$config" --mode idle -c "$IDLE_CONNS" --hold 5 --url "$sub" "${header[@]}"
    for rate in $RATES; do
        run "$variant" "$config" --mode fanout -c "$FANOUT_CONNS" -r "$rate" -t "$DURATION" --drain 10 \
            --url "$sub" "${pub[@]}" "${header[@]}"
    done
done
echo "results: $OUT"
