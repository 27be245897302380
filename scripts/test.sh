#!/usr/bin/env bash
# `npm test`: unit tests of the pure parts, then integration tests against real nats-server and
# HTTP servers started by the harness. Installs what is missing first.
# Integration files run one at a time: several check timing and order at the target, which
# another test's load on this 2-core machine would disturb (HAVOK_TEST_CONCURRENCY=N runs N).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-deps.sh test
export HAVOK_LOG_LEVEL="${HAVOK_LOG_LEVEL:-warn}"
node --test --test-reporter=spec dist/test/unit/
node --test --test-reporter=spec --test-concurrency="${HAVOK_TEST_CONCURRENCY:-1}" dist/test/integration/
