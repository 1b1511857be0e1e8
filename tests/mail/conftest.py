"""Fixtures for the mail edge tests (Mailbox on the sandbox's real Dovecot/Postfix)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mailb_support import NIL, MailboxFactory

from mssante_client.mail.credentials import Credentials, Password
from mssante_client.mail.mailbox import Mailbox
from mssante_client.sandbox import SandboxInfo


@pytest.fixture
def sandbox(mssante_sandbox: SandboxInfo) -> SandboxInfo:
    return mssante_sandbox


@pytest.fixture
def open_mailbox(mssante_sandbox: SandboxInfo) -> Iterator[MailboxFactory]:
    """``open_mailbox(address, credentials=None, **kw)``: a sandbox Mailbox, closed after."""
    opened: list[Mailbox] = []
    info = mssante_sandbox

    def factory(address: str, credentials: Credentials | None = None, **kw: Any) -> Mailbox:
        if credentials is None:
            password = info.account(address).password
            assert password is not None
            credentials = Password(password)
        kw.setdefault("host", info.host)
        kw.setdefault("smtp_port", info.submission_port)
        kw.setdefault("imap_port", info.imap_port)
        kw.setdefault("ca_file", info.ca_file)
        kw.setdefault("nil", NIL)
        kw.setdefault("timeout", 15.0)
        mb = Mailbox(address, credentials, **kw)
        opened.append(mb)
        return mb

    yield factory
    for mb in opened:
        mb.close()
