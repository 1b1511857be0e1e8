"""pytest plugin (``pytest11`` entry point): a session-wide sandbox for integrators' tests.

Fixtures:

``mssante_sandbox``
    the :class:`SandboxInfo` of a running sandbox. If ``MSSANTE_SANDBOX_ROOT`` points at a
    running sandbox it is reused (and left running); otherwise one is started in a fresh
    temporary directory on port base ``MSSANTE_SANDBOX_PORT_BASE`` (default 10000) with
    ``MSSANTE_SANDBOX_ENTRIES`` directory entries (default 10000) and stopped at session end.
``mssante_sandbox_control``
    the :class:`Sandbox` itself (e.g. ``restart_service("dovecot")``).

Missing system packages skip the tests with the install command in the reason, except when
``CI`` is set: then the session fails loudly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..errors import MissingDependencyError, SandboxError
from .models import SandboxInfo
from .operator import DEFAULT_PORT_BASE, Sandbox

__all__ = ["mssante_sandbox", "mssante_sandbox_control"]

DEFAULT_TEST_ENTRIES = 10_000


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise pytest.UsageError(f"{name} must be an integer, got {raw!r}") from None


@pytest.fixture(scope="session")
def mssante_sandbox_control() -> Iterator[Sandbox]:
    """The session's :class:`Sandbox`, started (or reused) and stopped if we started it."""
    port_base = _env_int("MSSANTE_SANDBOX_PORT_BASE", DEFAULT_PORT_BASE)
    env_root = os.environ.get("MSSANTE_SANDBOX_ROOT")
    if env_root:
        for candidate in _port_bases(env_root, port_base):
            existing = Sandbox(Path(env_root), port_base=candidate)
            if existing.status() is not None:
                yield existing
                return
    root = Path(tempfile.mkdtemp(prefix="mssante-sandbox-"))
    sandbox = Sandbox(root, port_base=port_base)
    try:
        sandbox.start(directory_entries=_env_int("MSSANTE_SANDBOX_ENTRIES", DEFAULT_TEST_ENTRIES))
    except MissingDependencyError as exc:
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("CI"):
            pytest.fail(f"sandbox system packages missing (CI is set): {exc}", pytrace=False)
        pytest.skip(f"sandbox system packages missing: {exc.what}; install with: {exc.install}")
    except SandboxError as exc:
        sandbox.stop()
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(
            f"could not start the sandbox on port base {port_base}: {exc}\n(hint: reuse a running "
            "sandbox with MSSANTE_SANDBOX_ROOT, or choose another MSSANTE_SANDBOX_PORT_BASE)",
            pytrace=False,
        )
    try:
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(root, ignore_errors=True)


def _port_bases(root: str, requested: int) -> list[int]:
    """The port base recorded in a running root's sandbox.json wins over the default."""
    info_file = Path(root) / "sandbox.json"
    try:
        recorded = SandboxInfo.model_validate_json(info_file.read_bytes()).port_base
    except (OSError, ValueError):
        return [requested]
    return [recorded] if recorded == requested else [recorded, requested]


@pytest.fixture(scope="session")
def mssante_sandbox(mssante_sandbox_control: Sandbox) -> SandboxInfo:
    """Description of the running session sandbox (hosts, ports, accounts, CA, LDAP...)."""
    info = mssante_sandbox_control.status()
    if info is None:
        pytest.fail(f"the sandbox at {mssante_sandbox_control.root} is not running", pytrace=False)
    return info
