#!/usr/bin/env bash
# Benchmark: durable POST /api/feedback throughput and latency, against one-commit-per-row on the same disk.
#
#   scripts/bench-feedback.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Starts a release `usero serve` on a temporary SQLite file, drives POST /api/feedback with wrk, counts the rows
# that were actually committed, then measures, in the same run and on the same disk, the rate of one committed
# synchronous=FULL transaction per row (no batching). Prints both and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product usero >/dev/null
swift build -c release --product usero-bench >/dev/null
bin=$(swift build -c release --show-bin-path)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-bench.XXXXXX")
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export USERO_DATABASE="$work/usero.sqlite" USERO_DATA_DIR="$work/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0
client=$("$bin" clients create --name bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"clientId":"$client","rating":3,"comment":"Export to CSV times out on large projects","userEmail":"jamie@example.com","pageUrl":"https://yourapp.com/projects/42/export","environment":"staging","metadata":{"appVersion":"2.4.1","build":1842}}'
LUA
echo "== POST /api/feedback: wrk -t1 -c$connections -d${duration}s"
wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/api/feedback" | tee "$work/wrk.txt"
kill -TERM $server; wait $server || true
rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from feedback').fetchone()[0])" "$USERO_DATABASE")
non2xx=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' "$work/wrk.txt" | grep -Eo '[0-9]+$' || echo 0)
p50=$(awk '$1=="50%"{print $2}' "$work/wrk.txt")
p99=$(awk '$1=="99%"{print $2}' "$work/wrk.txt")
rate=$(python3 -c "print(f'{$rows/$duration:.0f}')")

echo "== baseline: one committed synchronous=FULL transaction per row, same disk"
baseline=$("$bin-bench" commit-baseline --database "$work/baseline.sqlite" --seconds 5)
echo "$baseline"
base_rate=$(echo "$baseline" | grep -Eo 'baseline_rows_per_second=[0-9.]+' | cut -d= -f2)
ratio=$(python3 -c "print(f'{$rate/$base_rate:.1f}')")
echo
echo "durable feedback rows committed: $rows in ${duration}s = $rate rows/s (non-2xx: $non2xx)"
echo "latency p50 $p50, p99 $p99"
echo "one commit per row: $base_rate rows/s"
echo "ratio: $ratio x the one-commit-per-row rate"
