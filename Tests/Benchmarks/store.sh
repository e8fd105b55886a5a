#!/usr/bin/env bash
# Compares the hub's event stores in one run, on the publish side, with pubbench.c (publish latency and rate):
#   Tests/Benchmarks/store.sh BINARY                 # BINARY: a release build of sse-gateway
#   REPEATS=5 STORES="memory sqlite" DURABILITY=strict OUT_DIR=/tmp/store-bench Tests/Benchmarks/store.sh BINARY
# Each round starts the gateway once per store, taking turns (memory, sqlite, memory, sqlite...) so that a noisy
# spell of the machine falls on every store, and runs two scenarios against it: latency (1 connection, 5,000
# publishes after 500 of warm-up) then throughput (32 connections, 20,000 publishes or 5 s, whichever comes first).
# The gateway runs on CPU 0 (one event loop), pubbench on CPU 1. sqlite gets a fresh database each run; DURABILITY,
# when set, becomes its "durability". Results: JSON lines in $OUT_DIR/store-<date>.jsonl, then a Markdown table of
# the medians across rounds. Loopback only.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,10p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(realpath "$1")
[ -x "$binary" ] || { echo "not an executable: $1" >&2; exit 2; }
repeats=${REPEATS:-3}
stores=${STORES:-"memory sqlite"}
durability=${DURABILITY:-}
out_dir=${OUT_DIR:-/tmp/store-bench}
mkdir -p "$out_dir"
out=$out_dir/store-$(date +%Y%m%d-%H%M%S).jsonl
work=$(mktemp -d -t store-bench.XXXXXX)

log() { echo "[$(date +%T)] $*" >&2; }

server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -o "$work/pubbench" "$root/Tests/Benchmarks/pubbench.c"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() { # store, run directory, port -> path of the config
    local store_json
    case $1 in
        memory) store_json='{"type": "memory"}' ;;
        sqlite) store_json="{\"type\": \"sqlite\", \"path\": \"$2/events.sqlite\"${durability:+, \"durability\": \"$durability\"}}" ;;
        *) echo "unknown store kind: $1 (STORES takes memory and sqlite)" >&2; exit 2 ;;
    esac
    # A short readiness grace: the stop is not measured, and the default 5 s would be spent on every run.
    cat > "$2/config.json" <<EOF
{
  "server": { "host": "127.0.0.1", "port": $3, "threads": 1 },
  "hub": { "store": $store_json },
  "shutdown": { "readinessGrace": "100ms" },
  "logging": { "level": "warning" }
}
EOF
    echo "$2/config.json"
}

start_gateway() { # config, port, log
    taskset -c 0 "$binary" serve --config "$1" > "$3" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            local status=0
            wait "$server_pid" || status=$?
            server_pid=
            log "the gateway exited before it was ready (exit status $status); its output:"
            cat "$3" >&2
            exit 1
        fi
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$2/readyz")" = 200 ] && return
        sleep 0.1
    done
    log "the gateway was not ready within 20 s; its output:"
    cat "$3" >&2
    exit 1
}

stop_gateway() { # log
    kill -TERM "$server_pid"
    local deadline=$((SECONDS + 30)) status=0 # the gateway's own hard deadline is 25 s
    while kill -0 "$server_pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "the gateway did not exit within 30 s of SIGTERM; killed. Its output:"
            kill -KILL "$server_pid"; wait "$server_pid" || true; server_pid=
            cat "$1" >&2
            exit 1
        fi
        sleep 0.1
    done
    wait "$server_pid" || status=$?
    server_pid=
    if ((status != 0)); then log "the gateway exited with status $status after SIGTERM; its output:"; cat "$1" >&2; fi
}

scenario() { # store, round, name, port, log, pubbench args...
    local store=$1 round=$2 name=$3 port=$4 gateway_log=$5 line status=0
    shift 5
    line=$(timeout 200 taskset -c 1 "$work/pubbench" --url "http://127.0.0.1:$port/.well-known/mercure" "$@" \
        2> "$work/pubbench.err") || status=$?
    cat "$work/pubbench.err" >&2
    # 1: the run finished with errors (recorded, and shown in the table); anything else: no measurement.
    if ((status != 0 && status != 1)) || [ -z "$line" ]; then
        log "$store round $round $name: pubbench failed (exit status $status); the gateway's output:"
        cat "$gateway_log" >&2
        exit 1
    fi
    ((status == 0)) || log "$store round $round $name: some publishes failed"
    local fields="\"store\":\"$store\","
    [ "$store" = sqlite ] && [ -n "$durability" ] && fields+="\"durability\":\"$durability\","
    line="{$fields\"scenario\":\"$name\",\"round\":$round,${line#\{}"
    echo "$line" >> "$out"
    log "$line"
}

# Every store's configuration is checked before the first run, so that a kind the binary lacks fails at once.
for store in $stores; do
    mkdir -p "$work/check-$store"
    config=$(write_config "$store" "$work/check-$store" "$(free_port)")
    "$binary" check-config "$config" > /dev/null || { log "the gateway refuses the $store configuration (above)"; exit 1; }
done

log "results -> $out"
for ((round = 1; round <= repeats; round++)); do
    for store in $stores; do
        run_dir=$(mktemp -d "$work/$store-$round.XXXXXX")
        port=$(free_port)
        config=$(write_config "$store" "$run_dir" "$port")
        log "round $round: $store on port $port"
        start_gateway "$config" "$port" "$run_dir/gateway.log"
        scenario "$store" "$round" latency "$port" "$run_dir/gateway.log" -c 1 -n 5000 --warmup 500 --timeout 120
        scenario "$store" "$round" throughput "$port" "$run_dir/gateway.log" -c 32 -n 20000 -t 5 --timeout 60
        stop_gateway "$run_dir/gateway.log"
        rm -rf "$run_dir"
    done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
stores = list(dict.fromkeys(r["store"] for r in runs))
metrics = ("p50_ms", "p99_ms", "rate")
print("\n| scenario | store | rounds | p50 ms | p99 ms | publishes/s | errors |\n|---|---|---|---|---|---|---|")
for scenario in ("latency", "throughput"):
    medians = {}
    for store in stores:
        rs = [r for r in runs if r["store"] == store and r["scenario"] == scenario]
        if not rs:
            continue
        medians[store] = {m: statistics.median(r[m] for r in rs) for m in metrics}
        conns = rs[0]["conns"]
        m = medians[store]
        print(f"| {scenario} c={conns} | {store} | {len(rs)} | {m['p50_ms']:.3f} | {m['p99_ms']:.3f} "
              f"| {m['rate']:.0f} | {sum(r['errors'] for r in rs)} |")
    for store in stores:
        if store != "memory" and store in medians and "memory" in medians:
            ratio = [medians[store][m] / medians["memory"][m] if medians["memory"][m] else float("nan")
                     for m in metrics]
            print(f"| {scenario} | {store}/memory | | {ratio[0]:.2f}× | {ratio[1]:.2f}× | {ratio[2]:.2f}× | |")
PY
echo "raw: $out"
