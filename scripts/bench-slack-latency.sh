#!/usr/bin/env bash
# Outbound Slack calls and reaction-to-row latency, against a fake Slack Web API on loopback (issue 13).
#
#   scripts/bench-slack-latency.sh [REACTIONS (40)] [CALLS (100)]
#   USERO_BIN=/tmp/usero-before scripts/bench-slack-latency.sh     # another build of usero for part 2
#   USERO_BIN_DIR=/path/to/release scripts/bench-slack-latency.sh  # usero and usero-bench-slack-client built elsewhere
#
# 1. Per-call latency of the live client (AsyncHTTPClient) beside URLSession, the client usero had before, both
#    against the same fake: one that writes an answer's head and body in two sends with Nagle on (what a plain
#    Python `http.server` fake does) and one that writes it in one send with TCP_NODELAY.
# 2. Reaction to visible row: `usero serve` against each fake, COUNT signed `reaction_added` events one after
#    another, each polled through `GET /api/feedback` until its row is listed; p50/p90 and the per-call timeline
#    from the fake's log (scripts/slack_latency.py); then once more with the fake answering each Web API call after
#    40 ms, as Slack across the internet would.
# Target (issue 13): reaction to row p50 <= 15 ms. Loopback only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
REACTIONS=${1:-40}
CALLS=${2:-100}
CONFIG=${CONFIG:-release}
if [[ -n "${USERO_BIN_DIR:-}" ]]; then
    BIN=$USERO_BIN_DIR   # builds made elsewhere: usero and usero-bench-slack-client from there
elif [[ "$CONFIG" == release ]]; then
    BIN=$(scripts/release-bin.sh usero usero-bench-slack-client)
else
    for product in usero usero-bench-slack-client; do swift build -c "$CONFIG" --product "$product" >&2; done
    BIN=$(swift build -c "$CONFIG" --show-bin-path)
fi
USERO_BIN=${USERO_BIN:-$BIN/usero}
FAKE_PID=""
trap '[[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null; true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for writes in split one; do
    PORT=$(free_port)
    FAKE_WRITES=$writes python3 scripts/slack_latency.py fake "$PORT" 300 &
    FAKE_PID=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/api/auth.test" >/dev/null 2>&1 && break; sleep 0.1; done
    echo "== one Slack call (chat.getPermalink), fake writing its answers: $writes"
    "$BIN/usero-bench-slack-client" "http://127.0.0.1:$PORT/api/" "$CALLS" 20
    kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=""
done
for writes in split one; do
    echo
    FAKE_WRITES=$writes timeout 600 python3 scripts/slack_latency.py "$USERO_BIN" "$REACTIONS"
done
echo
# As across the internet: every Web API answer 40 ms away (the calls a capture makes, and whether they overlap, show).
FAKE_WRITES=one FAKE_DELAY_MS=40 timeout 600 python3 scripts/slack_latency.py "$USERO_BIN" "$REACTIONS"
