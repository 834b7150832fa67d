#!/usr/bin/env bash
# The whole test suite: unit and integration tests (Swift Testing, real server on loopback ports, real SQLite
# files, a fake Slack Web API over HTTP), then a bounded schemathesis run against the live service from its own
# OpenAPI description (scripts/fuzz-api.sh, about two minutes), then the browser tests when present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests --explicit-target-dependency-import-check error
swift test --skip-build
USERO_BIN="$(swift build --show-bin-path)/usero" scripts/fuzz-api.sh
if [ -x scripts/browser-tests.sh ]; then
    scripts/browser-tests.sh
fi
