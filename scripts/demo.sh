#!/usr/bin/env bash
# The one command that installs pydapr and runs the demo: an app beside its sidecar on the
# embedded defaults (SQLite state store), saving state and invoking itself through the sidecar.
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
install -q -e .

export PATH="$PWD/.venv/bin:$PATH"
pydapr init
exec pydapr run --app-id hello --app-port "${APP_PORT:-8009}" -- python examples/hello/app.py
