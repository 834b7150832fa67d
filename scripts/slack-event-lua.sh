#!/usr/bin/env bash
# Prints a wrk script that posts one signed Slack `message` event, which usero ignores at ingestion (nothing is
# stored): the benchmarks' ignored-event load.
#
#   scripts/slack-event-lua.sh SIGNING_SECRET > event.lua
#
# The signature is made now and is valid for five minutes, far longer than a benchmark's run.
set -euo pipefail
secret=$1
event='{"token":"x","team_id":"T0BENCH","api_app_id":"A0001","event":{"type":"message","channel":"C0001","user":"U0002","text":"chatter, never stored","ts":"1700000000.000100","channel_type":"channel"},"type":"event_callback","event_id":"Ev0BENCH","event_time":1700000000,"authorizations":[{"team_id":"T0BENCH","user_id":"U0BOT","is_bot":true}]}'
ts=$(date +%s)
sig=$(printf 'v0:%s:%s' "$ts" "$event" | openssl dgst -sha256 -hmac "$secret" | awk '{print $2}')
cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Slack-Request-Timestamp"] = "$ts"
wrk.headers["X-Slack-Signature"] = "v0=$sig"
wrk.body = '$event'
LUA
