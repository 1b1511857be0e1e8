"""The pytest plugin, as an integrator uses it: a separate pytest run on a small test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mssante_client.sandbox import Sandbox, SandboxInfo

pytestmark = pytest.mark.sandbox

INTEGRATOR_TEST = """
def test_uses_the_sandbox(mssante_sandbox, mssante_sandbox_control):
    assert str(mssante_sandbox.root) == {root!r}
    assert mssante_sandbox_control.status() == mssante_sandbox
    assert mssante_sandbox.account("jean.dupont@medecin.mssante.test").cert_file.exists()
"""

NO_PACKAGES_CONFTEST = """
import mssante_client.sandbox.process as process
process.find_program = lambda name: None  # as if Dovecot & co. were not installed
"""


def _pytest(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("MSSANTE_SANDBOX") and k != "CI"
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(directory)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=directory,
        check=False,
        timeout=300,
    )


def test_running_sandbox_is_reused_and_left_running(
    tmp_path: Path, mssante_sandbox: SandboxInfo, mssante_sandbox_control: Sandbox
) -> None:
    # other tests may have restarted a service (new PIDs): compare with the state right now
    before = mssante_sandbox_control.status()
    assert before is not None
    (tmp_path / "test_integrator.py").write_text(
        INTEGRATOR_TEST.format(root=str(mssante_sandbox.root))
    )
    done = _pytest(
        tmp_path,
        MSSANTE_SANDBOX_ROOT=str(mssante_sandbox.root),
        MSSANTE_SANDBOX_PORT_BASE=str(mssante_sandbox.port_base),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert mssante_sandbox_control.status() == before  # not stopped by the inner run


def test_missing_packages_skip_with_the_install_command(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(NO_PACKAGES_CONFTEST)
    (tmp_path / "test_integrator.py").write_text(INTEGRATOR_TEST.format(root="unused"))
    done = _pytest(tmp_path, MSSANTE_SANDBOX_PORT_BASE="12000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "install-system-deps.sh" in done.stdout


def test_missing_packages_fail_loudly_in_ci(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(NO_PACKAGES_CONFTEST)
    (tmp_path / "test_integrator.py").write_text(INTEGRATOR_TEST.format(root="unused"))
    done = _pytest(tmp_path, MSSANTE_SANDBOX_PORT_BASE="12000", CI="1")
    assert done.returncode != 0
    assert "CI is set" in done.stdout + done.stderr


def test_busy_port_base_fails_with_a_hint(tmp_path: Path, mssante_sandbox: SandboxInfo) -> None:
    (tmp_path / "test_integrator.py").write_text(INTEGRATOR_TEST.format(root="unused"))
    done = _pytest(
        tmp_path,
        MSSANTE_SANDBOX_PORT_BASE=str(mssante_sandbox.port_base),
        MSSANTE_SANDBOX_ENTRIES="10",
    )
    assert done.returncode != 0
    assert "ports already in use" in done.stdout
    assert "MSSANTE_SANDBOX_ROOT" in done.stdout
