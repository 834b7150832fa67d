#!/usr/bin/env bash
# Drill: kill -9 under write load (issue 11). No acknowledged row may be lost.
#
#   scripts/drill-kill9.sh [SECONDS_BEFORE_KILL (5)] [WRITERS (32)] [ROUNDS (3)]
#
# Each round starts a release `usero serve` on the same store, has WRITERS threads POST /api/feedback as fast as
# they can, records every feedbackId the service acknowledged (200), kills the server with SIGKILL mid-load, then
# opens the database and counts how many acknowledged ids are in it. Prints acknowledged, found and lost per round
# and in total (target: lost 0), and the database's integrity check.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
writers=${2:-32}
rounds=${3:-3}
swift build -c release --product usero >/dev/null
bin=$(swift build -c release --show-bin-path)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
server=
trap 'if [ -n "$server" ]; then kill -9 $server 2>/dev/null || true; fi; rm -rf "$work"' EXIT
export USERO_DATABASE="$work/usero.sqlite" USERO_DATA_DIR="$work/data" LOG_LEVEL=error USERO_PUBLIC_RATE_LIMIT=0
client=$("$bin" clients create --name drill | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

total_ack=0; total_lost=0
for round in $(seq "$rounds"); do
    "$bin" serve --port "$port" 2>>"$work/server.log" &
    server=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    result=$(python3 - "$port" "$client" "$server" "$seconds" "$writers" "$USERO_DATABASE" "$round" <<'PY'
import http.client, json, os, signal, sqlite3, sys, threading, time
port, client, pid, seconds, writers, db, round_ = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                                 float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7])
acked, lock, stop = [], threading.Lock(), threading.Event()
errors = 0
def writer(n):
    global errors
    conn = None
    i = 0
    while not stop.is_set():
        i += 1
        body = json.dumps({"clientId": client, "rating": 3, "comment": f"kill9 round {round_} writer {n} #{i}"})
        try:
            if conn is None: conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/api/feedback", body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse(); data = r.read()
            if r.status == 200:
                with lock: acked.append(json.loads(data)["feedbackId"])
            else:
                errors += 1
        except Exception:
            conn = None  # the server died: whatever was not answered was not acknowledged
            if stop.is_set(): return
            time.sleep(0.01)
threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
for t in threads: t.start()
time.sleep(seconds)
os.kill(pid, signal.SIGKILL)
with lock: snapshot = list(acked)
stop.set()
for t in threads: t.join()
# Answers that arrived after the kill were sent before it: they count too.
ids = set(acked)
con = sqlite3.connect(db)
found = 0
for chunk in [list(ids)[i:i+500] for i in range(0, len(ids), 500)]:
    found += con.execute(f"select count(*) from feedback where id in ({','.join('?'*len(chunk))})", chunk).fetchone()[0]
print(len(ids), found, len(ids) - found, errors)
PY
)
    wait $server 2>/dev/null || true
    server=
    read -r ack found lost errs <<<"$result"
    echo "round $round: killed -9 after ${seconds}s of $writers writers: acknowledged $ack, found $found, lost $lost (non-200: $errs)"
    total_ack=$((total_ack + ack)); total_lost=$((total_lost + lost))
done
integrity=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0])" "$USERO_DATABASE")
echo "kill -9 drill: $rounds rounds, $total_ack acknowledged rows, $total_lost lost (target 0); integrity_check: $integrity"
[ "$total_lost" -eq 0 ] && [ "$integrity" = ok ]
