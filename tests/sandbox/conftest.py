"""The sandbox's own tests use the package's pytest plugin (fixture ``mssante_sandbox``)."""

from __future__ import annotations

import pytest
from sandbox_clients import Clients

from mssante_client.sandbox import Sandbox, SandboxInfo


@pytest.fixture(scope="session")
def clients(mssante_sandbox: SandboxInfo, mssante_sandbox_control: Sandbox) -> Clients:
    return Clients(mssante_sandbox, mssante_sandbox_control)
