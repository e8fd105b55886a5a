#!/usr/bin/env bash
# Compares two builds of the gateway in one run, taking turns scenario by scenario, with ../shared/bench:
#   Tests/Benchmarks/compare.sh OLD_BINARY NEW_BINARY
#   REPEATS=5 FANOUTS="1000:100 100:1000" IDLE_CONNS=10000 Tests/Benchmarks/compare.sh old/sse-gateway new/sse-gateway
# Each repeat runs every scenario on OLD, then on NEW (the idle scenarios in the first repeat only), so that a noisy
# spell of the machine falls on both. Prints, run by run, server CPU per delivery and idle KiB per stream.
# CONFIG (default Tests/Benchmarks/bench-config.json) must listen on 127.0.0.1:18100; CONFIG_OLD and CONFIG_NEW
# override it for one side, so that one binary can be compared with itself under two configurations, e.g.
#   CONFIG_NEW=Tests/Benchmarks/bench-sqlite-config.json Tests/Benchmarks/compare.sh BIN BIN
# Loopback only.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,10p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
old=$(realpath "$1") new=$(realpath "$2")
config=${CONFIG:-$root/Tests/Benchmarks/bench-config.json}
config_old=$(realpath "${CONFIG_OLD:-$config}") config_new=$(realpath "${CONFIG_NEW:-$config}")
repeats=${REPEATS:-3}
idle=${IDLE_CONNS-"10000"}
export FANOUTS=${FANOUTS:-"1000:100"}
stamp=$(date +%Y%m%d-%H%M%S)
out_old=${OUT_DIR:-$root/.build}/compare-$stamp-old.jsonl
out_new=${OUT_DIR:-$root/.build}/compare-$stamp-new.jsonl
cd "$bench"
for ((repeat = 1; repeat <= repeats; repeat++)); do
  if ((repeat == 1)); then conns=$idle; else conns=""; fi
  for side in old new; do
    if [ "$side" = old ]; then binary=$old out=$out_old conf=$config_old; else binary=$new out=$out_new conf=$config_new; fi
    GATEWAY_CMD="$binary serve --config $conf" PEERS=gateway OUT=$out IDLE_CONNS=$conns REPEATS=1 ./run-peers.sh
  done
done
python3 - "$out_old" "$out_new" <<'PY'
import json, statistics, sys
def runs(path):
    return [json.loads(line) for line in open(path)]
sides = {"old": runs(sys.argv[1]), "new": runs(sys.argv[2])}
print("\n| build | scenario | µs of server CPU per delivery, run by run | median | lost, reordered | idle KiB per stream |")
print("|---|---|---|---|---|---|")
for name, results in sides.items():
    idle = [r["server"]["kib_per_conn"] for r in results if r["mode"] == "idle"]
    scenarios = {}
    for r in results:
        if r["mode"] != "fanout" or not r.get("delivered_per_s"):
            continue
        key = f"c={r['subscribers']} r={int(r['rate'])}"
        entry = scenarios.setdefault(key, ([], [0, 0]))
        entry[0].append(r["server"]["cpu_pct"] / 100 * 1e6 / r["delivered_per_s"])
        entry[1][0] += r.get("lost", 0)
        entry[1][1] += r.get("reordered", 0)
    for key, (values, (lost, reordered)) in scenarios.items():
        runs_text = " / ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {key} | {runs_text} | {statistics.median(values):.2f} | {lost}, {reordered} "
              f"| {', '.join(map(str, idle))} |")
PY
echo "raw: $out_old $out_new"
