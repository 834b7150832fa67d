#!/usr/bin/env bash
# Benchmark: what an `Idempotency-Key` costs a submission, on both backends, in the same run.
#
#   scripts/bench-idempotency.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#
# Drives durable POST /api/feedback as the widget sends it (an allowed `Origin`) with wrk, on a SQLite file and on a
# throwaway PostgreSQL cluster, alternating rounds without a key (the baseline) and with a new key on every request
# (the widget's traffic since it sends one; each request a new submission, so each row carries both digests and an
# entry in the key's unique index). Rows are counted in the store afterwards; prints each run and, per backend, the
# median keyed rate over the median unkeyed one. USERO_BIN_DIR: release builds made elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-8}
connections=${2:-32}
rounds=${3:-3}
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
bin=$(scripts/release-bin.sh usero)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-bench-key.XXXXXX")
chmod 755 "$work"
server=
eval "$(scripts/pg-cluster.sh start)"
trap '[ -z "$server" ] || kill $server 2>/dev/null || true; scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"; rm -rf "$work"' EXIT
pgbin=$(cat "$USERO_PG_CLUSTER/bin")
admin_url=${USERO_TEST_POSTGRES_URL%%\?*}
psql() { "$pgbin/psql" -qAtX "$@"; }
export LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0 USERO_TOKEN_KEY
USERO_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
origin=https://app.example.com

# run NAME BACKEND KEYED: a fresh store of BACKEND (sqlite or postgres), one wrk run; prints "rows/s p99".
run() {
    local name=$1 backend=$2 keyed=$3 database client port rows
    if [ "$backend" = sqlite ]; then
        database="$work/$name.sqlite"
    else
        psql "$admin_url" -c "CREATE DATABASE \"$name\""
        database="${USERO_TEST_POSTGRES_URL%/*}/$name?sslmode=disable"
        psql "$admin_url" -c "CHECKPOINT"
    fi
    export USERO_DATABASE=$database USERO_DATA_DIR="$work/data-$name"
    client=$("$bin" clients create --name bench --allowed-origin "$origin" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" serve --port "$port" &
    server=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    local key_line=""
    # A new key a request, as a widget sending new feedback: the thread's own prefix and a counter.
    [ "$keyed" = 1 ] && key_line='n = n + 1; headers["Idempotency-Key"] = prefix .. n'
    cat > "$work/post.lua" <<LUA
local body = '{"clientId":"$client","rating":3,"comment":"Export to CSV times out on large projects","userEmail":"jamie@example.com","pageUrl":"https://yourapp.com/projects/42/export","environment":"staging","metadata":{"appVersion":"2.4.1","build":1842}}'
local headers = { ["Content-Type"] = "application/json", ["Origin"] = "$origin", ["X-Usero-Widget"] = "1" }
local n = 0
local prefix = string.format("%08x-", math.random(0, 0x7fffffff))
request = function()
  $key_line
  return wrk.format("POST", "/api/feedback", headers, body)
end
LUA
    wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/api/feedback" \
        > "$work/wrk-$name.txt"
    kill -TERM $server; wait $server || true
    server=
    if [ "$backend" = sqlite ]; then
        rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from feedback where (submission_key is not null) = ?', (int(sys.argv[2]),)).fetchone()[0])" "$database" "$keyed")
    else
        rows=$(psql "${USERO_TEST_POSTGRES_URL%/*}/$name" -c "SELECT count(*) FROM feedback WHERE (submission_key IS NOT NULL) = ($keyed = 1)")
    fi
    local non2xx p99
    non2xx=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' "$work/wrk-$name.txt" | grep -Eo '[0-9]+$' || echo 0)
    p99=$(awk '$1=="99%"{print $2}' "$work/wrk-$name.txt")
    echo "$name: $rows rows in ${duration}s = $((rows / duration)) rows/s, p99 $p99, non-2xx $non2xx" >&2
    echo "$((rows / duration)) $p99"
}

declare -A rates
for round in $(seq "$rounds"); do
    for backend in sqlite postgres; do
        # Which goes first alternates, so that neither always runs on a warmer machine.
        order="0 1"; [ $((round % 2)) = 0 ] && order="1 0"
        for keyed in $order; do
            read -r rate _ < <(run "$backend-k$keyed-r$round" "$backend" "$keyed")
            rates[$backend-$keyed]+="$rate "
        done
    done
done

echo
echo "| backend | without a key (median of $rounds) | with a new key a request | keyed / unkeyed |"
echo "| --- | ---: | ---: | ---: |"
for backend in sqlite postgres; do
    python3 - "$backend" "${rates[$backend-0]}" "${rates[$backend-1]}" <<'PY'
import statistics, sys
backend, plain, keyed = sys.argv[1], [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
p, k = statistics.median(plain), statistics.median(keyed)
print(f"| {backend} | {p:,.0f}/s ({', '.join(map(str, plain))}) | {k:,.0f}/s ({', '.join(map(str, keyed))}) | {k / p:.2f} |")
PY
done
