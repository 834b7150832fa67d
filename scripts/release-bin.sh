#!/usr/bin/env bash
# Prints the folder holding release builds of the given products, for the benchmark and drill scripts:
# $USERO_BIN_DIR when set (builds made elsewhere, such as a "before" binary to compare with), else this checkout's
# release folder, after building the products there.
#
#   bindir=$(scripts/release-bin.sh usero [PRODUCT ...])
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${USERO_BIN_DIR:-}" ]; then
    echo "$USERO_BIN_DIR"
    exit 0
fi
for product in "$@"; do swift build -c release --product "$product" >/dev/null; done
swift build -c release --show-bin-path
