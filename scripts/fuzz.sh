#!/usr/bin/env bash
# `npm run fuzz`: the fuzz properties of every decoder a byte from outside reaches (protocol
# codec, analyzers, config loader, gateway and filter parsers), 1,000,000 cases each
# (HAVOK_FUZZ_RUNS overrides; `npm test` runs 10,000). Any file under dist/test/*/fuzz-*.test.js.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-deps.sh test
export HAVOK_FUZZ_RUNS="${HAVOK_FUZZ_RUNS:-1000000}"
node --test --test-reporter=spec $(find dist/test -name 'fuzz-*.test.js' | sort)
