#!/usr/bin/env bash
# quickstart.sh -- the main job on a fresh Debian 12 machine, as root: install what is needed,
# start the local sandbox operator and run examples/quickstart.py against it (find a colleague
# in the directory, build a lettre de liaison, send it in an IHE_XDM package, read it back).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/bootstrap.sh
export MSSANTE_SANDBOX_ROOT=${MSSANTE_SANDBOX_ROOT:-$PWD/.sandbox}
.venv/bin/mssante sandbox start --root "$MSSANTE_SANDBOX_ROOT" > /dev/null
.venv/bin/python examples/quickstart.py
echo
echo "The sandbox is still running (mssante sandbox status / stop --root $MSSANTE_SANDBOX_ROOT)."
