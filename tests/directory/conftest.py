"""Fixtures for the directory tests: the sandbox's real slapd and the seed-based oracle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from directory_support import Oracle

from mssante_client.directory import Directory
from mssante_client.directory.ldap import LDAPDirectory
from mssante_client.sandbox import SandboxInfo


@pytest.fixture(scope="session")
def sandbox(mssante_sandbox: SandboxInfo) -> SandboxInfo:
    return mssante_sandbox


@pytest.fixture(scope="session")
def oracle(sandbox: SandboxInfo) -> Oracle:
    return Oracle(sandbox.directory_seed_file)


@pytest.fixture(scope="session")
def bal_base(sandbox: SandboxInfo) -> str:
    return f"ou=bal,{sandbox.ldap_base}"


@pytest.fixture
def ldap_directory(sandbox: SandboxInfo, bal_base: str) -> Iterator[Directory]:
    with Directory(LDAPDirectory(sandbox.ldap_uri, base_dn=bal_base, ca_file=sandbox.ca_file)) as d:
        yield d
