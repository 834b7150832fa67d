#!/usr/bin/env bash
# Slack gateway benchmark, in one run:
#  1. signed, ignored `message` events per second on POST /slack/events, against the same server's GET /healthz
#     (target: at least 70% of the /healthz rate);
#  2. the uninstall scrub of a workspace with ROWS captured rows (target: under 5 s).
# Usage: scripts/bench-slack.sh [seconds-per-wrk-run (10)] [rows (1000000)] [connections (32)]
# Needs: swift, wrk (apt-get install wrk), openssl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROWS=${2:-1000000}
CONNECTIONS=${3:-32}
PORT=${PORT:-18181}
SECRET="bench-signing-secret-$$"

swift build -c release --product usero >/dev/null 2>&1
swift build -c release --product usero-bench >/dev/null 2>&1
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d)
cleanup() {
    if [[ -n "${SERVER:-}" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

USERO_DATABASE="$WORK/usero.sqlite" USERO_DATA_DIR="$WORK/data" USERO_PORT=$PORT SLACK_SIGNING_SECRET="$SECRET" \
    LOG_LEVEL=warning "$BIN/usero" serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

# The fixture's message event, signed now (valid for 300 s, longer than both runs).
scripts/slack-event-lua.sh "$SECRET" >"$WORK/event.lua"
cat >>"$WORK/event.lua" <<'LUA'
done = function(summary, latency, requests)
    io.write(string.format("non2xx=%d\n", summary.errors.status))
end
LUA

rate() { awk '/Requests\/sec/ {print $2}'; }
echo "warm-up…"
wrk -t2 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$PORT/healthz" >/dev/null
wrk -t2 -c"$CONNECTIONS" -d2s -s "$WORK/event.lua" "http://127.0.0.1:$PORT/slack/events" >/dev/null

HEALTH_OUT=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/healthz")
EVENTS_OUT=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/event.lua" "http://127.0.0.1:$PORT/slack/events")
HEALTH=$(echo "$HEALTH_OUT" | rate)
EVENTS=$(echo "$EVENTS_OUT" | rate)
NON2XX=$(echo "$EVENTS_OUT" | awk -F= '/^non2xx=/ {print $2}')
HEALTH_P99=$(echo "$HEALTH_OUT" | awk '$1=="99%" {print $2}')
EVENTS_P99=$(echo "$EVENTS_OUT" | awk '$1=="99%" {print $2}')
STORED=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select (select count(*) from feedback)+(select count(*) from job)+(select count(*) from slack_event_seen)").fetchone()[0])' "$WORK/usero.sqlite")

kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""

echo "== signed, ignored message events vs /healthz ($CONNECTIONS connections, ${DURATION}s each, $(nproc) cores shared with wrk)"
printf 'GET /healthz           %10.0f req/s   p99 %s\n' "$HEALTH" "$HEALTH_P99"
printf 'POST /slack/events     %10.0f req/s   p99 %s   non-2xx %s   rows+jobs+event ids stored %s\n' \
    "$EVENTS" "$EVENTS_P99" "${NON2XX:-?}" "$STORED"
python3 -c 'import sys; r=float(sys.argv[1])/float(sys.argv[2]); v="PASS" if r >= 0.70 else "FAIL"; print(f"ratio events/healthz   {r*100:9.1f} %   (target >= 70 %): {v}")' "$EVENTS" "$HEALTH"

echo "== uninstall scrub of $ROWS captured rows (plus $((ROWS / 10)) rows of another workspace, untouched)"
SCRUB=$("$BIN/usero-bench" uninstall-scrub --rows "$ROWS")
echo "$SCRUB"
python3 -c 'import json,sys; s=json.loads(sys.argv[1])["scrubSeconds"]; v="PASS" if s < 5 else "FAIL"; print(f"scrub {s:.2f} s = {s/60*100:.1f} % of the 60 s promise (target < 5 s): {v}")' "$SCRUB"
