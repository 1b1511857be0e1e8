"""Where everything of one sandbox lives under its root directory (pure paths, no I/O).

Why: a single place names every file so that starting, stopping, status and the docs agree,
and so that nothing is ever written outside the root (nothing in /etc, no shared cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["MARKER", "SandboxLayout"]

#: File that marks a directory as a sandbox root (we only ever clean such directories).
MARKER = ".mssante-sandbox"


@dataclass(frozen=True)
class SandboxLayout:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def info_file(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def tokens_dir(self) -> Path:
        return self.root / "tokens"

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    @property
    def dovecot_dir(self) -> Path:
        return self.etc_dir / "dovecot"

    @property
    def oauth2_keys_dir(self) -> Path:
        return self.dovecot_dir / "oauth2-keys"

    @property
    def postfix_dir(self) -> Path:
        return self.etc_dir / "postfix"

    @property
    def ldap_dir(self) -> Path:
        return self.etc_dir / "ldap"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def lib_dir(self) -> Path:
        return self.root / "lib"

    @property
    def postfix_data_dir(self) -> Path:
        return self.lib_dir / "postfix"

    @property
    def ldap_data_dir(self) -> Path:
        return self.lib_dir / "ldap"

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool" / "postfix"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def directory_dir(self) -> Path:
        return self.root / "directory"

    @property
    def seed_file(self) -> Path:
        return self.directory_dir / "seed.jsonl"

    @property
    def ldif_file(self) -> Path:
        return self.directory_dir / "data.ldif"

    @property
    def whitelist_dir(self) -> Path:
        return self.root / "whitelist"

    @property
    def whitelist_file(self) -> Path:
        return self.whitelist_dir / "listeblanchemssante.xml"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    #: Directories rebuilt on each fresh start (never the root itself).
    @property
    def state_dirs(self) -> tuple[Path, ...]:
        return (
            self.pki_dir,
            self.tokens_dir,
            self.etc_dir,
            self.run_dir,
            self.lib_dir,
            self.root / "spool",
            self.log_dir,
            self.mail_dir,
            self.directory_dir,
            self.whitelist_dir,
        )
