#!/bin/sh
# Runs the browser tests in a fresh network namespace that holds only loopback, so headless
# Chromium cannot reach this machine's outside interface. Needs root (unshare -n).
#
#   tests/e2e/run.sh                          every tests/e2e/*.test.mjs
#   tests/e2e/run.sh e2e/calls-ui.test.mjs    some of them (paths relative to tests/)
#
# Besides lo the namespace gets one ifb device carrying 127.0.0.2/32: with only lo up,
# Chromium reports navigator.onLine === false and the page (rightly) says "Offline". An ifb
# device is a dead end (not connected to anything), so nothing can leave through it either.
# scripts/test builds the same namespace for its node suites.
#
# echo-call.test.mjs starts the real server: build/server/tabphone, or $TABPHONE_BIN.
set -eu
cd "$(dirname "$0")/.."
[ -d node_modules/playwright-core ] || npm install --no-audit --no-fund
[ $# -gt 0 ] || set -- e2e/*.test.mjs
exec unshare -n sh -c '
  ip link set lo up &&
  ip link add tponline type ifb &&
  ip addr add 127.0.0.2/32 dev tponline &&
  ip link set tponline up &&
  exec node --test "$@"' sh "$@"
