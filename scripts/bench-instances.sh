#!/usr/bin/env bash
# Benchmark: durable POST /api/feedback and signed ignored Slack events with one, two and three `usero serve`
# instances on one PostgreSQL, in one run.
#
#   scripts/bench-instances.sh [DURATION_SECONDS] [CONNECTIONS]
#
# For N = 1, 2, 3: N release instances (own data folders, same database and keys) on a fresh database of a
# throwaway cluster; N wrk processes (-t1, CONNECTIONS/N connections each, one per instance: what a round-robin
# balancer spreads) run at once. Writes are counted in the database afterwards; events by wrk's answered requests.
# Prints each rate and its ratio to one instance's.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
bin=$(scripts/release-bin.sh usero)/usero
work=$(mktemp -d "${TMPDIR:-/tmp}/usero-bench-inst.XXXXXX")
chmod 755 "$work"
pids=()
eval "$(scripts/pg-cluster.sh start)"
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"; rm -rf "$work"' EXIT
pgbin=$(cat "$USERO_PG_CLUSTER/bin")
admin_url=${USERO_TEST_POSTGRES_URL%%\?*}
psql() { "$pgbin/psql" -qAtX "$@"; }
secret=bench-signing-secret-0001
key=$(head -c 32 /dev/urandom | base64)

declare -A writes events
for n in 1 2 3; do
    db=usero_inst_$n
    psql "$admin_url" -c "CREATE DATABASE $db"
    export USERO_DATABASE="${USERO_TEST_POSTGRES_URL%/*}/$db?sslmode=disable" USERO_TOKEN_KEY=$key \
        SLACK_SIGNING_SECRET=$secret LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0 USERO_DATA_DIR="$work/cli-$n"
    client=$("$bin" clients create --name bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
    ports=()
    pids=()
    for i in $(seq "$n"); do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        USERO_DATA_DIR="$work/data-$n-$i" "$bin" serve --port "$port" &
        pids+=($!)
        ports+=("$port")
    done
    for port in "${ports[@]}"; do
        for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    done
    cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"clientId":"$client","rating":3,"comment":"Export to CSV times out on large projects","environment":"staging"}'
LUA
    # A signed message event (ignored at ingestion).
    scripts/slack-event-lua.sh "$secret" > "$work/event.lua"
    per=$(( connections / n ))
    wrk_pids=()
    for i in "${!ports[@]}"; do
        wrk -t1 -c"$per" -d"${duration}s" -s "$work/post.lua" "http://127.0.0.1:${ports[$i]}/api/feedback" > "$work/w-$n-$i.txt" &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    writes[$n]=$(( $(psql "${USERO_DATABASE%%\?*}" -c "SELECT count(*) FROM feedback") / duration ))
    wrk_pids=()
    for i in "${!ports[@]}"; do
        wrk -t1 -c"$per" -d"${duration}s" -s "$work/event.lua" "http://127.0.0.1:${ports[$i]}/slack/events" > "$work/e-$n-$i.txt" &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    total=0
    for i in "${!ports[@]}"; do
        r=$(awk '/Requests\/sec/ {printf "%d", $2}' "$work/e-$n-$i.txt")
        total=$(( total + r ))
    done
    events[$n]=$total
    for p in "${pids[@]}"; do kill -TERM $p; wait $p || true; done
    pids=()
    echo "instances=$n durable_writes_per_second=${writes[$n]} ignored_events_per_second=${events[$n]}"
done
echo
echo "| instances | durable POST /api/feedback | ratio to 1 | signed ignored events | ratio to 1 |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for n in 1 2 3; do
    echo "| $n | ${writes[$n]}/s | $(python3 -c "print(f'{${writes[$n]}/max(${writes[1]},1):.2f}')") | ${events[$n]}/s | $(python3 -c "print(f'{${events[$n]}/max(${events[1]},1):.2f}')") |"
done
