#!/usr/bin/env bash
# Benchmarks a release build of the gateway beside nginx+nchan in one run, with ../shared/bench:
#   Tests/Benchmarks/run.sh                       # the standard scenarios
#   IDLE_CONNS="10000" FANOUTS="1000:10" REPEATS=1 Tests/Benchmarks/run.sh
#   CASES="chain chain-delay nchan1" Tests/Benchmarks/run.sh  # a subset of the cases
# Needs nginx and libnginx-mod-nchan (apt-get install -y nginx libnginx-mod-nchan). Loopback only.
#
# Cases: `gateway` (no middleware, Tests/Benchmarks/bench-config.json), `chain` (the shipped config.json's chain
# and limits, on a memory store, with the benchmark's listener; publishers present a token signed with its key),
# `chain-delay` (the same with `streams.writeDelay` 5 ms) and `nchan1` (nginx+nchan, one worker). The cases take turns: each repeat runs every scenario once on each case before
# the next repeat starts. The noise of a shared machine comes in spells of tens of seconds, and running all of one
# case's repeats and then all of the other's lets one spell decide the comparison. The idle scenarios run in the
# first repeat only. Prints each case's table, then server CPU per delivery as a ratio to nchan's, repeat by repeat.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
cd "$root"
swift build -c release --product sse-gateway
cases=${CASES:-"gateway chain chain-delay nchan1"}
repeats=${REPEATS:-4}
idle=${IDLE_CONNS-"1000 10000 30000"}
stamp=$(date +%Y%m%d-%H%M%S)
out_dir=${OUT_DIR:-$root/.build}
work=$(mktemp -d -t run-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The shipped chain, pointed at the benchmark's listener and a memory store (as nchan keeps its messages).
python3 - "$root/config.json" "$work/chain-config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["server"].update({"host": "127.0.0.1", "port": 18100, "threads": 1, "maxConnections": 60000, "backlog": 4096})
config["hub"]["store"] = {"type": "memory"}
config["logging"] = {"level": "warning"}
json.dump(config, open(sys.argv[2], "w"), indent=1)
config.setdefault("streams", {})["writeDelay"] = "5ms"
json.dump(config, open(sys.argv[2].replace(".json", "-delay.json"), "w"), indent=1)
PY
# A publisher token (HS256, mercure.publish ["*"]) signed with the shipped chain's publisher key.
chain_token=$(python3 - "$work/chain-config.json" <<'PY'
import base64, hashlib, hmac, json, sys, time
config = json.load(open(sys.argv[1]))
auth = next(m for m in config["middleware"] if m["use"] == "auth")
key = auth["publisher"]["key"].encode()
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=")
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"mercure": {"publish": ["*"]}, "exp": int(time.time()) + 86400}).encode())
signature = b64(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + signature).decode())
PY
)

cd "$bench"
for ((repeat = 1; repeat <= repeats; repeat++)); do
  if ((repeat == 1)); then conns=$idle; else conns=""; fi
  for case in $cases; do
    out="$out_dir/bench-$stamp-$case.jsonl"
    case $case in
      gateway)
        GATEWAY_CMD="$root/.build/release/sse-gateway serve --config $root/Tests/Benchmarks/bench-config.json" \
          PEERS=gateway OUT=$out IDLE_CONNS=$conns REPEATS=1 ./run-peers.sh ;;
      chain | chain-delay)
        config=$work/chain-config.json
        [ "$case" = chain-delay ] && config=$work/chain-config-delay.json
        GATEWAY_CMD="$root/.build/release/sse-gateway serve --config $config" \
          GATEWAY_PUB_AUTH="Authorization: Bearer $chain_token" \
          PEERS=gateway OUT=$out IDLE_CONNS=$conns REPEATS=1 ./run-peers.sh ;;
      *) PEERS=$case OUT=$out IDLE_CONNS=$conns REPEATS=1 ./run-peers.sh ;;
    esac
  done
done
for case in $cases; do
  echo; echo "## $case"; python3 summarize.py "$out_dir/bench-$stamp-$case.jsonl"
done
python3 - "$out_dir" "$stamp" $cases <<'PY'
import json, statistics, sys
out_dir, stamp, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {c: [json.loads(l) for l in open(f"{out_dir}/bench-{stamp}-{c}.jsonl") if l.startswith("{")] for c in cases}
def fanouts(case):
    table = {}
    for r in runs[case]:
        if r["mode"] == "fanout" and r.get("delivered_per_s"):
            cpu = r["server"]["cpu_pct"]
            table.setdefault((r["subscribers"], int(r["rate"])), []).append(
                (cpu / 100 * 1e6 / r["delivered_per_s"], r.get("reordered", 0), r.get("lost", 0),
                 r["lat_ms"]["p99"]))
    return table
tables = {c: fanouts(c) for c in cases}
print("\n| case | scenario | µs CPU per delivery, repeat by repeat | median | ratio to nchan, per repeat | reordered | lost | p99 ms |")
print("|---|---|---|---|---|---|---|---|")
peer = tables.get("nchan1", {})
for case in cases:
    for key, values in tables[case].items():
        us = [v[0] for v in values]
        ratios = ""
        if case != "nchan1" and key in peer:
            ratios = " / ".join(f"{a / b[0]:.2f}" for a, b in zip(us, peer[key]))
        print(f"| {case} | {key[0]} × {key[1]} | {' / '.join(f'{u:.2f}' for u in us)} | {statistics.median(us):.2f} "
              f"| {ratios} | {sum(v[1] for v in values)} | {sum(v[2] for v in values)} "
              f"| {' / '.join(f'{v[3]:.0f}' for v in values)} |")
for case in cases:
    idle = [r for r in runs[case] if r["mode"] == "idle"]
    if idle:
        print(f"{case}: idle KiB per stream " + ", ".join(f"{r['conns']}: {r['server'].get('kib_per_conn')}" for r in idle))
print(f"raw: {out_dir}/bench-{stamp}-*.jsonl")
PY
