"""The four daemons of a sandbox: how each is started and where it listens (pure).

Why: ``start``, ``restart_service``, ``stop`` and the pre-flight port check must agree on the
same table; keeping it apart from the process handling makes it checkable without sockets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import SandboxError
from .layout import SandboxLayout
from .models import SandboxPorts

__all__ = [
    "LOOPBACK",
    "MAIL_HOST",
    "PROGRAMS",
    "SERVICES",
    "all_endpoints",
    "check_service",
    "endpoints",
    "log_files",
    "spawn_command",
]

#: Start order (slapd first: nothing depends on it; Postfix before nothing sends mail yet).
SERVICES = ("slapd", "dovecot", "postfix", "whitelist")
#: System programs the sandbox runs, and the Debian package that provides each.
PROGRAMS = {"dovecot": "dovecot-imapd", "postfix": "postfix", "slapd": "slapd", "slapadd": "slapd"}
#: The host clients use: Dovecot enforces TLS here (see docs/sandbox.md, gotcha 1).
MAIL_HOST = "127.0.0.2"
LOOPBACK = "127.0.0.1"

Endpoint = tuple[str, int]


def check_service(service: str) -> str:
    if service not in SERVICES:
        raise SandboxError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return service


def endpoints(service: str, ports: SandboxPorts) -> list[Endpoint]:
    """Where ``service`` listens once started."""
    p = ports
    table: dict[str, list[Endpoint]] = {
        "slapd": [(LOOPBACK, p.ldap), (LOOPBACK, p.ldaps)],
        "dovecot": [
            *(
                (host, port)
                for host in (LOOPBACK, MAIL_HOST)
                for port in (p.imap, p.imaps, p.submission, p.submissions)
            ),
            (LOOPBACK, p.lmtp),
        ],
        "postfix": [(LOOPBACK, p.smtp_internal)],
        "whitelist": [(LOOPBACK, p.whitelist)],
    }
    return table[check_service(service)]


def all_endpoints(ports: SandboxPorts) -> list[Endpoint]:
    return [e for s in SERVICES for e in endpoints(s, ports)]


def spawn_command(
    service: str, layout: SandboxLayout, ports: SandboxPorts, program: Callable[[str], str]
) -> list[str]:
    """Foreground command of a daemon we start ourselves (Postfix daemonizes: not here).

    ``program`` resolves a system program name to its path.
    """
    L, p = layout, ports
    if service == "slapd":  # -d 0: stay in the foreground, so our PID is slapd's
        return [
            program("slapd"), "-d", "0", "-f", str(L.ldap_dir / "slapd.conf"),
            "-h", f"ldap://{LOOPBACK}:{p.ldap}/ ldaps://{LOOPBACK}:{p.ldaps}/",
        ]  # fmt: skip
    if service == "dovecot":  # -F: foreground
        return [program("dovecot"), "-F", "-c", str(L.dovecot_dir / "dovecot.conf")]
    if service == "whitelist":
        return [
            sys.executable, "-m", "mssante_client.sandbox.whitelist_server",
            "--host", LOOPBACK, "--port", str(p.whitelist), "--file", str(L.whitelist_file),
            "--cert", str(L.pki_dir / "server.fullchain.pem"),
            "--key", str(L.pki_dir / "server.key"),
        ]  # fmt: skip
    raise SandboxError(f"{service} is not started by spawning it")


def log_files(service: str, layout: SandboxLayout) -> list[Path]:
    """Logs worth quoting when ``service`` fails (its own log, then its stdout capture)."""
    if service == "dovecot":
        return [layout.log_file("dovecot"), layout.log_file("dovecot.stdout")]
    return [layout.log_file(check_service(service))]
