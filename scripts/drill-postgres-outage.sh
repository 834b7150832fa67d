#!/usr/bin/env bash
# Drill: PostgreSQL goes away and comes back. Submissions are refused with a 503 while it is down, and accepted again
# within a few seconds of its return, however long it was gone.
#
#   scripts/drill-postgres-outage.sh [OUTAGE_SECONDS (90)] [TARGET_SECONDS (5)]
#
# Starts a throwaway cluster (scripts/pg-cluster.sh) and a release `usero serve` on it, submits one feedback item,
# stops the cluster in immediate mode (no shutdown checkpoint, like a power cut), submits once a second for
# OUTAGE_SECONDS (each must be a 503), starts the cluster again and times the first 200 after it is back. Exits
# non-zero when a submission during the outage was not a 503 or the first 200 came later than TARGET_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
outage=${1:-90}
target=${2:-5}
bin="$(scripts/release-bin.sh usero)/usero"

eval "$(scripts/pg-cluster.sh start)"
work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export USERO_DATABASE="$USERO_TEST_POSTGRES_URL" USERO_DATA_DIR="$work/data" USERO_TOKEN_KEY="$(openssl rand -base64 32)"
export LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0
client=$("$bin" clients create --name drill | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
"$bin" serve --port "$port" 2>>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

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
