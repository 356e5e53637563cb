#!/bin/sh
# Runs the browser tests in a fresh network namespace that holds only loopback, so headless
# Chromium cannot reach this machine's outside interface. Needs root (unshare -n).
set -eu
cd "$(dirname "$0")/.."
[ -d node_modules/playwright-core ] || npm install --no-audit --no-fund
exec unshare -n sh -c 'ip link set lo up && node --test e2e/*.test.mjs'
