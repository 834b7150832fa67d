#!/usr/bin/env bash
# Retention benchmark: sweeps ROWS (default 1,000,000) expired feedback rows while POST /api/feedback runs under load,
# and compares the write path's p99 during the sweep with its p99 without one, measured in the same run.
#
# How: seed ROWS rows 31+ days old for a client on the *paid* plan (nothing expires), start `usero serve` with a
# 1-second retention interval, measure POST /api/feedback (wrk) for DURATION seconds: the baseline, with the
# scheduler running but nothing to delete. Then move the client to *free* (`usero clients update`): the next
# scheduled sweep (within a second) deletes the rows in the server process, the production path, while wrk measures
# again for DURATION seconds. The sweep's duration comes from the server's log line. A third phase after the sweep
# (no sweep again) shows how noisy the machine is.
#
# BACKEND=postgres runs the same on a throwaway PostgreSQL cluster (scripts/pg-cluster.sh), the rows seeded there with
# one INSERT ... SELECT FROM generate_series.
#
# Usage: scripts/bench-retention.sh            (env: ROWS, DURATION, CONNECTIONS, THREADS, PORT, SKIP_BUILD=1,
#                                               BACKEND=sqlite|postgres, USERO_BIN_DIR)
# Needs: wrk (Debian: apt-get install -y wrk), python3, curl.
set -euo pipefail

ROWS=${ROWS:-1000000}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PORT=${PORT:-18093}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install -y wrk)" >&2; exit 1; }
BACKEND=${BACKEND:-sqlite}
# SKIP_BUILD=1: this checkout's release builds as they are.
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then export USERO_BIN_DIR=${USERO_BIN_DIR:-$ROOT/.build/release}; fi
BIN="$(scripts/release-bin.sh usero usero-bench)/usero"

WORK=$(mktemp -d /tmp/usero-bench-retention.XXXXXX)
chmod 755 "$WORK"
export USERO_DATA_DIR="$WORK/data" USERO_PUBLIC_RATE_LIMIT=0
SERVER_PID=""
CLUSTER=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi
  if [[ -n "$CLUSTER" ]]; then scripts/pg-cluster.sh stop "$CLUSTER"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [[ "$BACKEND" == postgres ]]; then
  eval "$(scripts/pg-cluster.sh start)"
  CLUSTER=$USERO_PG_CLUSTER
  export USERO_DATABASE=$USERO_TEST_POSTGRES_URL
  export USERO_TOKEN_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
else
  export USERO_DATABASE="$WORK/usero.sqlite"
fi

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
result_field() { sed -n "s/.*RESULT.* $1=\([0-9.]*\).*/\1/p" "$2"; }

CLIENT=$("$BIN" clients create --name bench --plan paid | json_field clientId)
echo "seeding $ROWS expired rows for $CLIENT (paid plan: nothing expires yet)" >&2
seed_start=$(date +%s.%N)
if [[ "$BACKEND" == postgres ]]; then
  "$(cat "$CLUSTER/bin")/psql" -qAtX "${USERO_DATABASE%%\?*}" -c "
    INSERT INTO feedback (id, client_id, source, created_at, rating, comment, page_url, environment)
    SELECT 'fb_old_' || i, '$CLIENT', 'api', (extract(epoch FROM now() - interval '31 days') * 1000)::bigint - i,
        1 + i % 4, 'Seeded feedback row ' || i, 'https://yourapp.com/projects/' || i, 'production'
    FROM generate_series(1, $ROWS) AS i" -c "VACUUM ANALYZE feedback"
else
  "$BIN-bench" seed-retention --client "$CLIENT" --rows "$ROWS" --age-days 31 >/dev/null
fi
seed_end=$(date +%s.%N)

USERO_HOST=127.0.0.1 USERO_PORT=$PORT USERO_RETENTION_INTERVAL_SECONDS=1 LOG_LEVEL=info \
  "$BIN" serve 2>"$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/api/feedback"
LUA="$ROOT/scripts/bench-retention.lua"

echo "warm-up (3 s)" >&2
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$LUA" "$URL" -- "$CLIENT" >/dev/null

echo "baseline: POST /api/feedback without a sweep ($DURATION s, $CONNECTIONS connections)" >&2
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$LUA" "$URL" -- "$CLIENT" >"$WORK/base.txt"

echo "moving the client to free: the next scheduled sweep deletes $ROWS rows" >&2
"$BIN" clients update "$CLIENT" --plan free >/dev/null
switched=$(date +%s.%N)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$LUA" "$URL" -- "$CLIENT" >"$WORK/during.txt"
load_end=$(date +%s.%N)

echo "waiting for the sweep to finish" >&2
for _ in $(seq 1 1200); do
  # StreamLogHandler prints the metadata before the message.
  grep "Retention sweep" "$WORK/serve.log" | grep -q "retention.feedback=$ROWS" && break
  sleep 0.5
done
sweep_line=$(grep "Retention sweep" "$WORK/serve.log" | grep "retention.feedback=" | tail -1 || true)
echo "after the sweep: POST /api/feedback without a sweep again ($DURATION s), to show the machine's noise" >&2
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$LUA" "$URL" -- "$CLIENT" >"$WORK/after.txt"
sweep_ms=$(sed -n 's/.*retention.duration_ms=\([0-9]*\).*/\1/p' <<<"$sweep_line")
swept=$(sed -n 's/.*retention.feedback=\([0-9]*\).*/\1/p' <<<"$sweep_line")

base_p99=$(result_field p99_us "$WORK/base.txt"); during_p99=$(result_field p99_us "$WORK/during.txt")
base_p50=$(result_field p50_us "$WORK/base.txt"); during_p50=$(result_field p50_us "$WORK/during.txt")
base_req=$(result_field requests "$WORK/base.txt"); during_req=$(result_field requests "$WORK/during.txt")
base_err=$(result_field non2xx "$WORK/base.txt"); during_err=$(result_field non2xx "$WORK/during.txt")
after_p50=$(result_field p50_us "$WORK/after.txt"); after_p99=$(result_field p99_us "$WORK/after.txt")
after_req=$(result_field requests "$WORK/after.txt"); after_err=$(result_field non2xx "$WORK/after.txt")

python3 - "$ROWS" "$DURATION" "$CONNECTIONS" "$seed_start" "$seed_end" "$switched" "$load_end" "${sweep_ms:-0}" \
  "${swept:-0}" "$base_p50" "$base_p99" "$base_req" "$base_err" "$during_p50" "$during_p99" "$during_req" "$during_err" \
  "$after_p50" "$after_p99" "$after_req" "$after_err" <<'PY'
import sys
(rows, duration, conns, seed_start, seed_end, switched, load_end, sweep_ms, swept,
 b50, b99, breq, berr, d50, d99, dreq, derr, a50, a99, areq, aerr) = sys.argv[1:]
duration = float(duration); sweep_s = int(sweep_ms) / 1000
b99, d99 = int(b99), int(d99)
print(f"rows seeded:                 {int(rows):,} in {float(seed_end) - float(seed_start):.1f} s (one transaction)")
print(f"sweep:                       {int(swept):,} rows deleted in {sweep_s:.1f} s "
      f"({int(swept) / sweep_s if sweep_s else 0:,.0f} rows/s) while under load")
print(f"load:                        wrk, {conns} connections, {duration:.0f} s per phase")
print(f"baseline (no sweep):         p50 {int(b50)/1000:.2f} ms  p99 {b99/1000:.2f} ms  "
      f"{int(breq)/duration:,.0f} req/s  non-2xx {berr}")
print(f"during the sweep:            p50 {int(d50)/1000:.2f} ms  p99 {d99/1000:.2f} ms  "
      f"{int(dreq)/duration:,.0f} req/s  non-2xx {derr}")
print(f"after the sweep (no sweep):  p50 {int(a50)/1000:.2f} ms  p99 {int(a99)/1000:.2f} ms  "
      f"{int(areq)/duration:,.0f} req/s  non-2xx {aerr}")
ratio = d99 / b99 if b99 else float('inf')
print(f"p99 ratio during/baseline:   {ratio:.2f}x  (target <= 2.00x: {'met' if ratio <= 2 else 'NOT met'})")
print(f"p99 ratio during/after:      {d99 / int(a99) if int(a99) else float('inf'):.2f}x  (noise check)")
print(f"throughput during/baseline:  {int(dreq) / int(breq) if int(breq) else 0:.2f}x")
covered = sweep_s >= duration + 1  # the sweep starts within a second of the switch
print(f"sweep covered the whole measured window: {'yes' if covered else 'no (sweep shorter than the window)'}")
PY
