#!/usr/bin/env bash
# Inbox page latency with 10,000 items: wrk against /inbox (signed in) and, as a same-run baseline, /healthz.
#
#   scripts/bench-inbox.sh            # release build, 10,000 items, 20 s per target, 8 connections
#   ITEMS=20000 DURATION=30 CONNECTIONS=16 CONFIG=debug scripts/bench-inbox.sh
#
# Prints p50/p99 and requests/s per target and the ratio of each p99 to /healthz's. Target: /inbox p99 < 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS="${ITEMS:-10000}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-8}"
CONFIG="${CONFIG:-release}"

command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c "$CONFIG" --product usero >&2
BIN="$(swift build -c "$CONFIG" --show-bin-path)/usero"

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export USERO_DATABASE="$WORK/usero.sqlite" USERO_DATA_DIR="$WORK/data" USERO_HOST=127.0.0.1 USERO_PORT="$PORT"
export USERO_PUBLIC_URL="http://127.0.0.1:$PORT" LOG_LEVEL=warning
unset SLACK_SIGNING_SECRET SLACK_CLIENT_ID SLACK_CLIENT_SECRET
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

CLIENT="$("$BIN" clients create --name "Inbox benchmark")"
BASE="http://127.0.0.1:$PORT"

# Seed through the public API (8 keep-alive connections), then sign in the way the form does.
SESSION="$(python3 - "$BASE" "$CLIENT" "$ITEMS" <<'PY'
import http.client, json, re, sys, threading, urllib.parse
base, client, total = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
host, port = urllib.parse.urlparse(base).hostname, urllib.parse.urlparse(base).port
def seed(start, step):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    for i in range(start, total, step):
        body = {"clientId": client["clientId"], "rating": i % 4 + 1,
                "comment": "Benchmark feedback number %d: the export button is hard to find on small screens." % i,
                "pageUrl": "https://app.example.com/page/%d" % (i % 50), "pageTitle": "Page %d" % (i % 50),
                "userEmail": "user%d@example.com" % (i % 300), "metadata": {"build": i}}
        if i % 10 == 0: body["environment"] = "staging"
        headers = {"Content-Type": "application/json"}
        if i % 2: headers["X-Usero-Widget"] = "1"
        conn.request("POST", "/api/feedback", json.dumps(body), headers)
        response = conn.getresponse(); response.read()
        assert response.status == 200, response.status
threads = [threading.Thread(target=seed, args=(n, 8)) for n in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
conn = http.client.HTTPConnection(host, port, timeout=30)
conn.request("GET", "/inbox/login"); response = conn.getresponse(); page = response.read().decode()
token = re.search(r'name="loginToken" value="([0-9a-f]+)"', page).group(1)
form = urllib.parse.urlencode({"loginToken": token, "adminKey": client["adminKey"]})
conn.request("POST", "/inbox/login", form, {"Content-Type": "application/x-www-form-urlencoded",
                                            "Cookie": "usero_login=" + token})
response = conn.getresponse(); response.read()
cookies = response.getheader("Set-Cookie")
print(re.search(r"usero_session=([0-9a-f]{64})", cookies).group(1))
PY
)"
echo "seeded $ITEMS items; signed in" >&2

run() {  # name, path, [cookie]
    local out
    if [ -n "${3:-}" ]; then
        out="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: usero_session=$3" "$BASE$2")"
    else
        out="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$BASE$2")"
    fi
    python3 - "$1" "$out" <<'PY'
import re, sys
name, text = sys.argv[1], sys.argv[2]
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % re.escape(label), text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print("%s %.2f %.2f %.0f %s" % (name, ms("50%"), ms("99%"), rps, errors.group(1) if errors else "0"))
PY
}

# The page must really be the signed-in list, not the sign-in redirect.
curl -fsS -H "Cookie: usero_session=$SESSION" "$BASE/inbox" | grep -q 'class="item"'

RESULTS="$(
    run healthz /healthz
    run inbox /inbox "$SESSION"
    run inbox-page2 "/inbox?cursor=$(curl -fsS -H "Cookie: usero_session=$SESSION" "$BASE/inbox" | sed -n 's/.*cursor=\([A-Za-z0-9_-]*\)" rel="next".*/\1/p')" "$SESSION"
    run inbox-staging "/inbox?env=env%3Astaging" "$SESSION"
    run inbox-widget-all "/inbox?source=widget&env=all" "$SESSION"
)"
python3 - "$RESULTS" "$ITEMS" "$CONNECTIONS" "$DURATION" "$CONFIG" <<'PY'
import sys
rows = [line.split() for line in sys.argv[1].strip().splitlines()]
base = float(rows[0][2])
print("inbox benchmark: %s items, %s connections, %s s per target, %s build" % tuple(sys.argv[2:6]))
print("%-18s %9s %9s %9s %10s %8s" % ("target", "p50 ms", "p99 ms", "req/s", "p99/healthz", "non-2xx"))
for name, p50, p99, rps, errors in rows:
    print("%-18s %9s %9s %9s %10.1fx %8s" % (name, p50, p99, rps, float(p99) / base, errors))
worst = max(float(r[2]) for r in rows if r[0].startswith("inbox"))
print("inbox p99 worst: %.2f ms (target < 50 ms): %s" % (worst, "PASS" if worst < 50 else "FAIL"))
PY
