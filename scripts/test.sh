#!/usr/bin/env bash
# The whole test suite: unit and integration tests (Swift Testing, real server on loopback ports, real SQLite
# files, a real PostgreSQL cluster, a fake Slack Web API over HTTP), then a bounded schemathesis run against the live
# service from its own OpenAPI description (scripts/fuzz-api.sh, about two minutes), then the browser tests when
# present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# What the later steps need (PostgreSQL, schemathesis, Chromium and Selenium) is installed while Swift builds: the
# downloads and unpacking wait on the network and the disk, the build on the CPU. Its output follows the build's.
installed="$(mktemp)"
(
    scripts/pg-cluster.sh install
    scripts/fuzz-api.sh --install
    if [ -x scripts/browser-tests.sh ]; then scripts/browser-tests.sh --install; fi
) >"$installed" 2>&1 </dev/null &
installing=$!
swift build --build-tests --explicit-target-dependency-import-check error
install_status=0
wait "$installing" || install_status=$?
cat "$installed"
rm -f "$installed"
if [ "$install_status" -ne 0 ]; then
    echo "== installing what the tests need failed (exit $install_status)"
    exit "$install_status"
fi
# A throwaway PostgreSQL cluster for the PostgreSQL tests (installed when missing), stopped and deleted on exit.
eval "$(scripts/pg-cluster.sh start)"
trap 'scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"' EXIT
# Here a missing server is a failure, not a skip.
export USERO_REQUIRE_POSTGRES_TESTS=1
# A crash report names only the crashed thread's frames, so the end of a CI log (all it keeps) shows where it was.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,interactive=no,threads=crashed,registers=none,images=none}"
# How long one `swift test` pass may take (about three minutes here; a CI run was once cut off after 90 minutes by a
# test that never ended).
pass_limit="${USERO_TEST_PASS_LIMIT:-900}"
# Ends a `swift test` pass that is still running after `pass_limit` seconds: prints the threads of the test process
# that are in this project's code (when gdb is there; a task suspended forever has no thread, so its test is named by
# the list below), then kills it, and the pass fails.
watchdog() {
    local waited=0 pid
    while [ "$waited" -lt "$pass_limit" ]; do
        sleep 5
        waited=$((waited + 5))
    done
    echo "== swift test still running after ${pass_limit}s: a test hangs"
    # This checkout's test process only (its path is in the command line), not another checkout's beside it.
    for pid in $(pgrep -f "^$PWD/\.build/.*PackageTests\.xctest" || true); do
        if command -v gdb >/dev/null; then
            timeout 120 gdb -batch -p "$pid" -ex 'thread apply all bt 30' </dev/null 2>/dev/null \
                | awk -v sources="$PWD/Sources/" -v tests="$PWD/Tests/" '/^Thread /{thread=$0; next}
                    index($0, sources) || index($0, tests) {
                    if (thread != "") print thread; thread = ""; print }' | head -n 120 || true
        fi
        kill -KILL "$pid" 2>/dev/null || true
    done
}
# `swift test`, its output kept, line by line (the test process's output to a pipe is otherwise written in blocks,
# and a process killed mid-run loses its last block). When it fails, the end of the output (all a CI log may keep)
# names the tests that started and never ended (a crash takes the process down mid-test, a hang keeps it there) and
# repeats the crash report after them.
swift_test() {
    local log status=0 guard
    log="$(mktemp)"
    watchdog &
    guard=$!
    stdbuf -oL -eL swift test --skip-build "$@" 2>&1 | tee "$log" || status=$?
    kill "$guard" 2>/dev/null || true
    wait "$guard" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        comm -23 <(sed -nE 's/^◇ Test ([^ ]+\)) started\.$/\1/p' "$log" | sort -u) \
            <(sed -nE 's/^. Test ([^ ]+\))( with [0-9]+ test cases?)? (passed|failed|skipped).*/\1/p' "$log" | sort -u) \
            >"$log.open" || true
        echo "== $(wc -l <"$log.open") tests started and did not end, among them: $(head -n 8 "$log.open" | paste -sd ' ' -)"
        sed -n '/^\*\*\* Program crashed/,/^Backtrace took/p' "$log" | head -n 40
    fi
    rm -f "$log" "$log.open"
    return "$status"
}
swift_test
# The integration suites once more with every test server on PostgreSQL (a fresh database per server). Suites that
# do not touch the store (protocol limits, signatures, the OpenAPI document, page rendering, fuzzing) or that run
# on PostgreSQL anyway are not repeated.
USERO_TEST_BACKEND=postgres swift_test --filter AppTests \
    --skip 'ConnectionLimitsTests|OpenAPITests|InboxViewTests|SlackFuzzTests|SlackSignatureTests|CommandLineTests|FuzzFindingsTests|DatabaseCopyTests'
# The build the tests ran: a `swift build` with other flags would recompile part of it.
export USERO_BIN="$(swift build --show-bin-path)/usero"
scripts/fuzz-api.sh
# The fuzzer once more on PostgreSQL (a fresh database of the cluster), shorter: the same cases reach another store.
"$(cat "$USERO_PG_CLUSTER/bin")/psql" -qAtX "${USERO_TEST_POSTGRES_URL%%\?*}" -c "CREATE DATABASE usero_fuzz"
FUZZ_DATABASE="${USERO_TEST_POSTGRES_URL%/*}/usero_fuzz?sslmode=disable" MAX_TIME=60 scripts/fuzz-api.sh
if [ -x scripts/browser-tests.sh ]; then
    scripts/browser-tests.sh
    # Once more on PostgreSQL (a fresh database of the cluster): the inbox's sessions, pages and forms there.
    "$(cat "$USERO_PG_CLUSTER/bin")/psql" -qAtX "${USERO_TEST_POSTGRES_URL%%\?*}" -c "CREATE DATABASE usero_browser"
    BROWSER_DATABASE="${USERO_TEST_POSTGRES_URL%/*}/usero_browser?sslmode=disable" scripts/browser-tests.sh
fi
