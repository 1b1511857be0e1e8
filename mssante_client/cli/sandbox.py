"""``mssante sandbox start|stop|status|env|token``: the local MSSanté test operator."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from ..sandbox import DEFAULT_PORT_BASE, Sandbox
from ..sandbox.models import SandboxInfo
from ._output import print_json, progress, progress_done

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="local MSSanté test operator (Dovecot, Postfix, slapd) on loopback",
        description="Start, query and stop a private MSSanté test operator of real servers.",
    )
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            type=Path,
            default=None,
            help="sandbox directory (default: $MSSANTE_SANDBOX_ROOT or ~/.cache/mssante/sandbox)",
        )
        p.add_argument(
            "--port-base",
            type=int,
            default=None,
            help=f"ports are BASE+143, BASE+993, ... (default {DEFAULT_PORT_BASE}, "
            "or the running sandbox's)",
        )

    start = sub.add_parser("start", help="start (or find running) and describe it")
    common(start)
    start.add_argument(
        "--entries",
        type=int,
        default=1000,
        help="synthetic directory entries (default 1000, max 100000)",
    )
    start.add_argument("--json", action="store_true", help="print the full JSON description")
    start.set_defaults(handler=_start)

    status = sub.add_parser("status", help="describe the running sandbox (exit 1 if stopped)")
    common(status)
    status.add_argument("--json", action="store_true", help="print the full JSON description")
    status.set_defaults(handler=_status)

    stop = sub.add_parser("stop", help="stop every daemon of the sandbox (by PID)")
    common(stop)
    stop.set_defaults(handler=_stop)

    env = sub.add_parser(
        "env", help='print shell exports for the running sandbox (eval "$(mssante sandbox env)")'
    )
    common(env)
    env.set_defaults(handler=_env)

    token = sub.add_parser("token", help="print an OAuth2 bearer JWT the sandbox accepts")
    common(token)
    token.add_argument("address", help="mailbox address (the token's email claim)")
    token.add_argument("--alg", choices=("HS256", "RS256"), default="HS256")
    token.add_argument("--expired", action="store_true", help="a token whose exp has passed")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    token.set_defaults(handler=_token)


def _sandbox(args: argparse.Namespace) -> Sandbox:
    sandbox = Sandbox(args.root)
    if args.port_base is not None:
        return Sandbox(sandbox.root, port_base=args.port_base)
    info_file = sandbox.layout.info_file
    try:
        return Sandbox(
            sandbox.root,
            port_base=SandboxInfo.model_validate_json(info_file.read_bytes()).port_base,
        )
    except (OSError, ValueError):
        return sandbox


def _summary(info: SandboxInfo) -> str:
    lines = [
        f"sandbox root {info.root} (port base {info.port_base})",
        f"  IMAP {info.host}:{info.imap_port} (STARTTLS), {info.host}:{info.imaps_port} (TLS)",
        f"  submission {info.host}:{info.submission_port} (STARTTLS), "
        f"{info.host}:{info.submissions_port} (TLS)",
        f"  LDAP {info.ldap_uri} / {info.ldaps_uri}  base {info.ldap_base} "
        f"({info.directory_entries} mailboxes)",
        f"  liste blanche {info.whitelist_url}",
        f"  CA {info.ca_file}",
        "  accounts: " + ", ".join(a.address for a in info.accounts),
        f"  full description: {info.root / 'sandbox.json'} (or --json)",
    ]
    return "\n".join(lines)


def _show(info: SandboxInfo, as_json: bool) -> None:
    if as_json:
        print_json(info.model_dump(mode="json"))
    else:
        print(_summary(info))


def _start(args: argparse.Namespace) -> int:
    info = _sandbox(args).start(directory_entries=args.entries, progress=progress)
    progress_done()
    _show(info, args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    info = _sandbox(args).status()
    if info is None:
        if args.json:
            print_json(None)
        else:
            print("sandbox not running")
        return 1
    _show(info, args.json)
    return 0


def _stop(args: argparse.Namespace) -> int:
    _sandbox(args).stop()
    return 0


def environment(info: SandboxInfo) -> dict[str, str]:
    """Variables for shell tools and for the pytest plugin (which then reuses this sandbox)."""
    return {
        "MSSANTE_SANDBOX_ROOT": str(info.root),
        "MSSANTE_SANDBOX_PORT_BASE": str(info.port_base),
        "MSS_HOST": info.host,
        "MSS_CA": str(info.ca_file),
        "MSS_IMAP_STARTTLS": str(info.imap_port),
        "MSS_IMAPS": str(info.imaps_port),
        "MSS_SUBMISSION": str(info.submission_port),
        "MSS_SUBMISSIONS": str(info.submissions_port),
        "MSS_LDAP": info.ldap_uri,
        "MSS_LDAPS": info.ldaps_uri,
        "MSS_LDAP_BASE": info.ldap_base,
        "MSS_WHITELIST_URL": info.whitelist_url,
        "LDAPTLS_CACERT": str(info.ca_file),
    }


def _env(args: argparse.Namespace) -> int:
    info = _sandbox(args).status()
    if info is None:
        print("sandbox not running", file=sys.stderr)
        return 1
    for name, value in environment(info).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _token(args: argparse.Namespace) -> int:
    print(
        _sandbox(args).mint_token(
            args.address, alg=args.alg, expired=args.expired, lifetime=args.lifetime
        )
    )
    return 0
