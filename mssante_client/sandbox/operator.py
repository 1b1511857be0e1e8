"""The sandbox operator: start, query, restart and stop one set of private daemons.

Why: every mail and directory test of the SDK runs against real servers (Dovecot for
IMAP/submission, Postfix as MTA, slapd for the directory, a stdlib HTTPS server for the
liste blanche), started from one private root on loopback, never from /etc, and stopped by
PID. ``start`` is idempotent so that several test sessions can share one sandbox.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import grp
import logging
import os
import pwd
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from ..errors import MissingDependencyError, SandboxError
from . import accounts as acc
from . import process
from .config import render_all
from .directory_seed import BASE_DN, check_entry_count, write_seed
from .layout import SandboxLayout
from .models import CertBundle, SandboxAccount, SandboxInfo, SandboxPorts, TokenIssuer
from .pki import IssuedCert, Pki, build_pki, write_private_file
from .tokens import ISSUER, RS256_KID, Algorithm, mint_jwt
from .whitelist import WhitelistDomain, build_whitelist, sandbox_domains
from .whitelist_server import PATH as WHITELIST_PATH

__all__ = ["DEFAULT_PORT_BASE", "INSTALL_COMMAND", "SERVICES", "Sandbox", "default_root"]

log = logging.getLogger("mssante_client.sandbox")

DEFAULT_PORT_BASE = 10000
DEFAULT_ENTRIES = 1000
#: What to run when a system program is missing.
INSTALL_COMMAND = (
    "sudo bash scripts/install-system-deps.sh  (or: apt-get install -y dovecot-imapd "
    "dovecot-submissiond dovecot-lmtpd postfix slapd ldap-utils)"
)
SERVICES = ("slapd", "dovecot", "postfix", "whitelist")
_PROGRAMS = {"dovecot": "dovecot-imapd", "postfix": "postfix", "slapd": "slapd", "slapadd": "slapd"}
MAIL_HOST = "127.0.0.2"
LOOPBACK = "127.0.0.1"
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
        if all(self._is_ours(name, pid) for name, pid in info.pids.items()):
            return info
        return None

    def _is_ours(self, service: str, pid: int) -> bool:
        return process.is_alive(pid) and self._owns(service, pid)

    def _owns(self, service: str, pid: int) -> bool:
        """Whether ``pid`` is this root's daemon (guards against recycled PIDs).

        Postfix's master runs from its queue directory; the others name a file of the root
        on their command line.
        """
        if service == "postfix":
            return process.cwd(pid) == str(self.layout.spool_dir)
        return str(self.root) in process.cmdline(pid)

    def _owner_check(self, service: str) -> Callable[[int], bool]:
        return lambda pid: self._owns(service, pid)

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
        self._preflight()
        self.stop()  # leftovers of a half-dead sandbox in this root
        self._prepare_root()
        progress("sandbox: generating the test PKI")
        pki = build_pki(
            self.layout.pki_dir,
            [
                *(a.cert for a in acc.ACCOUNT_SPECS if a.cert is not None),
                acc.ROGUE_CERT,
            ],
        )
        token_issuer = self._make_token_keys()
        accounts = self._accounts(pki)
        admin_dn = f"cn=admin,{BASE_DN}"
        admin_password = secrets.token_urlsafe(12)
        for f in render_all(
            self.layout,
            self.ports,
            accounts,
            ldap_admin_dn=admin_dn,
            ldap_admin_password=admin_password,
            instance_name=f"mssante-sandbox-{self.port_base}",
        ):
            self._write(f.path, f.content.encode(), f.mode, f.group)
        progress(f"sandbox: generating {directory_entries} directory entries")
        count = write_seed(directory_entries, self.layout.ldif_file, self.layout.seed_file)
        progress("sandbox: loading the directory (slapadd)")
        process.run(
            [
                self._program("slapadd"),
                "-q",
                "-f",
                str(self.layout.ldap_dir / "slapd.conf"),
                "-l",
                str(self.layout.ldif_file),
            ],
            "slapadd",
        )
        self.publish_whitelist()
        progress("sandbox: starting the daemons")
        pids: dict[str, int] = {}
        try:
            for service in SERVICES:
                pids[service] = self._start_service(service)
        except SandboxError:
            self._kill(pids)
            raise
        info = self._info(pki, accounts, token_issuer, admin_dn, admin_password, count, pids)
        write_private_file(self.layout.info_file, info.model_dump_json(indent=2).encode())
        progress("sandbox: running")
        return info

    def _preflight(self) -> None:
        for program, package in _PROGRAMS.items():
            if process.find_program(program) is None:
                raise MissingDependencyError(
                    f"{program} (Debian package {package})", INSTALL_COMMAND
                )
        if os.geteuid() != 0:
            raise SandboxError(
                "the sandbox must run as root (Postfix and Dovecot drop "
                "privileges to postfix/nobody themselves)"
            )
        blocked = _blocking_ancestor(self.root)
        if blocked is not None:
            raise SandboxError(
                f"{blocked} is not traversable by other users, but the daemons' workers "
                f"(nobody, postfix, dovecot) must reach {self.root}; choose a root under "
                "the system temporary directory (MSSANTE_SANDBOX_ROOT / --root)"
            )
        busy = [
            f"{host}:{port}"
            for host, port in self._endpoints()
            if not process.port_is_free(host, port)
        ]
        if busy:
            raise SandboxError(
                f"ports already in use (another sandbox? pick another port base): {', '.join(busy)}"
            )

    def _endpoints(self, service: str | None = None) -> list[tuple[str, int]]:
        p = self.ports
        table = {
            "slapd": [(LOOPBACK, p.ldap), (LOOPBACK, p.ldaps)],
            "dovecot": [
                *(
                    (h, port)
                    for h in (LOOPBACK, MAIL_HOST)
                    for port in (p.imap, p.imaps, p.submission, p.submissions)
                ),
                (LOOPBACK, p.lmtp),
            ],
            "postfix": [(LOOPBACK, p.smtp_internal)],
            "whitelist": [(LOOPBACK, p.whitelist)],
        }
        if service is not None:
            return table[service]
        return [e for s in SERVICES for e in table[s]]

    def _program(self, name: str) -> str:
        found = process.find_program(name)
        if found is None:
            raise MissingDependencyError(
                f"{name} (Debian package {_PROGRAMS[name]})", INSTALL_COMMAND
            )
        return found

    def _prepare_root(self) -> None:
        root = self.root
        if root.exists() and any(root.iterdir()) and not self.layout.marker.exists():
            raise SandboxError(f"{root} is not empty and is not a sandbox root; refusing to use it")
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        self.layout.marker.write_text("mssante_client sandbox root\n")
        for d in self.layout.state_dirs:
            if d.exists():
                shutil.rmtree(d)
        self.layout.info_file.unlink(missing_ok=True)
        for d in (
            *self.layout.state_dirs,
            self.layout.dovecot_dir,
            self.layout.postfix_dir,
            self.layout.ldap_dir,
            self.layout.ldap_data_dir,
            self.layout.postfix_data_dir,
            self.layout.spool_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        for private in (self.layout.pki_dir, self.layout.tokens_dir):
            private.chmod(0o711)  # files inside are 0600; the dir only needs to be traversed
        nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        os.chown(self.layout.mail_dir, nobody, nogroup)
        postfix = pwd.getpwnam("postfix")
        os.chown(self.layout.postfix_data_dir, postfix.pw_uid, postfix.pw_gid)
        self.layout.postfix_data_dir.chmod(0o700)

    def _write(self, path: Path, data: bytes, mode: int, group: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode & 0o077 == 0:
            write_private_file(path, data)
        else:
            path.write_bytes(data)
        if group is not None:
            os.chown(path, 0, grp.getgrnam(group).gr_gid)
        path.chmod(mode)

    def _make_token_keys(self) -> TokenIssuer:
        tokens = self.layout.tokens_dir
        keys = self.layout.oauth2_keys_dir / "default"
        secret = secrets.token_bytes(32)
        write_private_file(tokens / "hs256.key", secret)
        self._write(keys / "HS256" / "default", base64.b64encode(secret), 0o640, "dovecot")
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private_file(
            tokens / "rs256.key",
            rsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        public = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._write(tokens / "rs256.pub", public, 0o644)
        self._write(keys / "RS256" / RS256_KID, public, 0o644)
        for d in (self.layout.oauth2_keys_dir, keys, keys / "HS256", keys / "RS256"):
            d.chmod(0o755)
        return TokenIssuer(
            issuer=ISSUER,
            algorithms=["HS256", "RS256"],
            hs256_key_file=tokens / "hs256.key",
            rs256_key_file=tokens / "rs256.key",
            rs256_public_key_file=tokens / "rs256.pub",
            rs256_kid=RS256_KID,
            username_claim="email",
            cli=f"mssante sandbox token --root {self.root} ADDRESS [--alg RS256] [--expired]",
            python=f"Sandbox(root={str(self.root)!r}).mint_token(address, alg='HS256')",
        )

    def _accounts(self, pki: Pki) -> list[SandboxAccount]:
        result = []
        for spec in acc.ACCOUNT_SPECS:
            cert = pki.clients[spec.cert.name] if spec.cert else None
            result.append(
                SandboxAccount(
                    address=spec.address,
                    mailbox_type=spec.mailbox_type,
                    display_name=spec.display_name,
                    password=acc.new_password(),
                    cert_file=cert.cert_file if cert else None,
                    key_file=cert.key_file if cert else None,
                    chain_file=cert.chain_file if cert else None,
                    p12_file=cert.p12_file if cert else None,
                    p12_password=cert.p12_password if cert else None,
                    cert_subject=_subject(
                        spec.cert.common_name, spec.cert.organization, spec.cert.organizational_unit
                    )
                    if spec.cert
                    else None,
                    can_act_as=list(spec.can_act_as),
                    is_patient=spec.is_patient,
                    revoked=bool(spec.cert and spec.cert.revoked),
                )
            )
        return result

    def _info(
        self,
        pki: Pki,
        accounts: list[SandboxAccount],
        tokens: TokenIssuer,
        admin_dn: str,
        admin_password: str,
        entries: int,
        pids: dict[str, int],
    ) -> SandboxInfo:
        p = self.ports
        revoked = pki.clients[acc.REVOKED_CERT]
        rogue = pki.clients[acc.ROGUE_CERT.name]
        return SandboxInfo(
            root=self.root,
            port_base=self.port_base,
            host=MAIL_HOST,
            loopback_host=LOOPBACK,
            ports=p,
            imap_port=p.imap,
            imaps_port=p.imaps,
            submission_port=p.submission,
            submissions_port=p.submissions,
            ca_file=pki.ca_file,
            ca_bundle_file=pki.ca_bundle_file,
            crl_file=pki.crl_file,
            operator_domains=list(acc.OPERATOR_DOMAINS),
            patient_domain=acc.PATIENT_DOMAIN,
            accounts=accounts,
            revoked_cert=_bundle(
                acc.REVOQUE, revoked, "CN=revoque@medecin.mssante.test,O=CABINET TEST,C=FR"
            ),
            rogue_cert=_bundle(acc.JEAN, rogue, f"CN={acc.JEAN},O=ROGUE,C=FR"),
            ldap_uri=f"ldap://{LOOPBACK}:{p.ldap}",
            ldaps_uri=f"ldaps://{LOOPBACK}:{p.ldaps}",
            ldap_base=BASE_DN,
            ldap_admin_dn=admin_dn,
            ldap_admin_password=admin_password,
            directory_seed_file=self.layout.seed_file,
            directory_entries=entries,
            whitelist_url=f"https://{LOOPBACK}:{p.whitelist}{WHITELIST_PATH}",
            whitelist_file=self.layout.whitelist_file,
            tokens=tokens,
            pids=pids,
            log_dir=self.layout.log_dir,
        )

    # --- daemons ---------------------------------------------------------------------------

    def _start_service(self, service: str) -> int:
        L, p = self.layout, self.ports
        if service == "slapd":
            pid = process.spawn(
                [
                    self._program("slapd"),
                    "-d",
                    "0",
                    "-f",
                    str(L.ldap_dir / "slapd.conf"),
                    "-h",
                    f"ldap://{LOOPBACK}:{p.ldap}/ ldaps://{LOOPBACK}:{p.ldaps}/",
                ],
                L.log_file("slapd"),
            )
        elif service == "dovecot":
            pid = process.spawn(
                [self._program("dovecot"), "-F", "-c", str(L.dovecot_dir / "dovecot.conf")],
                L.log_file("dovecot.stdout"),
            )
        elif service == "postfix":
            process.run(
                [self._program("postfix"), "-c", str(L.postfix_dir), "start"],
                f"postfix start (see {L.log_file('postfix')})",
            )
            pid = self._postfix_master_pid()
        elif service == "whitelist":
            pid = process.spawn(
                [
                    sys.executable,
                    "-m",
                    "mssante_client.sandbox.whitelist_server",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(p.whitelist),
                    "--file",
                    str(L.whitelist_file),
                    "--cert",
                    str(L.pki_dir / "server.fullchain.pem"),
                    "--key",
                    str(L.pki_dir / "server.key"),
                ],
                L.log_file("whitelist"),
            )
        else:
            raise SandboxError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
        L.pid_file(service).write_text(f"{pid}\n")

        def dead() -> str | None:
            return None if process.is_alive(pid) else service

        try:
            process.wait_for_ports(
                self._endpoints(service), timeout=START_TIMEOUT, still_running=dead
            )
        except SandboxError as exc:
            log_name = {"dovecot": "dovecot"}.get(service, service)
            tail = process.log_tail(L.log_file(log_name))
            if service == "dovecot":
                tail += "\n" + process.log_tail(L.log_file("dovecot.stdout"), 5)
            process.terminate(pid, is_ours=self._owner_check(service))
            raise SandboxError(f"{service}: {exc}; last log lines:\n{tail}") from exc
        return pid

    def _postfix_master_pid(self) -> int:
        pid_file = self.layout.spool_dir / "pid" / "master.pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return int(pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise SandboxError(
            f"postfix wrote no master.pid; last log lines:\n"
            f"{process.log_tail(self.layout.log_file('postfix'))}"
        )

    def _recorded_pids(self) -> dict[str, int]:
        pids: dict[str, int] = {}
        for service in SERVICES:
            try:
                pids[service] = int(self.layout.pid_file(service).read_text().strip())
            except (OSError, ValueError):
                continue
        return pids

    def _kill(self, pids: dict[str, int]) -> None:
        for service, pid in pids.items():
            process.terminate(pid, is_ours=self._owner_check(service))

    def restart_service(self, service: str) -> SandboxInfo:
        """Stop then start one daemon (e.g. ``"dovecot"`` to test IDLE surviving a restart)."""
        info = self.status()
        if info is None:
            raise SandboxError(f"no sandbox running from {self.root}")
        if service not in SERVICES:
            raise SandboxError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
        process.terminate(info.pids[service], is_ours=self._owner_check(service))
        self._wait_ports_closed(self._endpoints(service))
        pids = {**info.pids, service: self._start_service(service)}
        info = info.model_copy(update={"pids": pids})
        write_private_file(self.layout.info_file, info.model_dump_json(indent=2).encode())
        return info

    def _wait_ports_closed(self, endpoints: list[tuple[str, int]], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(process.accepts_connections(h, p, 0.2) for h, p in endpoints):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every daemon of this root by PID; harmless if nothing runs."""
        info = self._load_info()
        pids = self._recorded_pids()
        if info is not None:
            pids = {**info.pids, **pids}
        master = self.layout.spool_dir / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            pids["postfix"] = int(master.read_text().strip())
        self._kill(pids)
        for service in SERVICES:
            self.layout.pid_file(service).unlink(missing_ok=True)

    # --- liste blanche --------------------------------------------------------------------

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


def _subject(cn: str, o: str, ou: str | None) -> str:
    return ",".join(x for x in (f"CN={cn}", f"OU={ou}" if ou else "", f"O={o}", "C=FR") if x)


def _bundle(address: str, cert: IssuedCert, subject: str) -> CertBundle:
    return CertBundle(
        address=address,
        subject=subject,
        serial=cert.serial,
        cert_file=cert.cert_file,
        key_file=cert.key_file,
        chain_file=cert.chain_file,
        p12_file=cert.p12_file,
        p12_password=cert.p12_password,
    )
