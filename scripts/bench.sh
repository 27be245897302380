#!/usr/bin/env bash
# `npm run bench [-- --quick] [-- --keep]`: the end-to-end benchmark (bench/run.ts). Installs what
# is missing (with the bench's nginx, wrk and hey) and builds first; prints a markdown table and
# writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-deps.sh bench
exec node dist/bench/run.js "$@"
