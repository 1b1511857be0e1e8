#!/usr/bin/env bash
# bootstrap.sh -- create .venv and install mssante_client with its dev and validation extras.
# Needs the system packages of scripts/install-system-deps.sh (gcc, libldap2-dev, libsasl2-dev
# to compile python-ldap). Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,validation]'
echo "bootstrap: $(.venv/bin/python --version), $(.venv/bin/mssante --version)"
