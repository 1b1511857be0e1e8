#!/usr/bin/env bash
# test.sh -- the whole test suite on a fresh Debian 12 machine, as root:
# system packages, virtualenv, lint (ruff), types (mypy --strict), then pytest. The pytest plugin
# of mssante_client starts the sandbox operator (real Dovecot, Postfix, slapd on loopback) for
# the session and stops it at the end. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/bootstrap.sh
echo "== ruff"
.venv/bin/ruff check mssante_client tests examples bench scripts
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
