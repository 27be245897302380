#!/usr/bin/env bash
# `npm test`: unit tests of the pure parts, then integration tests against real nats-server and
# HTTP servers started by the harness. Installs what is missing first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-deps.sh test
export HAVOK_LOG_LEVEL="${HAVOK_LOG_LEVEL:-warn}"
node --test --test-reporter=spec dist/test/unit/ dist/test/integration/
