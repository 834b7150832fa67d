#!/usr/bin/env bash
# Drill: PostgreSQL goes away and comes back. Submissions are refused with a 503 while it is down, and accepted again
# within a few seconds of its return, however long it was gone.
#
#   [SENDERS=N] scripts/drill-postgres-outage.sh [OUTAGE_SECONDS (90)] [TARGET_SECONDS (5)]
#
# Starts a throwaway cluster (scripts/pg-cluster.sh) and a release `usero serve` on it, submits one feedback item,
# stops the cluster in immediate mode (no shutdown checkpoint, like a power cut), submits once a second for
# OUTAGE_SECONDS (each must be a 503), starts the cluster again and times the first 200 after it is back. Exits
# non-zero when a submission during the outage was not a 503 or the first 200 came later than TARGET_SECONDS.
#
# SENDERS=N: under continuous load instead. N clients submit one item after another, without pause, for 8 s before the
# outage, during it, and 10 s after; the writer lanes then hold their connections when the server goes. Fails when an
# acknowledged item is not in the database afterwards, when an answer in the outage after its first second is not a
# 503, or when the first 200 after the restart came later than TARGET_SECONDS. (Submissions whose batch was being
# committed when the server went may be answered 500: their commit is in doubt and the server cannot be asked;
# README, "Durability".)
set -euo pipefail
cd "$(dirname "$0")/.."
outage=${1:-90}
target=${2:-5}
[ -z "${SENDERS:-}" ] || [[ "$SENDERS" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "SENDERS must be 1-999" >&2; exit 2; }
bin="$(scripts/release-bin.sh usero)/usero"

eval "$(scripts/pg-cluster.sh start)"
work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export USERO_DATABASE="$USERO_TEST_POSTGRES_URL" USERO_DATA_DIR="$work/data" USERO_TOKEN_KEY="$(openssl rand -base64 32)"
export LOG_LEVEL=$([ -n "${SENDERS:-}" ] && echo error || echo warning) USERO_PUBLIC_RATE_LIMIT=0
client=$("$bin" clients create --name drill | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
"$bin" serve --port "$port" 2>>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

if [ -n "${SENDERS:-}" ]; then
# Each answer as "sent answered status feedbackId", times in seconds since the senders started.
python3 - "$port" "$client" "$((8 + outage + 10))" "$SENDERS" > "$work/answers.txt" <<'PY' &
import http.client, json, sys, threading, time
port, client, seconds, senders = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
start, answers, lock = time.time(), [], threading.Lock()
def send(sender):
    connection, n = None, 0
    while time.time() - start < seconds:
        n += 1
        sent = time.time() - start
        try:
            connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/api/feedback", json.dumps({"clientId": client, "comment": f"{sender}-{n}"}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
            status, item = response.status, json.loads(body).get("feedbackId", "-") if response.status == 200 else "-"
        except Exception:
            connection, status, item = None, 0, "-"
        with lock:
            answers.append(f"{sent:.3f} {time.time() - start:.3f} {status} {item}")
threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print("\n".join(answers))
PY
load=$!
sleep 8
scripts/pg-cluster.sh crash "$USERO_PG_CLUSTER" >/dev/null
sleep "$outage"
scripts/pg-cluster.sh restart "$USERO_PG_CLUSTER" >/dev/null
wait $load
"$(cat "$USERO_PG_CLUSTER/bin")/psql" -qAtX "$USERO_TEST_POSTGRES_URL" -c "SELECT id FROM feedback" > "$work/stored.txt"
python3 - "$work/answers.txt" "$work/stored.txt" "$outage" "$target" <<'PY'
import collections, sys
answers = [line.split() for line in open(sys.argv[1]) if line.strip()]
stored = set(open(sys.argv[2]).read().split())
outage, target = float(sys.argv[3]), float(sys.argv[4])
answers = [(float(sent), float(done), int(status), item) for sent, done, status, item in answers]
acknowledged = {item for _, _, status, item in answers if status == 200}
statuses = collections.Counter(status for _, _, status, _ in answers)
# The outage began 8 s in; the restart about `outage` s later (plus the cluster's start).
down, up = 8.0, 8.0 + outage
during = [status for sent, done, status, _ in answers if sent >= down + 1 and done <= up]
first_back = min((done for sent, done, status, _ in answers if status == 200 and sent >= up), default=None)
missing = len(acknowledged - stored)
print(f"{len(answers)} answers {dict(statuses)}; acknowledged {len(acknowledged)}, of them missing {missing}; "
      f"stored but not acknowledged {len(stored - acknowledged)}")
print(f"answers in the outage after its first second: {dict(collections.Counter(during))}")
print("first 200 after the restart: " + (f"{first_back - up:.1f} s (target {target:.0f} s)" if first_back else "none"))
ok = missing == 0 and set(during) <= {503} and first_back is not None and first_back - up <= target
sys.exit(0 if ok else 1)
PY
exit
fi

submit() { # prints the status
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"clientId\":\"$client\",\"comment\":\"drill\"}" "http://127.0.0.1:$port/api/feedback"
}
[ "$(submit)" = 200 ] || { echo "drill-postgres-outage: the first submission failed" >&2; exit 1; }

scripts/pg-cluster.sh crash "$USERO_PG_CLUSTER" >/dev/null
refused=0; other=0; slowest=0
end=$(($(date +%s) + outage))
while [ "$(date +%s)" -lt "$end" ]; do
    started=$(date +%s%N)
    if [ "$(submit)" = 503 ]; then refused=$((refused + 1)); else other=$((other + 1)); fi
    took=$((($(date +%s%N) - started) / 1000000))
    [ "$took" -gt "$slowest" ] && slowest=$took
    sleep 1
done
scripts/pg-cluster.sh restart "$USERO_PG_CLUSTER" >/dev/null
back=$(date +%s%N)
until [ "$(submit)" = 200 ]; do sleep 0.1; done
recovered=$(python3 -c "print(f'{($(date +%s%N) - $back) / 1e9:.1f}')")

echo "outage ${outage}s: $refused submissions answered 503 ($other otherwise), the slowest in ${slowest} ms"
echo "first 200 ${recovered}s after the server was back (target: ${target}s)"
[ "$other" -eq 0 ] && python3 -c "import sys; sys.exit(0 if $recovered <= $target else 1)"
