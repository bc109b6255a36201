#!/usr/bin/env bash
# Installs the JavaScript SDK the JS end-to-end tests use (tests/e2e/js: @dapr/dapr, pinned with its
# lock file) into tests/e2e/js/node_modules. Idempotent: does nothing when the installed tree
# already matches package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e/js"

command -v node >/dev/null || { echo "js-sdk: node (20+) is needed for the JavaScript SDK tests" >&2; exit 1; }
command -v npm >/dev/null || { echo "js-sdk: npm is needed for the JavaScript SDK tests" >&2; exit 1; }

# npm ci records the tree it installed in node_modules/.package-lock.json; the same lock means done.
if [ -f node_modules/.package-lock.json ] && [ -f node_modules/.js-sdk.stamp ] \
  && cmp -s package-lock.json node_modules/.js-sdk.stamp; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
cp package-lock.json node_modules/.js-sdk.stamp
