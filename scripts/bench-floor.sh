#!/usr/bin/env bash
# usero against the HTTP framework's own floor, in one run (issue 13).
#
#   scripts/bench-floor.sh [SECONDS (10)] [CONNECTIONS (32)]
#   CONFIG=debug ROUNDS=2 scripts/bench-floor.sh 5
#   USERO_BIN=/tmp/usero-before FLOOR_BIN=.build/release/usero-floor scripts/bench-floor.sh   # another build
#   USERO_BIN_DIR=/path/to/release scripts/bench-floor.sh   # usero, usero-floor and usero-bench built elsewhere
#
# Starts `usero-floor` (a bare Hummingbird app with usero's server configuration answering GET /healthz with a
# constant) and `usero serve` (temporary SQLite file, Slack signing on) side by side on loopback, then drives each
# with `wrk -t1 -cCONNECTIONS` for SECONDS (after a 2 s warm-up each):
#   floor GET /healthz · usero GET /healthz · signed, ignored Slack `message` events · floor POST /ingest with the
#   same event body · durable POST /api/feedback
# and prints every rate with its ratio to the floor's /healthz measured in the same run (the floor is measured
# before and after the usero runs; the ratio uses their mean), and the POST routes' ratio to the floor's POST too.
# Then the disk's own rate of one committed transaction per row, for the durable figure. ROUNDS > 1 repeats the whole sequence and prints each round.
# The durable rate counts rows actually committed in the SQLite file. Memory: usero's RSS idle (after start-up and
# a few requests), at the end of the write load, and its peak (VmHWM); the floor's idle RSS for comparison.
# Loopback only; every step is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-32}
CONFIG=${CONFIG:-release}
ROUNDS=${ROUNDS:-1}
SECRET="bench-signing-secret-$$"

command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [[ -n "${USERO_BIN_DIR:-}" ]]; then
    BIN=$USERO_BIN_DIR   # builds made elsewhere: usero, usero-floor and usero-bench all from there
elif [[ "$CONFIG" == release ]]; then
    BIN=$(scripts/release-bin.sh usero usero-floor usero-bench)
else
    for product in usero usero-floor usero-bench; do swift build -c "$CONFIG" --product "$product" >&2; done
    BIN=$(swift build -c "$CONFIG" --show-bin-path)
fi
USERO_BIN=${USERO_BIN:-$BIN/usero}
FLOOR_BIN=${FLOOR_BIN:-$BIN/usero-floor}
BENCH_BIN=$BIN/usero-bench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/usero-floor.XXXXXX")
FLOOR_PID="" SERVER_PID=""
cleanup() {
    for pid in $SERVER_PID $FLOOR_PID; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

FLOOR_PORT=$(free_port)
USERO_PORT=$(free_port)
"$FLOOR_BIN" --port "$FLOOR_PORT" 2>"$WORK/floor.log" &
FLOOR_PID=$!
export USERO_DATABASE="$WORK/usero.sqlite" USERO_DATA_DIR="$WORK/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0
CLIENT=$("$USERO_BIN" clients create --name floor-bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
USERO_PORT=$USERO_PORT SLACK_SIGNING_SECRET="$SECRET" "$USERO_BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
wait_up "$FLOOR_PORT" || { echo "usero-floor did not start" >&2; exit 1; }
wait_up "$USERO_PORT" || { echo "usero did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

# The fixture's message event, signed now (valid 300 s; re-signed every round).
sign_event() { scripts/slack-event-lua.sh "$SECRET" >"$WORK/event.lua"; }
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"clientId":"$CLIENT","rating":3,"comment":"Export to CSV times out on large projects","userEmail":"jamie@example.com","pageUrl":"https://yourapp.com/projects/42/export","environment":"staging","metadata":{"appVersion":"2.4.1","build":1842}}'
LUA

# Idle: after start-up and a handful of requests of each kind (the first requests allocate caches).
sign_event
for _ in $(seq 1 20); do curl -fs "http://127.0.0.1:$USERO_PORT/healthz" >/dev/null; done
sleep 1
IDLE_RSS=$(rss_kb "$SERVER_PID")
FLOOR_RSS=$(rss_kb "$FLOOR_PID")

# run NAME URL [script]: prints "rate p50 p99 non2xx" for one bounded wrk run after a 2 s warm-up.
run() {
    local url=$1 script=${2:-} args=()
    if [[ -n "$script" ]]; then args=(-s "$script"); fi
    wrk -t1 -c"$CONNECTIONS" -d2s "${args[@]}" "$url" >/dev/null
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" "$url" >"$WORK/wrk.txt"
    local rate p50 p99 bad
    rate=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
    p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.txt")
    p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")
    bad=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' "$WORK/wrk.txt" | grep -Eo '[0-9]+$' || echo 0)
    echo "$rate $p50 $p99 $bad"
}
commits() { curl -fs "http://127.0.0.1:$USERO_PORT/metrics" | awk '$1=="usero_store_commits_total" {print $2}'; }
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from feedback").fetchone()[0])' "$USERO_DATABASE"; }

echo "== usero vs the floor: wrk -t1 -c$CONNECTIONS, ${DURATION}s per figure, $(nproc) cores shared with wrk; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    sign_event
    FLOOR_A=$(run "http://127.0.0.1:$FLOOR_PORT/healthz")
    HEALTH=$(run "http://127.0.0.1:$USERO_PORT/healthz")
    EVENTS=$(run "http://127.0.0.1:$USERO_PORT/slack/events" "$WORK/event.lua")
    FLOOR_POST=$(run "http://127.0.0.1:$FLOOR_PORT/ingest" "$WORK/event.lua")
    BEFORE=$(rows)
    # The warm-up's rows are counted out: only the measured window's commits count.
    wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/post.lua" "http://127.0.0.1:$USERO_PORT/api/feedback" >/dev/null
    BEFORE=$(rows)
    COMMITS_BEFORE=$(commits)
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$USERO_PORT/api/feedback" >"$WORK/wrk.txt"
    LOAD_RSS=$(rss_kb "$SERVER_PID")
    AFTER=$(rows)
    COMMITS_AFTER=$(commits)
    POST_P50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.txt")
    POST_P99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")
    POST_BAD=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' "$WORK/wrk.txt" | grep -Eo '[0-9]+$' || echo 0)
    FLOOR_B=$(run "http://127.0.0.1:$FLOOR_PORT/healthz")
    PEAK_RSS=$(hwm_kb "$SERVER_PID")
    python3 - "$round" "$FLOOR_A" "$FLOOR_B" "$HEALTH" "$EVENTS" "$BEFORE" "$AFTER" "$DURATION" "$POST_P50" \
        "$POST_P99" "$POST_BAD" "$IDLE_RSS" "$LOAD_RSS" "$PEAK_RSS" "$FLOOR_RSS" "$COMMITS_BEFORE" "$COMMITS_AFTER" \
        "$FLOOR_POST" <<'PY'
import sys
(round_, floor_a, floor_b, health, events, before, after, duration, p50, p99, bad,
 idle, load, peak, floor_rss, commits_before, commits_after, floor_post) = sys.argv[1:]
fa, fb, h, e, fp = (s.split() for s in (floor_a, floor_b, health, events, floor_post))
floor = (float(fa[0]) + float(fb[0])) / 2
rows = (int(after) - int(before)) / float(duration)
def ms(text):
    return float(text[:-2]) if text.endswith("ms") else float(text[:-2]) / 1000 if text.endswith("us") else float(text[:-1]) * 1000
def line(name, rate, p99, bad, target):
    ratio = rate / floor
    verdict = "" if target is None else ("  target >= %d %%: %s" % (target, "met" if ratio * 100 >= target else "NOT met"))
    print("%-44s %9.0f /s  %6.1f %%  p99 %6.2f ms  non-2xx %s%s" % (name, rate, ratio * 100, ms(p99), bad, verdict))
print("-- round %s: floor %.0f /s (before %.0f, after %.0f)" % (round_, floor, float(fa[0]), float(fb[0])))
line("floor GET /healthz (usero-floor)", floor, fb[2], fb[3], None)
line("usero GET /healthz", float(h[0]), h[2], h[3], 85)
line("usero signed ignored message events", float(e[0]), e[2], e[3], 75)
line("usero durable POST /api/feedback (rows)", rows, p99, bad, 45)
line("floor POST /ingest (the same event body)", float(fp[0]), fp[2], fp[3], None)
print("%-44s events %.1f %%, durable POST %.1f %% of the floor's POST with a body" % (
    "ratios to the floor's POST /ingest", float(e[0]) / float(fp[0]) * 100, rows / float(fp[0]) * 100))
print("%-44s p50 %.2f ms, p99 %.2f ms (target p99 < 25 ms: %s)" % (
    "durable POST latency", ms(p50), ms(p99), "met" if ms(p99) < 25 else "NOT met"))
commits = (float(commits_after) - float(commits_before)) / float(duration)
print("%-44s %.0f commits/s, %.1f rows per commit" % ("group commit under the write load", commits,
                                                     rows / commits if commits else 0))
mb = lambda kb: int(kb) / 1024
print("%-44s idle %.1f MB (target < 30: %s), end of write load %.1f MB, peak %.1f MB (target < 80: %s); floor idle %.1f MB" % (
    "usero RSS", mb(idle), "met" if mb(idle) < 30 else "NOT met", mb(load), mb(peak),
    "met" if mb(peak) < 80 else "NOT met", mb(floor_rss)))
print("RESULT round=%s floor=%.0f healthz=%.0f events=%.0f post_rows=%.0f post_p99_ms=%.2f idle_mb=%.1f peak_mb=%.1f" % (
    round_, floor, float(h[0]), float(e[0]), rows, ms(p99), mb(idle), mb(peak)))
PY
done
# The disk, in the same run: one committed synchronous=FULL transaction per row (no batching) for 3 s.
echo "-- the disk: $("$BENCH_BIN" commit-baseline --database "$WORK/baseline.sqlite" --seconds 3)"
