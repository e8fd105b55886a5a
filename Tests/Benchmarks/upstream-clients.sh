#!/usr/bin/env bash
# Compares two HTTP clients for upstream routes in one run, against Tests/Benchmarks/upstream-backend.py:
#   Tests/Benchmarks/upstream-clients.sh
#   REPEATS=3 COUNT=1000 RATE=20 DURATION=10 PAYLOAD=200 OUT_DIR=/tmp/upstream-clients-bench Tests/Benchmarks/upstream-clients.sh
# Builds Tests/Benchmarks/UpstreamClients (release, scratch path /tmp/upstream-clients-build or $SCRATCH) and runs its
# upstream-clients with COUNT SSE streams on one event loop, taking turns round by round (nio, ahc, nio, ahc...): nio
# is NIO's own HTTP/1 client pipeline as the gateway uses it (UpstreamConnection), ahc is async-http-client 1.37.
# Each run is a fresh client process on CPU 0; the backend and the publisher run on CPU 1. Per run:
#   memory: VmRSS once the first stream is open (the baseline: the process, its event loop, the client and the code
#     that a stream touches are then in place), and again SETTLE s after all COUNT are open; the difference over
#     COUNT - 1 is the KiB per idle stream;
#   CPU: RATE events/s of PAYLOAD bytes for DURATION s, broadcast by the backend to every stream; the client's
#     utime + stime (/proc/PID/stat) from just before the first publish to the last event received, over the events
#     received: µs of client CPU per event. Each stream counts bytes and "\n\n" only, in both modes.
# Events received must equal events published × COUNT (a mismatch is flagged). Results: JSON lines in
# $OUT_DIR/upstream-clients-<date>.jsonl, then a Markdown table with the medians and the ahc/nio ratio. Loopback only.
set -euo pipefail
[ $# -eq 0 ] || { sed -n '2,17p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
repeats=${REPEATS:-3} count=${COUNT:-1000} rate=${RATE:-20} duration=${DURATION:-10} payload=${PAYLOAD:-200}
settle=${SETTLE:-2}
scratch=${SCRATCH:-/tmp/upstream-clients-build}
out_dir=${OUT_DIR:-/tmp/upstream-clients-bench}
mkdir -p "$out_dir"
out=$out_dir/upstream-clients-$(date +%Y%m%d-%H%M%S).jsonl
work=$(mktemp -d -t upstream-clients.XXXXXX)
((count >= 2)) || { echo "COUNT must be at least 2 (the first stream is the baseline)" >&2; exit 2; }

log() { echo "[$(date +%T)] $*" >&2; }

backend_pid= client_pid=
cleanup() {
    exec 3>&-
    for pid in $client_pid $backend_pid; do kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Each stream holds a socket in the client and one in the backend.
if (($(ulimit -n) < count + 100)); then ulimit -n $((count + 100)) || { echo "ulimit -n too low for $count" >&2; exit 1; }; fi

log "building Tests/Benchmarks/UpstreamClients (release, $scratch)"
timeout 1800 swift build -c release --package-path "$root/Tests/Benchmarks/UpstreamClients" --scratch-path "$scratch" \
    > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; log "the build failed"; exit 1; }
binary=$scratch/release/upstream-clients
clk_tck=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
taskset -c 1 python3 "$root/Tests/Benchmarks/upstream-backend.py" "$port" > "$work/backend.log" 2>&1 &
backend_pid=$!
python3 - "$port" <<'PY' || { cat "$work/backend.log" >&2; log "the backend did not listen within 10 s"; exit 1; }
import socket, sys, time
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY

# RATE publishes/s for DURATION s on one keep-alive connection, each due at start + i / RATE.
cat > "$work/publish.py" <<'PY'
import http.client, json, sys, time
port, rate, duration, size = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
body = ("data=" + "x" * size).encode()
headers = {"Content-Type": "application/x-www-form-urlencoded"}
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
total, ok, late = int(rate * duration), 0, 0
start = time.monotonic()
for i in range(total):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    elif delay < -0.05:
        late += 1
    conn.request("POST", "/publish", body, headers)
    response = conn.getresponse()
    response.read()
    ok += response.status == 200
print(json.dumps({"published": ok, "attempted": total, "late": late, "seconds": round(time.monotonic() - start, 3)}))
PY

die() { # message: the client's stderr follows
    log "$1"
    cat "$work/err" >&2 2>/dev/null || true
    exit 1
}
wait_line() { # line, seconds: waits for the client to print exactly that line
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        grep -qx "$1" "$work/out" && return 0
        kill -0 "$client_pid" 2>/dev/null || die "the client exited before printing '$1'"
        sleep 0.05
    done
    die "the client did not print '$1' within $2 s"
}
report() { # -> the client's report line
    local before i
    before=$(wc -l < "$work/out")
    echo report >&3
    for ((i = 0; i < 100; i++)); do
        if (($(wc -l < "$work/out") > before)); then tail -n 1 "$work/out"; return; fi
        sleep 0.05
    done
    die "the client did not report within 5 s"
}
field() { sed -E "s/.*\"$1\": ([0-9]+).*/\1/" <<< "$2"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$client_pid/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$client_pid/stat" | awk '{print $12 + $13}'; } # utime + stime, all threads
loop_ticks() { # utime + stime of the event loop's thread alone (NIO names it NIO-ELT-...)
    local task
    for task in /proc/"$client_pid"/task/*; do
        if [[ $(cat "$task/comm" 2>/dev/null) == NIO-ELT* ]]; then sed 's/.*) //' "$task/stat" | awk '{print $12 + $13}'; fi
    done | awk '{sum += $1} END {print sum + 0}'
}
cpu0_busy() { awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # user nice system irq softirq
now() { date +%s.%N; }

start_client() { # mode
    rm -f "$work/in"
    mkfifo "$work/in"
    : > "$work/out"
    taskset -c 0 "$binary" "$1" "http://127.0.0.1:$port/stream" "$count" < "$work/in" > "$work/out" 2> "$work/err" &
    client_pid=$!
    exec 3<> "$work/in"
}
stop_client() { # the end of stdin ends the client
    exec 3>&-
    local i
    for ((i = 0; i < 200; i++)); do kill -0 "$client_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$client_pid" 2>/dev/null; then log "the client did not exit within 10 s of EOF; killed"; kill -KILL "$client_pid"; fi
    wait "$client_pid" 2>/dev/null || true
    client_pid=
    sleep 1 # the backend drops the closed streams
}

measure() { # mode, round
    local mode=$1 round=$2
    start_client "$mode"
    wait_line warm 30
    sleep "$settle"
    local rss_warm rss_ready threads
    rss_warm=$(rss_kib)
    echo open >&3
    wait_line ready 120
    sleep "$settle"
    rss_ready=$(rss_kib)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$client_pid/status")

    local before cpu0 loop0 busy0 t0 published cpu1 loop1 busy1 t1 after received expected i
    before=$(field events "$(report)")
    t0=$(now)
    busy0=$(cpu0_busy)
    loop0=$(loop_ticks)
    cpu0=$(cpu_ticks)
    published=$(timeout $((duration * 3 + 30)) taskset -c 1 python3 "$work/publish.py" "$port" "$rate" "$duration" "$payload") ||
        die "the publisher failed"
    expected=$(($(field published "$published") * count))
    # The last events may still be on their way: wait for them, up to 10 s.
    for ((i = 0; i < 100; i++)); do
        after=$(report)
        (($(field events "$after") - before >= expected)) && break
        sleep 0.1
    done
    cpu1=$(cpu_ticks)
    loop1=$(loop_ticks)
    busy1=$(cpu0_busy)
    t1=$(now)
    after=$(report)
    received=$(($(field events "$after") - before))
    local rss_after ended
    rss_after=$(rss_kib)
    ended=$(field ended "$after")
    stop_client

    local line
    line=$(python3 - <<PY
import json
count, received, expected = $count, $received, $expected
cpu_s = ($cpu1 - $cpu0) / $clk_tck
elapsed = $t1 - $t0
print(json.dumps({
    "mode": "$mode", "round": $round, "streams": count, "rate": $rate, "duration": $duration, "payload": $payload,
    "rss_warm_kib": $rss_warm, "rss_ready_kib": $rss_ready, "rss_after_kib": $rss_after, "threads": $threads,
    "kib_per_stream": round(($rss_ready - $rss_warm) / (count - 1), 2),
    "publisher": $published, "expected": expected, "received": received, "ended": $ended,
    "ok": received == expected and $ended == 0,
    "cpu_s": round(cpu_s, 3), "elapsed_s": round(elapsed, 3), "cpu_pct": round(100 * cpu_s / elapsed, 1),
    "loop_cpu_s": round(($loop1 - $loop0) / $clk_tck, 3),
    # CPU 0's busy time that was not the client's: another process there would skew the client's figures.
    "cpu0_other_pct": round(100 * (($busy1 - $busy0) / $clk_tck - cpu_s) / elapsed, 1),
    "us_per_event": round(cpu_s * 1e6 / max(received, 1), 3),
}))
PY
)
    echo "$line" >> "$out"
    log "$line"
    [ "$(field ended "$line")" = 0 ] && [ "$received" = "$expected" ] ||
        log "MISMATCH: $mode round $round received $received events of $expected, $ended streams ended"
}

log "load: $(uptime | sed 's/.*load average/load average/'); results -> $out"
for ((round = 1; round <= repeats; round++)); do
    for mode in nio ahc; do
        log "round $round: $mode, $count streams"
        measure "$mode" "$round"
    done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
r0 = runs[0]
print(f"\n{r0['streams']} streams on one event loop; {r0['rate']} events/s × {r0['duration']} s of "
      f"{r0['payload']}-byte data to every stream")
print("\n| mode | round | KiB per idle stream | RSS ready MiB | µs CPU per event | client CPU % | of which event loop "
      "| other load on CPU 0 % | received / expected |\n|---|---|---|---|---|---|---|---|---|")
for r in runs:
    print(f"| {r['mode']} | {r['round']} | {r['kib_per_stream']:.2f} | {r['rss_ready_kib'] / 1024:.1f} "
          f"| {r['us_per_event']:.3f} | {r['cpu_pct']:.1f} | {100 * r['loop_cpu_s'] / max(r['cpu_s'], 1e-9):.0f}% "
          f"| {r['cpu0_other_pct']:.1f} | {r['received']:,} / {r['expected']:,}{'' if r['ok'] else ' MISMATCH'} |")
medians = {}
for mode in ("nio", "ahc"):
    rs = [r for r in runs if r["mode"] == mode]
    medians[mode] = {k: statistics.median(r[k] for r in rs) for k in ("kib_per_stream", "us_per_event", "cpu_pct",
                                                                      "rss_ready_kib")}
    m = medians[mode]
    print(f"| {mode} | median of {len(rs)} | {m['kib_per_stream']:.2f} | {m['rss_ready_kib'] / 1024:.1f} "
          f"| {m['us_per_event']:.3f} | {m['cpu_pct']:.1f} | | | |")
n, a = medians["nio"], medians["ahc"]
ratio = lambda k: a[k] / n[k] if n[k] else float("nan")
print(f"| ahc/nio | | {ratio('kib_per_stream'):.2f}× | {ratio('rss_ready_kib'):.2f}× | {ratio('us_per_event'):.2f}× "
      f"| {ratio('cpu_pct'):.2f}× | | | |")
bad = [r for r in runs if not r["ok"]]
if bad:
    print(f"\n{len(bad)} run(s) did not receive every event: " + ", ".join(f"{r['mode']} round {r['round']}" for r in bad))
PY
echo "raw: $out"
