"""Standard-library clients (ssl, imaplib, smtplib) for the sandbox's own tests."""

from __future__ import annotations

import base64
import imaplib
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path

from mssante_client.sandbox import Sandbox, SandboxAccount, SandboxInfo

JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
DPI = "dpi.cardio@hopital.mssante.test"
SECRETARIAT = "secretariat.cardio@hopital.mssante.test"
ACCUEIL = "accueil@hopital.mssante.test"


@dataclass
class Clients:
    """Standard-library IMAP/SMTP clients against one sandbox."""

    info: SandboxInfo
    sandbox: Sandbox

    def context(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.info.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert is not None:
            ctx.load_cert_chain(cert, key)
        return ctx

    def account_context(self, account: SandboxAccount | None) -> ssl.SSLContext:
        if account is None:
            return self.context()
        assert account.chain_file is not None and account.key_file is not None
        return self.context(account.chain_file, account.key_file)

    # --- IMAP
    def imap(self, implicit: bool, ctx: ssl.SSLContext, host: str | None = None) -> imaplib.IMAP4:
        host = host or self.info.host
        if implicit:
            return imaplib.IMAP4_SSL(host, self.info.imaps_port, ssl_context=ctx, timeout=15)
        conn = imaplib.IMAP4(host, self.info.imap_port, timeout=15)
        conn.starttls(ssl_context=ctx)
        return conn

    # --- SMTP
    def smtp(self, implicit: bool, ctx: ssl.SSLContext, host: str | None = None) -> smtplib.SMTP:
        host = host or self.info.host
        if implicit:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                host, self.info.submissions_port, context=ctx, timeout=15
            )
        else:
            conn = smtplib.SMTP(host, self.info.submission_port, timeout=15)
            conn.starttls(context=ctx)
        conn.ehlo("client.mssante.test")
        return conn


def xoauth2(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str, port: int) -> str:
    return f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"


def smtp_external(conn: smtplib.SMTP, authzid: str = "") -> tuple[int, bytes]:
    """RFC 4954 AUTH EXTERNAL with an initial response ('=' when empty)."""
    initial = base64.b64encode(authzid.encode()).decode() if authzid else "="
    return conn.docmd("AUTH", f"EXTERNAL {initial}")


def find_messages(conn: imaplib.IMAP4, text: str, *, timeout: float = 30.0) -> list[bytes]:
    """Poll INBOX until messages containing ``text`` arrive; return their full bodies."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        conn.select("INBOX", readonly=True)
        typ, data = conn.search(None, "TEXT", f'"{text}"')
        assert typ == "OK"
        numbers = data[0].split()
        if numbers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    bodies = []
    for n in numbers:
        typ, fetched = conn.fetch(n, "(BODY.PEEK[])")
        assert typ == "OK"
        part = fetched[0]
        assert isinstance(part, tuple)
        bodies.append(part[1])
    return bodies
