#!/usr/bin/env bash
# The whole test suite: unit and integration tests (Swift Testing, real server on loopback ports, real SQLite
# files, a fake Slack Web API over HTTP), then the browser tests when present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests --explicit-target-dependency-import-check error
swift test --skip-build
if [ -x scripts/browser-tests.sh ]; then
    scripts/browser-tests.sh
fi
