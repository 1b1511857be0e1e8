"""What a running sandbox tells its clients: a JSON-serialisable description (pydantic).

Why: tests and integrators in other processes (the CLI prints it, ``<root>/sandbox.json``
keeps it) need every host, port, file and credential of the sandbox without importing its
internals. Credentials in here are throw-away sandbox secrets, never real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import SandboxError
from ..identity import MailboxType, MSSanteAddress

__all__ = ["CertBundle", "SandboxAccount", "SandboxInfo", "SandboxPorts", "TokenIssuer"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SandboxPorts(_Frozen):
    """TCP ports, all derived from one ``port_base`` so several sandboxes can coexist."""

    imap: int
    imaps: int
    submission: int
    submissions: int
    lmtp: int
    smtp_internal: int
    ldap: int
    ldaps: int
    whitelist: int

    @classmethod
    def from_base(cls, base: int) -> SandboxPorts:
        if not 1024 <= base <= 65535 - 993:
            raise SandboxError(f"port_base must be between 1024 and {65535 - 993}, got {base}")
        return cls(
            imap=base + 143,
            imaps=base + 993,
            submission=base + 587,
            submissions=base + 465,
            lmtp=base + 24,
            smtp_internal=base + 25,
            ldap=base + 389,
            ldaps=base + 636,
            whitelist=base + 443,
        )


class CertBundle(_Frozen):
    """A client certificate with everything needed to present it (PEM or PKCS#12)."""

    address: str
    subject: str
    serial: int
    cert_file: Path
    key_file: Path
    chain_file: Path
    p12_file: Path
    p12_password: str = Field(repr=False)


class SandboxAccount(_Frozen):
    """A mailbox of the sandbox and the ways to log in to it (``None`` where not offered)."""

    address: str
    mailbox_type: MailboxType
    display_name: str
    password: str | None = Field(default=None, repr=False)
    cert_file: Path | None = None
    key_file: Path | None = None
    chain_file: Path | None = None
    p12_file: Path | None = None
    p12_password: str | None = Field(default=None, repr=False)
    cert_subject: str | None = None
    #: Mailboxes whose identity this account's certificate may assume with an authzid
    #: (SASL EXTERNAL "act as", e.g. an APP certificate opening an ORG mailbox).
    can_act_as: list[str] = Field(default_factory=list)
    #: True for a patient mailbox (local part = test INS, domain = the patient domain).
    is_patient: bool = False
    #: True when its certificate is revoked (listed in the issuing CA's CRL).
    revoked: bool = False

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """No secrets (fields with ``repr=False``) and no INS: a patient address is masked."""
        for name, value in super().__repr_args__():
            if name == "address" and self.is_patient:
                yield name, "***@" + self.address.rsplit("@", 1)[-1]
            else:
                yield name, value


class TokenIssuer(_Frozen):
    """How the sandbox's Dovecot validates OAuth2 bearer tokens, and how to mint one."""

    issuer: str
    algorithms: list[str]
    hs256_key_file: Path
    rs256_key_file: Path
    rs256_public_key_file: Path
    rs256_kid: str
    username_claim: str
    cli: str
    python: str


class SandboxInfo(_Frozen):
    """Everything a client needs to talk to a running sandbox (saved as ``sandbox.json``)."""

    root: Path
    port_base: int
    host: str = Field(description="Mail host to use: 127.0.0.2, where TLS is enforced")
    loopback_host: str = Field(description="127.0.0.1: Dovecot counts it as secured")
    ports: SandboxPorts
    imap_port: int
    imaps_port: int
    submission_port: int
    submissions_port: int
    ca_file: Path
    ca_bundle_file: Path
    crl_file: Path
    operator_domains: list[str]
    patient_domain: str
    accounts: list[SandboxAccount]
    revoked_cert: CertBundle
    rogue_cert: CertBundle
    ldap_uri: str
    ldaps_uri: str
    ldap_base: str
    ldap_admin_dn: str
    ldap_admin_password: str = Field(repr=False)
    directory_seed_file: Path
    directory_entries: int
    whitelist_url: str
    whitelist_file: Path
    tokens: TokenIssuer
    pids: dict[str, int]
    log_dir: Path

    def account(self, address: str | MSSanteAddress) -> SandboxAccount:
        """The account with this address (case-insensitive); SandboxError if unknown."""
        wanted = str(address).strip().lower()
        for acc in self.accounts:
            if acc.address.lower() == wanted:
                return acc
        raise SandboxError(f"no sandbox account {address!r}")

    def accounts_of_type(self, mailbox_type: MailboxType) -> list[SandboxAccount]:
        return [a for a in self.accounts if a.mailbox_type is mailbox_type]

    @property
    def patient_accounts(self) -> list[SandboxAccount]:
        return [a for a in self.accounts if a.is_patient]
