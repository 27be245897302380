#!/usr/bin/env bash
# `npm run demo`: replays the bundled sample log against the built-in demo target on a local
# cluster (a nats-server of its own is started when none answers on 127.0.0.1:4222).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-deps.sh demo
exec node bin/havok.js local --config examples/demo.toml --demo-target "$@"
