#!/usr/bin/env bash
# Bounded API fuzzing from the service's own OpenAPI description (GET /openapi.json), with schemathesis (PyPI).
#
# Starts `usero serve` (the debug build, or $USERO_BIN) on a free loopback port with a throwaway SQLite file and a
# client, points schemathesis at http://HOST:PORT/openapi.json with that client's admin key, and fails on any 5xx,
# any status, content type, header or body the description does not allow, a method a path does not answer that is
# not a 405, or a service that died. Bounded by
# MAX_EXAMPLES cases per operation (default 20) and MAX_TIME seconds in all (default 90); SEED fixes the cases
# (default: a fixed seed, so CI runs are repeatable; SEED=random for a new one).
#   scripts/fuzz-api.sh                    # as CI runs it (scripts/test.sh, after the Swift tests)
#   MAX_EXAMPLES=200 MAX_TIME=600 SEED=random scripts/fuzz-api.sh
#   scripts/fuzz-api.sh --install          # only installs schemathesis (scripts/test.sh, while Swift builds)
#   FUZZ_DATABASE=postgres://… scripts/fuzz-api.sh   # on an empty PostgreSQL database instead of the SQLite file
# schemathesis lives in a virtualenv under .build/ (created on first use). One worker: with two, CPython 3.11's ast
# module can fail inside hypothesis ("AST constructor recursion depth mismatch"), a tool error, not ours.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
MAX_EXAMPLES="${MAX_EXAMPLES:-20}"
MAX_TIME="${MAX_TIME:-90}"
SEED="${SEED:-20261126}"

VENV="${SCHEMATHESIS_VENV:-$ROOT/.build/schemathesis-venv}"
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "fuzz-api: installing schemathesis into $VENV" >&2
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        scripts/install-deps.sh python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q "schemathesis>=4.1,<5"
fi
[ "${1:-}" = "--install" ] && exit 0

if [ -z "${USERO_BIN:-}" ]; then
    swift build --product usero >&2
    USERO_BIN="$(swift build --show-bin-path)/usero"
fi

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export USERO_DATABASE="${FUZZ_DATABASE:-$WORK/usero.sqlite}" USERO_DATA_DIR="$WORK/data" USERO_PUBLIC_URL="http://127.0.0.1:$PORT"
export USERO_HOST=127.0.0.1 USERO_PORT="$PORT" LOG_LEVEL=warning
# Fuzzing sends thousands of requests from one address: the rate limit would answer most of them 429.
export USERO_PUBLIC_RATE_LIMIT=0
# Slack is configured, as in production: its routes verify signatures (schemathesis cannot sign, so they answer
# 401) and the OAuth callback checks its signed state before it would call Slack (nothing listens on port 9). A
# missing setting would answer its documented 503, which the not_a_server_error check counts as a failure.
export SLACK_SIGNING_SECRET="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export SLACK_CLIENT_ID="fuzz.client" SLACK_CLIENT_SECRET="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export SLACK_API_URL="http://127.0.0.1:9/api/" SLACK_AUTHORIZE_URL="http://127.0.0.1:9/oauth/v2/authorize"
unset USERO_TOKEN_KEY USERO_PREVIOUS_TOKEN_KEYS
# On PostgreSQL every instance shares the key, so it comes from the environment, never a file.
if [ -n "${FUZZ_DATABASE:-}" ]; then USERO_TOKEN_KEY="$(head -c 32 /dev/urandom | base64)"; export USERO_TOKEN_KEY; fi

CLIENT="$("$USERO_BIN" clients create --name "Fuzz")"
ADMIN_KEY="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["adminKey"])' "$CLIENT")"

"$USERO_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$SERVER" 2>/dev/null; then cat "$WORK/server.log" >&2; echo "fuzz-api: server died" >&2; exit 1; fi
    sleep 0.1
done

# Something to list, so the admin responses are checked against their schemas with every field present.
# DELETE /api/account is left out of the run (--exclude-path): with the real admin key it would close the account
# at the first try and leave every later admin request a 401 (AccountClosureTests cover it).
CLIENT_ID="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["clientId"])' "$CLIENT")"
BASE="http://127.0.0.1:$PORT"
python3 - "$WORK/shot.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(3))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
SHOT="$(curl -fsS -F "screenshot=@$WORK/shot.png;type=image/png" -F "clientId=$CLIENT_ID" "$BASE/api/screenshots")"
SHOT_JSON="$(python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])["screenshot"]))' "$SHOT")"
curl -fsS -H "Content-Type: application/json" -H "X-Usero-Widget: 1" "$BASE/api/feedback" -d '{"clientId":"'"$CLIENT_ID"'",
  "rating":2,"comment":"Export to CSV times out","userEmail":"jamie@example.com","pageUrl":"https://app.example/p",
  "pageTitle":"Export","referrer":"https://app.example/","environment":"staging","metadata":{"build":1842},
  "screenshots":['"$SHOT_JSON"'],"sessionReplayId":"r-1","replayOffsetMs":4200,"userId":"u-1"}' >/dev/null
curl -fsS -H "Content-Type: application/json" "$BASE/api/identify" \
  -d '{"clientId":"'"$CLIENT_ID"'","userId":"u-1","email":"jamie@example.com","name":"Jamie","traits":{"plan":"pro"}}' >/dev/null
curl -fsS -H "Content-Type: application/json" "$BASE/api/feedback" -d '{"clientId":"'"$CLIENT_ID"'","rating":4}' >/dev/null

echo "fuzz-api: schemathesis against http://127.0.0.1:$PORT/openapi.json (max $MAX_EXAMPLES examples per operation, ${MAX_TIME}s)" >&2
status=0
# From the temporary folder: schemathesis and hypothesis leave their caches in the working directory.
cd "$WORK"
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
    --checks not_a_server_error,unsupported_method,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --header "Authorization: Bearer $ADMIN_KEY" \
    --exclude-path /api/account \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --request-timeout 10 --workers 1 \
    $( [ "$SEED" = random ] || echo "--seed $SEED" ) \
    --suppress-health-check all --warnings off --no-color --generation-database none \
    || status=$?

if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "fuzz-api: the service died during the run; the crash from its log:" >&2
    grep -m 3 -E "Fatal error|Program crashed" "$WORK/server.log" >&2 || tail -n 20 "$WORK/server.log" >&2
    grep -A 14 " crashed:" "$WORK/server.log" >&2 || true
    exit 1
fi
if grep -q "Unhandled error" "$WORK/server.log"; then
    echo "fuzz-api: the service logged unhandled errors:" >&2
    grep "Unhandled error" "$WORK/server.log" | sort | uniq -c >&2
    status=1
fi
if [ "$status" -ne 0 ]; then echo "fuzz-api: FAILED" >&2; else echo "fuzz-api: passed" >&2; fi
exit "$status"
