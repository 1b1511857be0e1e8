"""The sandbox operator: start, query, restart and stop one set of private daemons.

Why: every mail and directory test of the SDK runs against real servers (Dovecot for
IMAP/submission, Postfix as MTA, slapd for the directory, a stdlib HTTPS server for the
liste blanche), started from one private root on loopback, never from /etc, and stopped by
PID. ``start`` is idempotent so that several test sessions can share one sandbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from ..errors import MissingDependencyError, SandboxError
from . import accounts as acc
from . import process
from .directory_seed import BASE_DN, check_entry_count, write_seed
from .layout import SandboxLayout
from .models import SandboxInfo, SandboxPorts
from .pki import build_pki, write_private_file
from .provision import (
    describe,
    make_accounts,
    prepare_root,
    write_configs,
    write_token_keys,
)
from .services import PROGRAMS, SERVICES, all_endpoints, check_service, endpoints, log_files
from .services import spawn_command as _spawn_command
from .tokens import Algorithm, mint_jwt
from .whitelist import WhitelistDomain, build_whitelist, sandbox_domains

__all__ = ["DEFAULT_PORT_BASE", "INSTALL_COMMAND", "SERVICES", "Sandbox", "default_root"]

log = logging.getLogger("mssante_client.sandbox")

DEFAULT_PORT_BASE = 10000
DEFAULT_ENTRIES = 1000
#: What to run when a system program is missing.
INSTALL_COMMAND = (
    "sudo bash scripts/install-system-deps.sh  (or: apt-get install -y dovecot-imapd "
    "dovecot-submissiond dovecot-lmtpd postfix slapd ldap-utils)"
)
START_TIMEOUT = 30.0

Progress = Callable[[str], None]


def _no_progress(_: str) -> None:
    return None


def _blocking_ancestor(path: Path) -> Path | None:
    """The first ancestor of ``path`` that other users cannot traverse, if any."""
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def default_root() -> Path:
    """``$MSSANTE_SANDBOX_ROOT``, else ``~/.cache/mssante/sandbox``.

    The daemons' unprivileged workers (``nobody``, ``postfix``, ``dovecot``) must traverse every
    parent of the root; when the home directory forbids that (root's ``/root`` is 0700), the
    default falls back to ``<tempdir>/mssante-sandbox-<uid>``.
    """
    env = os.environ.get("MSSANTE_SANDBOX_ROOT")
    if env:
        return Path(env).expanduser()
    home_root = Path.home() / ".cache" / "mssante" / "sandbox"
    if _blocking_ancestor(home_root) is None:
        return home_root
    return Path(tempfile.gettempdir()) / f"mssante-sandbox-{os.getuid()}"


def _program(name: str) -> str:
    found = process.find_program(name)
    if found is None:
        raise MissingDependencyError(f"{name} (Debian package {PROGRAMS[name]})", INSTALL_COMMAND)
    return found


class Sandbox:
    """A local MSSanté test operator rooted at ``root`` with ports ``port_base + N``."""

    def __init__(self, root: Path | str | None = None, port_base: int = DEFAULT_PORT_BASE) -> None:
        self.root = Path(root).expanduser().absolute() if root is not None else default_root()
        self.port_base = port_base
        self.ports = SandboxPorts.from_base(port_base)
        self.layout = SandboxLayout(self.root)

    def __repr__(self) -> str:
        return f"Sandbox(root={str(self.root)!r}, port_base={self.port_base})"

    # --- queries ---------------------------------------------------------------------------

    def _load_info(self) -> SandboxInfo | None:
        try:
            return SandboxInfo.model_validate_json(self.layout.info_file.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.warning("ignoring unreadable %s: %s", self.layout.info_file, type(exc).__name__)
            return None

    def status(self) -> SandboxInfo | None:
        """The running sandbox's description, or None if any of its daemons is not running."""
        info = self._load_info()
        if info is None or set(info.pids) != set(SERVICES):
            return None
        if all(process.is_alive(pid) and self._owns(s, pid) for s, pid in info.pids.items()):
            return info
        return None

    def _owns(self, service: str, pid: int) -> bool:
        """Whether ``pid`` is this sandbox's ``service`` or one of its workers.

        Guards every signal against recycled PIDs and other sandboxes: Postfix's processes
        run from this root's queue directory; Dovecot's workers are titled
        ``dovecot-<instance>/...``; the daemons name their own config file of this root.
        """
        if service == "postfix":
            return process.cwd(pid) == str(self.layout.spool_dir)
        line = process.cmdline(pid)
        if service == "dovecot":
            return line.startswith(f"dovecot-{self._instance}/") or (
                str(self.layout.dovecot_dir / "dovecot.conf") in line
            )
        if service == "slapd":
            return str(self.layout.ldap_dir / "slapd.conf") in line
        return str(self.layout.whitelist_file) in line

    @property
    def _instance(self) -> str:
        """Dovecot ``instance_name``, also the prefix of its workers' process titles.

        It names the root (by a hash), so that stopping a stale sandbox never matches the
        workers of another one running on the same port base from another root.
        """
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        return f"mssante-sandbox-{self.port_base}-{digest}"

    def _terminate(self, service: str, pid: int, *, workers: bool = True) -> None:
        """Stop the daemon ``pid``; with ``workers``, also whatever it left running.

        Dovecot's ``imap``/``submission`` processes of connected clients outlive their
        master, so a full stop sweeps every remaining process of this sandbox's service.
        """
        process.terminate(pid, is_ours=lambda p: self._owns(service, p))
        if workers:
            process.terminate_all(process.find_processes(lambda p: self._owns(service, p)))

    # --- start -----------------------------------------------------------------------------

    def start(
        self, directory_entries: int = DEFAULT_ENTRIES, *, progress: Progress = _no_progress
    ) -> SandboxInfo:
        """Start every daemon and return the description; if already running, return it."""
        running = self.status()
        if running is not None:
            if running.port_base != self.port_base:
                raise SandboxError(
                    f"a sandbox already runs from {self.root} on port base {running.port_base}"
                )
            return running
        check_entry_count(directory_entries)
        self.stop()  # leftovers of a half-dead sandbox in this root (they may hold its ports)
        self._preflight()
        layout = self.layout
        prepare_root(layout)
        progress("sandbox: generating the test PKI")
        certs = [a.cert for a in acc.ACCOUNT_SPECS if a.cert is not None]
        pki = build_pki(layout.pki_dir, [*certs, acc.ROGUE_CERT])
        tokens = write_token_keys(layout)
        accounts = make_accounts(pki)
        admin = (f"cn=admin,{BASE_DN}", secrets.token_urlsafe(12))
        write_configs(layout, self.ports, accounts, admin, self._instance)
        progress(f"sandbox: generating {directory_entries} directory entries")
        count = write_seed(directory_entries, layout.ldif_file, layout.seed_file)
        progress("sandbox: loading the directory (slapadd)")
        slapadd = [_program("slapadd"), "-q", "-f", str(layout.ldap_dir / "slapd.conf"),
                   "-l", str(layout.ldif_file)]  # fmt: skip
        process.run(slapadd, "slapadd")
        self.publish_whitelist()
        progress("sandbox: starting the daemons")
        pids: dict[str, int] = {}
        try:
            for service in SERVICES:
                pids[service] = self._start_service(service)
        except SandboxError:
            for service, pid in pids.items():
                self._terminate(service, pid)
            raise
        info = describe(layout, self.port_base, pki, accounts, tokens, admin, count, pids)
        write_private_file(layout.info_file, info.model_dump_json(indent=2).encode())
        progress("sandbox: running")
        return info

    def _preflight(self) -> None:
        for program in PROGRAMS:
            _program(program)
        if os.geteuid() != 0:
            raise SandboxError(
                "the sandbox must run as root (Postfix and Dovecot drop privileges to "
                "postfix/nobody themselves)"
            )
        blocked = _blocking_ancestor(self.root)
        if blocked is not None:
            raise SandboxError(
                f"{blocked} is not traversable by other users, but the daemons' workers "
                f"(nobody, postfix, dovecot) must reach {self.root}; choose a root under "
                "the system temporary directory (MSSANTE_SANDBOX_ROOT / --root)"
            )
        busy = [f"{h}:{p}" for h, p in all_endpoints(self.ports) if not process.port_is_free(h, p)]
        if busy:
            raise SandboxError(
                f"ports already in use (another sandbox? pick another port base): {', '.join(busy)}"
            )

    # --- daemons ---------------------------------------------------------------------------

    def _start_service(self, service: str) -> int:
        """Start one daemon, record its PID, wait for its ports; SandboxError with log tail."""
        layout = self.layout
        if service == "postfix":  # daemonizes; its master records its own PID
            try:
                process.run([_program("postfix"), "-c", str(layout.postfix_dir), "start"],
                            "postfix start")  # fmt: skip
                pid = self._postfix_master_pid()
            except SandboxError as exc:
                check = [_program("postfix"), "-c", str(layout.postfix_dir), "check"]
                said = process.run_on_terminal(check) or "(nothing)"
                raise SandboxError(
                    f"{exc}\n--- postfix check (on a terminal) said:\n{said}\n"
                    f"{self._log_tails(service)}"
                ) from exc
        else:
            command = _spawn_command(service, layout, self.ports, _program)
            pid = process.spawn(command, log_files(service, layout)[-1])
        layout.pid_file(service).write_text(f"{pid}\n")

        def dead() -> str | None:
            return None if process.is_alive(pid) else service

        try:
            process.wait_for_ports(
                endpoints(service, self.ports), timeout=START_TIMEOUT, still_running=dead
            )
        except SandboxError as exc:
            self._terminate(service, pid)
            raise SandboxError(f"{service}: {exc}\n{self._log_tails(service)}") from exc
        return pid

    def _log_tails(self, service: str) -> str:
        return "\n".join(
            f"--- last lines of {f}:\n{process.log_tail(f)}"
            for f in log_files(service, self.layout)
        )

    def _postfix_master_pid(self) -> int:
        pid_file = self.layout.spool_dir / "pid" / "master.pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return int(pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise SandboxError("postfix wrote no master.pid")

    def restart_service(self, service: str, *, drop_sessions: bool = False) -> SandboxInfo:
        """Stop then start one daemon (e.g. ``"dovecot"`` to test IDLE surviving a restart).

        Dovecot's logged-in sessions outlive its master, so by default open IMAP connections
        keep working on the old processes; ``drop_sessions=True`` ends them too, as a full
        operator restart would (clients then see their connection closed).
        """
        check_service(service)
        info = self.status()
        if info is None:
            raise SandboxError(f"no sandbox running from {self.root}")
        self._terminate(service, info.pids[service], workers=drop_sessions)
        self._wait_ports_closed(service)
        info = info.model_copy(
            update={"pids": {**info.pids, service: self._start_service(service)}}
        )
        write_private_file(self.layout.info_file, info.model_dump_json(indent=2).encode())
        return info

    def _wait_ports_closed(self, service: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(
                process.accepts_connections(h, p, 0.2) for h, p in endpoints(service, self.ports)
            ):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every daemon of this root by PID; harmless if nothing runs."""
        info = self._load_info()
        pids = dict(info.pids) if info is not None else {}
        for service in SERVICES:
            with contextlib.suppress(OSError, ValueError):
                pids[service] = int(self.layout.pid_file(service).read_text().strip())
        with contextlib.suppress(OSError, ValueError):
            pids["postfix"] = int((self.layout.spool_dir / "pid" / "master.pid").read_text())
        for service, pid in pids.items():
            self._terminate(service, pid)
        for service in SERVICES:
            self.layout.pid_file(service).unlink(missing_ok=True)

    # --- liste blanche ---------------------------------------------------------------------

    def publish_whitelist(self, domains: Sequence[WhitelistDomain] | None = None) -> Path:
        """(Re)write the served liste blanche, as the ANS publishing a new version would.

        Default: the sandbox's three domains dated now. The server re-reads the file on each
        request, so the ETag changes at once (Last-Modified has a one-second resolution).
        """
        now = dt.datetime.now(dt.UTC)
        listed = sandbox_domains(now) if domains is None else list(domains)
        file = self.layout.whitelist_file
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        tmp.write_bytes(build_whitelist(listed, now))
        tmp.chmod(0o644)
        tmp.replace(file)  # atomic: a request never sees half a file
        return file

    # --- tokens ----------------------------------------------------------------------------

    def mint_token(
        self, address: str, *, expired: bool = False, alg: Algorithm = "HS256", lifetime: int = 3600
    ) -> str:
        """An OAuth2 bearer JWT for ``address`` that this sandbox's Dovecot accepts.

        ``expired=True`` gives a token Dovecot refuses ("Token has expired").
        """
        name = {"HS256": "hs256.key", "RS256": "rs256.key"}.get(alg)
        if name is None:
            raise SandboxError(f"unsupported token algorithm {alg!r} (HS256 or RS256)")
        try:
            key = (self.layout.tokens_dir / name).read_bytes()
        except OSError as exc:
            raise SandboxError(
                f"no token key in {self.layout.tokens_dir}: start the sandbox"
            ) from exc
        return mint_jwt(address, alg=alg, key=key, expired=expired, lifetime=lifetime)
