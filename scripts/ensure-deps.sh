#!/usr/bin/env bash
# Installs what one of the README's commands needs when it is missing, so it works on a fresh
# machine: npm packages (npm ci), the TypeScript build, and the command's own programs from
# Debian's packages, nothing more:
#   demo   nats-server
#   test   nats-server, influxd (the InfluxDB test), chromium (the HTML report test),
#          iproute2 and nftables (test hosts in network namespaces for the partition tests)
#   bench  nats-server, and the bench's nginx target and the peer tools wrk and hey
# Usage: `source scripts/ensure-deps.sh demo|test|bench` (HAVOK_DEPS=bench is read too, for
# running it by hand; with neither, what the tests need).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need="${1:-${HAVOK_DEPS:-test}}"
case "$need" in
  demo | test | bench) ;;
  *) echo "havok: ensure-deps.sh: unknown set '$need' (demo, test or bench)" >&2; exit 2 ;;
esac

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "havok: installing $* with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

missing=()
# Every command runs a cluster on NATS: havok local starts a nats-server when none answers.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ "$need" = test ]; then
  # influxd: the tests write InfluxDB through a real server.
  command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || missing+=(influxdb)
  # chromium: the HTML report test opens the page in headless Chromium (playwright-core, no download).
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  # ip and nft: the partition tests build test hosts in network namespaces and cut their links.
  command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
  command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
fi
if [ "$need" = bench ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v hey >/dev/null 2>&1 || missing+=(hey)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# Debian installs nats-server in /usr/sbin, which is not on every user's PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "havok: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
npm run --silent build >&2
