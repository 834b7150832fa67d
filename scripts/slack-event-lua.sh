#!/usr/bin/env bash
# Prints a wrk script that posts Slack's `message` event (Tests/AppTests/Fixtures/slack/event_message_channels.json,
# compact as Slack sends it), signed with SIGNING_SECRET now: a valid request usero ignores at ingestion (nothing
# is stored), the benchmarks' ignored-event load.
#
#   scripts/slack-event-lua.sh SIGNING_SECRET > event.lua
#
# The signature is valid for five minutes; a benchmark that runs longer makes the script again.
set -euo pipefail
cd "$(dirname "$0")/.."
secret=$1
body=$(python3 -c 'import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), separators=(",",":"), ensure_ascii=False))' \
    Tests/AppTests/Fixtures/slack/event_message_channels.json)
ts=$(date +%s)
sig=$(printf 'v0:%s:%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
# The body as a Lua long string: taken byte for byte, quotes and backslashes included.
cat <<LUA
wrk.method = "POST"
wrk.body = [==[$body]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Slack-Request-Timestamp"] = "$ts"
wrk.headers["X-Slack-Signature"] = "v0=$sig"
LUA
