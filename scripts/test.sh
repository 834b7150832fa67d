#!/usr/bin/env bash
# The whole test suite: unit and integration tests (Swift Testing, real server on loopback ports, real SQLite
# files, a real PostgreSQL cluster, a fake Slack Web API over HTTP), then a bounded schemathesis run against the live
# service from its own OpenAPI description (scripts/fuzz-api.sh, about two minutes), then the browser tests when
# present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests --explicit-target-dependency-import-check error
# A throwaway PostgreSQL cluster for the PostgreSQL tests (installed when missing), stopped and deleted on exit.
eval "$(scripts/pg-cluster.sh start)"
trap 'scripts/pg-cluster.sh stop "$USERO_PG_CLUSTER"' EXIT
# Here a missing server is a failure, not a skip.
export USERO_REQUIRE_POSTGRES_TESTS=1
swift test --skip-build
# The integration suites once more with every test server on PostgreSQL (a fresh database per server). Suites that
# do not touch the store (protocol limits, signatures, the OpenAPI document, page rendering, fuzzing) or that run
# on PostgreSQL anyway are not repeated.
USERO_TEST_BACKEND=postgres swift test --skip-build --filter AppTests \
    --skip 'ConnectionLimitsTests|OpenAPITests|InboxViewTests|SlackFuzzTests|SlackSignatureTests|CommandLineTests|FuzzFindingsTests'
USERO_BIN="$(swift build --show-bin-path)/usero" scripts/fuzz-api.sh
if [ -x scripts/browser-tests.sh ]; then
    scripts/browser-tests.sh
fi
