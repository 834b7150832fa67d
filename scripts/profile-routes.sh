#!/usr/bin/env bash
# Where a request's time goes, per route, for the floor and for usero: server CPU per request (perf stat's
# task-clock over the requests wrk counted) and a sampled profile (perf record -g, cpu-clock) summarised by
# scripts/perf_summary.py (top functions by self and inclusive share, and the share under our own layers).
#
#   scripts/profile-routes.sh [SECONDS (8)] [TOP (30)]
#   ALLOC_SECONDS=0 scripts/profile-routes.sh   # without the heap allocation counts (default: 3 s per route)
#   USERO_BIN=/tmp/usero-before FLOOR_BIN=.build/release/usero-floor scripts/profile-routes.sh   # another build
#
# Starts `usero-floor` and `usero serve` (temporary SQLite, Slack signing on), then for each route runs
# `wrk -t1 -c32` for SECONDS while perf samples the server for SECONDS-2 (after a 2 s warm-up). Routes: the floor's
# /healthz, usero's /healthz, signed ignored `message` events, the floor's POST /ingest with the same body, durable
# POST /api/feedback, an admin list (GET /api/feedback?limit=20 with the admin key); then each route's server CPU
# per request beside the floor's. Then, for each route, the heap allocations per request: glibc's malloc, calloc,
# realloc and posix_memalign (where Swift's allocations end up), counted by uprobes with their sizes over
# ALLOC_SECONDS of wrk (the probes slow the server several times over, so this pass runs apart from the CPU figures;
# counts per request do not depend on the speed). Needs linux-perf (apt-get install linux-perf). valgrind's callgrind would count
# instructions, but valgrind 3.19 (Debian 12) cannot read Swift 6 binaries (DWARF 5) and crashes on them. Loopback
# only; bounded by SECONDS per route.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-8}
TOP=${2:-30}
ALLOC_SECONDS=${ALLOC_SECONDS:-3}
[[ "$ALLOC_SECONDS" =~ ^[0-9]+$ ]] && (( ALLOC_SECONDS <= 60 )) || { echo "ALLOC_SECONDS must be 0-60" >&2; exit 2; }
CONFIG=${CONFIG:-release}
SECRET="profile-signing-secret"
(( DURATION >= 4 )) || { echo "SECONDS must be at least 4" >&2; exit 2; }

command -v perf >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [[ -z "${USERO_BIN:-}" || -z "${FLOOR_BIN:-}" ]]; then
    swift build -c "$CONFIG" --product usero >&2
    swift build -c "$CONFIG" --product usero-floor >&2
fi
USERO_BIN=${USERO_BIN:-$(swift build -c "$CONFIG" --show-bin-path)/usero}
FLOOR_BIN=${FLOOR_BIN:-$(swift build -c "$CONFIG" --show-bin-path)/usero-floor}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/usero-profile.XXXXXX")
PIDS=""
PROBES=""
cleanup() {
    for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    [[ -n "$PROBES" ]] && perf probe -q -d "$PROBES:*" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

FLOOR_PORT=$(free_port)
USERO_PORT=$(free_port)
export USERO_DATABASE="$WORK/usero.sqlite" USERO_DATA_DIR="$WORK/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0
CREATED=$("$USERO_BIN" clients create --name profile)
CLIENT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientId"])' "$CREATED")
ADMIN_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["adminKey"])' "$CREATED")
"$FLOOR_BIN" --port "$FLOOR_PORT" 2>"$WORK/floor.log" &
FLOOR_PID=$!
PIDS="$FLOOR_PID"
USERO_PORT=$USERO_PORT SLACK_SIGNING_SECRET="$SECRET" "$USERO_BIN" serve 2>"$WORK/usero.log" &
USERO_PID=$!
PIDS="$PIDS $USERO_PID"
wait_up "$FLOOR_PORT" || { echo "floor did not start" >&2; exit 1; }
wait_up "$USERO_PORT" || { echo "usero did not start" >&2; cat "$WORK/usero.log" >&2; exit 1; }

scripts/slack-event-lua.sh "$SECRET" >"$WORK/events.lua"
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"clientId":"$CLIENT","rating":3,"comment":"Export to CSV times out on large projects","userEmail":"jamie@example.com","pageUrl":"https://yourapp.com/projects/42/export","environment":"staging","metadata":{"appVersion":"2.4.1","build":1842}}'
LUA
: >"$WORK/healthz.lua"
cat >"$WORK/admin.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $ADMIN_KEY"
LUA

MATCHES=(--match Middleware --match RequestObservationMiddleware --match RequestDeadlineHandler
    --match FreeDiskWatermark --match PublicCORSMiddleware --match "OperationsRoutes" --match "HealthCheck"
    --match "DatabasePool.read" --match JSONEncoder --match JSONDecoder --match JSONSerialization
    --match SignatureVerifier --match HMAC --match EventPeek --match SlackIngest --match GroupCommitWriter
    --match fdatasync --match sqlite3 --match "Logger.subscript.setter" --match "Prometheus" --match "epoll_wait"
    --match "futex")
# profile NAME PID PORT PATH SCRIPT BINARY
profile() {
    local name=$1 pid=$2 port=$3 path=$4 script=$5 binary=$6
    wrk -t1 -c32 -d"${DURATION}s" --latency -s "$script" "http://127.0.0.1:$port$path" >"$WORK/$name.wrk" &
    local wrk_pid=$!
    sleep 2
    perf stat -e task-clock -x, -p "$pid" -o "$WORK/$name.stat" -- sleep $((DURATION - 3)) &
    local stat_pid=$!
    perf record -N -q -e cpu-clock -F 999 -g -p "$pid" -o "$WORK/$name.data" -- sleep $((DURATION - 3)) 2>/dev/null
    wait "$stat_pid" "$wrk_pid"
    local rate cpu_ms
    rate=$(awk '/Requests\/sec/ {print $2}' "$WORK/$name.wrk")
    cpu_ms=$(awk -F, '/task-clock/ {print $1}' "$WORK/$name.stat")
    echo
    python3 -c 'import sys; rate,cpu,secs=float(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print("== %s: %.0f req/s, server CPU %.1f us per request (%.2f cores busy)" % (sys.argv[1], rate, cpu*1000/(rate*secs), cpu/1000/secs))' \
        "$name" "$rate" "$cpu_ms" "$((DURATION - 3))" | tee -a "$WORK/summary.txt"
    perf script -i "$WORK/$name.data" -F ip,sym,dso 2>/dev/null | python3 scripts/perf_summary.py --top "$TOP" "${MATCHES[@]}" "$binary"
}
echo "== profiles: wrk -t1 -c32, ${DURATION}s per route, perf samples at 999 Hz; load: $(cut -d' ' -f1-3 /proc/loadavg)"
# each_route FUNCTION: FUNCTION NAME PID PORT PATH SCRIPT BINARY for every route, in this order.
each_route() {
    "$1" floor-healthz "$FLOOR_PID" "$FLOOR_PORT" /healthz "$WORK/healthz.lua" "$FLOOR_BIN"
    "$1" usero-healthz "$USERO_PID" "$USERO_PORT" /healthz "$WORK/healthz.lua" "$USERO_BIN"
    "$1" usero-events "$USERO_PID" "$USERO_PORT" /slack/events "$WORK/events.lua" "$USERO_BIN"
    "$1" floor-ingest "$FLOOR_PID" "$FLOOR_PORT" /ingest "$WORK/events.lua" "$FLOOR_BIN"
    "$1" usero-post "$USERO_PID" "$USERO_PORT" /api/feedback "$WORK/post.lua" "$USERO_BIN"
    # An admin read (the key's lookup, then a page of the rows the POST run stored): two reads per request.
    "$1" usero-admin-list "$USERO_PID" "$USERO_PORT" "/api/feedback?limit=20" "$WORK/admin.lua" "$USERO_BIN"
}
each_route profile
# Server CPU per request is steadier than requests per second on a shared machine (wrk and other work take the
# rest of the cores): the floor's cost over usero's is the share of the floor's rate usero would reach if both were
# bound by their own CPU.
echo
echo "== server CPU per request, and the floor's over usero's (usero's capacity as a share of the floor's)"
python3 - "$WORK/summary.txt" <<'PY'
import re, sys
cpu = {}
for line in open(sys.argv[1]):
    m = re.match(r"== (\S+): .* server CPU ([0-9.]+) us per request", line)
    if m:
        cpu[m.group(1)] = float(m.group(2))
floor_get, floor_post = cpu.get("floor-healthz"), cpu.get("floor-ingest")
for name, base, target in (("floor-healthz", floor_get, None), ("usero-healthz", floor_get, 85),
                           ("usero-events", floor_get, 75), ("floor-ingest", floor_get, None),
                           ("usero-post", floor_get, 45), ("usero-admin-list", floor_get, None)):
    if name in cpu and base:
        extra = "" if target is None else "  (target >= %d %% of the floor's rate)" % target
        post = "" if name not in ("usero-events", "usero-post") or not floor_post else \
            "; %.1f %% of the floor's POST /ingest" % (100 * floor_post / cpu[name])
        print("  %-14s %7.1f us  %5.1f %% of the floor's GET%s%s" % (name, cpu[name], 100 * base / cpu[name], post, extra))
PY

# Heap allocations per request: uprobes on glibc's allocator entry points (in a probe group of this run's own,
# removed on exit), recorded with their sizes while wrk runs ALLOC_SECONDS against the route.
(( ALLOC_SECONDS > 0 )) || exit 0
LIBC=$(ldd "$USERO_BIN" | awk '$1 ~ /^libc\.so/ {print $3}')
PROBES="usero_alloc_$$"
for spec in "malloc=malloc size=%di:u64" "calloc=__libc_calloc nmemb=%di:u64 size=%si:u64" \
    "realloc=__libc_realloc size=%si:u64" "posix_memalign=__posix_memalign size=%dx:u64"; do
    if ! perf probe -q -x "$LIBC" --add "$PROBES:$spec" >/dev/null 2>&1; then
        echo; echo "== heap allocations: skipped (perf probe could not place a uprobe on $LIBC)"
        exit 0
    fi
done
# allocations NAME PID PORT PATH SCRIPT [BINARY]
allocations() {
    local name=$1 pid=$2 port=$3 path=$4 script=$5
    perf record -q -e "$PROBES:*" -p "$pid" -o "$WORK/$name.alloc" -- sleep $((ALLOC_SECONDS + 2)) 2>/dev/null &
    local record_pid=$!
    sleep 1
    wrk -t1 -c32 -d"${ALLOC_SECONDS}s" -s "$script" "http://127.0.0.1:$port$path" >"$WORK/$name.alloc.wrk"
    wait "$record_pid"
    local requests
    requests=$(awk '/requests in/ {print $1}' "$WORK/$name.alloc.wrk")
    perf script -i "$WORK/$name.alloc" -F event,trace 2>/dev/null | python3 -c '
import re, sys
name, requests = sys.argv[1], max(1, int(sys.argv[2]))
calls, total = {}, 0
for line in sys.stdin:
    m = re.search(r":(malloc|calloc|realloc|posix_memalign):.*?(?:nmemb=(\d+) )?size=(\d+)", line)
    if not m:
        continue
    kind = m.group(1)
    size = int(m.group(3)) * (int(m.group(2)) if m.group(2) else 1)
    calls[kind] = calls.get(kind, 0) + 1
    total += size
n = sum(calls.values())
detail = ", ".join("%s %.1f" % (k, calls[k] / requests) for k in sorted(calls))
print("  %-16s %6.1f allocations, %8.0f bytes per request (%s; %d requests)" % (name, n / requests, total / requests, detail, requests))
' "$name" "${requests:-0}"
}
echo
echo "== heap allocations per request (uprobes on $LIBC, wrk -t1 -c32 for ${ALLOC_SECONDS}s per route, connections included)"
each_route allocations
