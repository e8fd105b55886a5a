#!/usr/bin/env bash
# HTTP/2 beside HTTP/1.1 in one run, with h2load (Debian's nghttp2-client) holding the streams:
#   Tests/Benchmarks/http2.sh BINARY          # BINARY: a release build of sse-gateway
#   REPEATS=3 IDLE=10000 SUBSCRIBERS=1000 RATE=100 MODES="h1-tls h2-tls h1 h2c" Tests/Benchmarks/http2.sh BIN
# For each mode: idle memory per stream (IDLE streams; HTTP/2 100 streams per connection, HTTP/1.1 one connection
# each), then, REPEATS times taking turns between the modes, fan-out to SUBSCRIBERS streams at RATE events/s of 200
# bytes for 10 s: server CPU per delivery (from /proc) over the deliveries the gateway counts (/metrics). Modes:
# h1-tls and h2-tls over TLS (ALPN), h1 and h2c (prior knowledge) in cleartext. A fresh gateway for each
# measurement, on CPU 0 with one event loop; h2load and the publisher on CPU 1. IDLE=0 skips the idle part.
# Loopback only.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,9p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(realpath "$1")
repeats=${REPEATS:-3} idle=${IDLE:-10000} subscribers=${SUBSCRIBERS:-1000} rate=${RATE:-100}
modes=${MODES:-"h1-tls h2-tls h1 h2c"}
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install nghttp2-client" >&2; exit 1; }
work=$(mktemp -d -t http2-bench.XXXXXX)
out=${OUT_DIR:-/tmp/http2-bench}/http2-$(date +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$out")"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
for tls in yes no; do
    if [ $tls = yes ]; then
        server="\"tls\": {\"certificateFile\": \"cert.pem\", \"keyFile\": \"key.pem\"}"
    else
        server="\"http2\": {\"cleartext\": true}"
    fi
    cat > "$work/config-$tls.json" <<JSON
{"server": {"host": "127.0.0.1", "port": $port, "threads": 1, "maxConnections": 60000, "backlog": 4096,
            "keepAliveTimeout": "10m", $server},
 "hub": {"store": {"type": "memory"}},
 "logging": {"level": "warning"}, "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
JSON
done

scheme() { case $1 in *-tls) echo https ;; *) echo http ;; esac; }
gw=
start_gateway() { # mode
    stop_gateway
    local tls=no; [ "$(scheme "$1")" = https ] && tls=yes
    taskset -c 0 "$binary" serve --config "$work/config-$tls.json" > "$work/gateway.log" 2>&1 & gw=$!; pids+=($gw)
    for _ in $(seq 1 100); do
        [ "$(curl -sk -o /dev/null -w '%{http_code}' "$(scheme "$1")://127.0.0.1:$port/readyz")" = 200 ] && return
        sleep 0.1
    done
    echo "the gateway did not become ready:" >&2; cat "$work/gateway.log" >&2; exit 1
}
stop_gateway() { if [ -n "$gw" ]; then kill -TERM "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; gw=; fi; }
metric() { # mode name
    curl -sk "$(scheme "$1")://127.0.0.1:$port/metrics" | awk -v name="$2" '$1 == name {print $2}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$gw/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$gw/stat"; }
# Opens `count` streams with h2load in the background; sets `loader`.
open_streams() { # mode count
    local url topic=bench
    url="$(scheme "$1")://127.0.0.1:$port/.well-known/mercure?topic=$topic"
    case $1 in
        h1*) taskset -c 1 h2load --h1 -n "$2" -c "$2" "$url" > "$work/h2load.log" 2>&1 & ;;
        *) taskset -c 1 h2load -n "$2" -c $(( ($2 + 99) / 100 )) -m 100 "$url" > "$work/h2load.log" 2>&1 & ;;
    esac
    loader=$!; pids+=($loader)
    for _ in $(seq 1 600); do
        [ "$(metric "$1" sse_sessions_active)" = "$2.0" ] && return
        sleep 0.1
    done
    echo "$1: only $(metric "$1" sse_sessions_active) of $2 streams opened" >&2; cat "$work/h2load.log" >&2; exit 1
}
close_streams() { kill -KILL "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true; }

for mode in $modes; do
    [ "$idle" -gt 0 ] || break
    start_gateway "$mode"
    before=$(rss_kib)
    open_streams "$mode" "$idle"
    sleep 2
    after=$(rss_kib)
    echo "{\"mode\":\"$mode\",\"scenario\":\"idle\",\"streams\":$idle,\"rss_before_kib\":$before,\"rss_after_kib\":$after}" \
        | tee -a "$out"
    close_streams
done

for ((round = 1; round <= repeats; round++)); do
    for mode in $modes; do
        start_gateway "$mode"
        open_streams "$mode" "$subscribers"
        delivered0=$(metric "$mode" sse_events_delivered_total); delivered0=${delivered0:-0}
        ticks0=$(cpu_ticks)
        taskset -c 1 python3 - "$(scheme "$mode")" "$port" "$rate" 10 <<'PY'
import http.client, ssl, sys, time
scheme, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
if scheme == "https":
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context())
else:
    conn = http.client.HTTPConnection("127.0.0.1", port)
body = "topic=bench&data=" + "x" * 200
start = time.monotonic()
for n in range(int(rate * seconds)):
    delay = start + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    conn.request("POST", "/.well-known/mercure", body, {"Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"publish {n}: {answer.status}")
PY
        sleep 1 # the last events' fan-out
        ticks1=$(cpu_ticks)
        delivered1=$(metric "$mode" sse_events_delivered_total)
        echo "{\"mode\":\"$mode\",\"scenario\":\"fanout\",\"round\":$round,\"subscribers\":$subscribers,\"rate\":$rate,\"delivered\":$((delivered1 - delivered0)),\"expected\":$((subscribers * rate * 10)),\"cpu_ticks\":$((ticks1 - ticks0)),\"hz\":$(getconf CLK_TCK)}" \
            | tee -a "$out"
        close_streams
    done
done
stop_gateway

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print("\n| mode | idle KiB per stream |\n|---|---|")
for r in runs:
    if r["scenario"] == "idle":
        print(f"| {r['mode']} | {(r['rss_after_kib'] - r['rss_before_kib']) / r['streams']:.1f} ({r['streams']} streams) |")
print("\n| mode | µs of server CPU per delivery, round by round | median | delivered of expected |\n|---|---|---|---|")
by_mode = {}
for r in runs:
    if r["scenario"] == "fanout":
        us = r["cpu_ticks"] / r["hz"] * 1e6 / max(r["delivered"], 1)
        by_mode.setdefault(r["mode"], []).append((us, r["delivered"], r["expected"]))
for mode, values in by_mode.items():
    text = " / ".join(f"{v[0]:.2f}" for v in values)
    got = " / ".join(f"{v[1]:,} of {v[2]:,}" for v in values)
    print(f"| {mode} | {text} | {statistics.median(v[0] for v in values):.2f} | {got} |")
PY
echo "raw: $out"
