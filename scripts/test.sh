#!/usr/bin/env bash
# The one command that installs everything and runs the whole test suite (README, .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
install() {
  # pip's output goes to a log, shown only when the install fails.
  .venv/bin/python -m pip install "$@" >.venv/pip.log 2>&1 || { cat .venv/pip.log; exit 1; }
}
install -q --upgrade pip
install -q -e '.[test]'

bash scripts/services.sh

echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
