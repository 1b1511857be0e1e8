"""A local MSSanté test operator of real servers: Dovecot, Postfix, slapd and a liste blanche.

Usage::

    from mssante_client.sandbox import Sandbox
    info = Sandbox(root=path, port_base=10000).start(directory_entries=1000)
    info.account("jean.dupont@medecin.mssante.test").cert_file

See docs/sandbox.md. Test servers only: every secret in here is throw-away.
"""

from __future__ import annotations

from .models import CertBundle, SandboxAccount, SandboxInfo, SandboxPorts, TokenIssuer
from .operator import DEFAULT_PORT_BASE, SERVICES, Sandbox, default_root
from .whitelist import WhitelistDomain, sandbox_domains

__all__ = [
    "DEFAULT_PORT_BASE",
    "SERVICES",
    "CertBundle",
    "Sandbox",
    "SandboxAccount",
    "SandboxInfo",
    "SandboxPorts",
    "TokenIssuer",
    "WhitelistDomain",
    "default_root",
    "sandbox_domains",
]
