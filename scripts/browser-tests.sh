#!/usr/bin/env bash
# Browser tests: the widget and the inbox in Debian's headless Chromium (Selenium), against a real `usero serve`.
#
# Installs what is missing (chromium + chromium-driver from apt, selenium from PyPI), builds usero (or takes
# $USERO_BIN), starts it on a free loopback port with a throwaway database, creates a client, runs
# `pytest Tests/browser`, and stops the server.
# Exits with pytest's status. The tests' screenshots go to a temporary folder; to refresh the README's pictures:
#   USERO_SCREENSHOT_DIR=docs/screenshots scripts/browser-tests.sh
# `scripts/browser-tests.sh --install` only installs what is missing (scripts/test.sh runs it while Swift builds).
#   BROWSER_DATABASE=postgres://… scripts/browser-tests.sh   # on an empty PostgreSQL database instead of the SQLite file
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "browser-tests: installing chromium and chromium-driver" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
for module in selenium requests; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        echo "browser-tests: installing $module" >&2
        python3 -m pip install -q "$module" || python3 -m pip install -q --break-system-packages "$module"
    fi
done
[ "${1:-}" = "--install" ] && exit 0

# $USERO_BIN when given (scripts/test.sh hands over the build its tests ran, so nothing is rebuilt), else a debug build.
if [ -n "${USERO_BIN:-}" ]; then
    BIN="$USERO_BIN"
else
    swift build --product usero >&2
    BIN="$(swift build --show-bin-path)/usero"
fi

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export USERO_DATABASE="${BROWSER_DATABASE:-$WORK/usero.sqlite}" USERO_DATA_DIR="$WORK/data" USERO_PUBLIC_URL="http://127.0.0.1:$PORT"
export USERO_HOST=127.0.0.1 USERO_PORT="$PORT"
unset SLACK_SIGNING_SECRET SLACK_CLIENT_ID SLACK_CLIENT_SECRET
# On PostgreSQL every instance shares the key, so it comes from the environment, never a file.
unset USERO_TOKEN_KEY USERO_PREVIOUS_TOKEN_KEYS
if [ -n "${BROWSER_DATABASE:-}" ]; then USERO_TOKEN_KEY="$(head -c 32 /dev/urandom | base64)"; export USERO_TOKEN_KEY; fi

if [ -n "${USERO_SCREENSHOT_DIR:-}" ]; then
    mkdir -p "$USERO_SCREENSHOT_DIR"
    USERO_SCREENSHOT_DIR="$(cd "$USERO_SCREENSHOT_DIR" && pwd)"
    export USERO_SCREENSHOT_DIR
fi

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
stop() {
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap stop EXIT

for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER" 2>/dev/null; then cat "$WORK/server.log" >&2; echo "browser-tests: server died" >&2; exit 1; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

CLIENT="$("$BIN" clients create --name "Acme (browser tests)")"
export USERO_BASE_URL="http://127.0.0.1:$PORT"
USERO_CLIENT_ID="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["clientId"])' "$CLIENT")"
USERO_ADMIN_KEY="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["adminKey"])' "$CLIENT")"
export USERO_CLIENT_ID USERO_ADMIN_KEY

status=0
python3 -m pytest Tests/browser -q -p no:cacheprovider "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "browser-tests: server log follows" >&2
    tail -n 50 "$WORK/server.log" >&2 || true
fi
exit "$status"
