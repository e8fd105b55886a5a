#!/usr/bin/env bash
# Two gateways on one PostgreSQL (the postgres store), in one run:
#   Tests/Benchmarks/cluster.sh BINARY          # BINARY: a release build of sse-gateway
#   REPEATS=5 SUBSCRIBERS=100 RATE=100 Tests/Benchmarks/cluster.sh .build/release/sse-gateway
# Starts a throwaway PostgreSQL (Debian's postgresql; initdb as the postgres OS user when run as root) and two
# gateways (one event loop each), then, REPEATS times, taking turns: delivery latency with the subscribers on the
# publishing node (same-node) and on the other node (cross-node), with ../shared/bench's ssebench; then publishes
# per second with 32 publishers through one node, and 16 through each of the two at once, with pubbench.
# Nothing is pinned: on a 2-core machine PostgreSQL, both gateways and the load share the cores, so the figures
# compare the scenarios with each other, not with a deployment. Loopback only.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,10p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(realpath "$1")
repeats=${REPEATS:-3} subscribers=${SUBSCRIBERS:-100} rate=${RATE:-100}
bench=${BENCH_DIR:-$root/../shared/bench}
work=$(mktemp -d -t cluster-bench.XXXXXX)
out=${OUT_DIR:-/tmp/cluster-bench}/cluster-$(date +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$out")"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    as_pg "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -o "$work/ssebench" "$bench/ssebench.c"
gcc -O2 -o "$work/pubbench" "$root/Tests/Benchmarks/pubbench.c"
[ "$(id -u)" = 0 ] && chown postgres "$work"
pg_port=$(free_port)
as_pg "$pgbin/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 30 \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null

start_gateway() { # name -> port
    local port; port=$(free_port)
    cat > "$work/$1.json" <<JSON
{"server": {"host": "127.0.0.1", "port": $port, "threads": 1, "maxConnections": 60000},
 "hub": {"store": {"type": "postgres", "url": "postgres://postgres@127.0.0.1:$pg_port/postgres", "tls": "disable"}},
 "logging": {"level": "warning"}, "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
JSON
    "$binary" serve --config "$work/$1.json" > "$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && { echo "$port"; return; }
        sleep 0.1
    done
    echo "gateway $1 did not become ready:" >&2; cat "$work/$1.log" >&2; exit 1
}
a=$(start_gateway a)
b=$(start_gateway b)

fanout() { # label, subscribe port, publish port
    "$work/ssebench" --mode fanout -c "$subscribers" -r "$rate" -t 10 --payload 200 --label "$1" \
        --url "http://127.0.0.1:$2/.well-known/mercure?topic={run}" \
        --pub-url "http://127.0.0.1:$3/.well-known/mercure" --pub-conns 4 \
        --pub-header 'Content-Type: application/x-www-form-urlencoded' --pub-body 'topic={run}&data={msg}' \
        | sed "s/^{/{\"scenario\":\"$1\",/" >> "$out"
}
for ((round = 1; round <= repeats; round++)); do
    fanout same-node "$a" "$a"
    fanout cross-node "$b" "$a"
done
"$work/pubbench" --url "http://127.0.0.1:$a/.well-known/mercure" -c 32 -n 10000 \
    | sed 's/^{/{"scenario":"publish-one-node",/' >> "$out"
"$work/pubbench" --url "http://127.0.0.1:$a/.well-known/mercure" -c 16 -n 5000 > "$work/p1.json" &
"$work/pubbench" --url "http://127.0.0.1:$b/.well-known/mercure" -c 16 -n 5000 > "$work/p2.json"
wait %1 2>/dev/null || true
python3 - "$work/p1.json" "$work/p2.json" >> "$out" <<'PY'
import json, sys
runs = [json.load(open(path)) for path in sys.argv[1:]]
seconds = max(r["seconds"] for r in runs)
print(json.dumps({"scenario": "publish-two-nodes", "published": sum(r["published"] for r in runs),
                  "errors": sum(r["errors"] for r in runs), "seconds": seconds,
                  "rate": sum(r["published"] for r in runs) / seconds,
                  "p99_ms": max(r["p99_ms"] for r in runs)}))
PY
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print("\n| scenario | runs | delivered | p50 ms | p99 ms |\n|---|---|---|---|---|")
for name in ("same-node", "cross-node"):
    rs = [r for r in runs if r["scenario"] == name]
    p50 = " / ".join(f"{r['lat_ms']['p50']:.1f}" for r in rs)
    p99 = " / ".join(f"{r['lat_ms']['p99']:.1f}" for r in rs)
    delivered = sum(r["delivered"] for r in rs)
    expected = sum(r["published"] * r["subscribers"] for r in rs)
    print(f"| {name} | {len(rs)} | {delivered:,} of {expected:,} | {p50} | {p99} |")
print("\n| publishing | publishes/s | errors | p99 ms |\n|---|---|---|---|")
for r in runs:
    if r["scenario"].startswith("publish"):
        print(f"| {r['scenario']} | {r['rate']:.0f} | {r['errors']} | {r['p99_ms']:.1f} |")
PY
echo "raw: $out"
