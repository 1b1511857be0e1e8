"""Helpers for the mail edge tests: mailboxes on the sandbox's real Dovecot/Postfix.

Every live test uses a unique subject and looks only for it, since the sandbox's mailboxes are
shared by the whole session. Waiting for delivery is done by polling IMAP (never by sleeping a
fixed time); "nothing was delivered" is proven with a canary sent afterwards on the same path.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from mssante_client.mail.mailbox import Mailbox
from mssante_client.mail.message import Message, Sender

T = TypeVar("T")

JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
DPI = "dpi.cardio@hopital.mssante.test"
SECRETARIAT = "secretariat.cardio@hopital.mssante.test"
ACCUEIL = "accueil@hopital.mssante.test"
REVOQUE = "revoque@medecin.mssante.test"
NIL = "DEV000001"


def unique(prefix: str = "test") -> str:
    return f"{prefix} {uuid.uuid4().hex[:12]}"


def wait_for(fn: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.2) -> T:
    """Poll ``fn`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


MailboxFactory = Callable[..., Mailbox]


def simple_message(sender: str, to: list[str], subject: str, **kw: Any) -> Message:
    return Message(
        sender=Sender.entity(sender, "Test sender"),
        to=to,
        subject=subject,
        body=kw.pop("body", "Bonjour"),
        **kw,
    )


def find_subject(mailbox: Mailbox, subject: str, folder: str = "INBOX") -> list[Any]:
    """Envelopes of ``folder`` whose subject is exactly ``subject``."""
    return [e for e in mailbox.envelopes(folder).envelopes if e.subject == subject]


def delivered(mailbox: Mailbox, subject: str, folder: str = "INBOX") -> list[Any]:
    """Wait until a message with ``subject`` is in ``folder``; its envelopes."""
    return wait_for(lambda: find_subject(mailbox, subject, folder))


def assert_not_delivered(
    sender_box: Mailbox, sender: str, reader: Mailbox, reader_address: str, subject: str
) -> None:
    """Send a canary on the same path; once it arrived, the refused message must be absent."""
    canary = unique("canary")
    sender_box.send(simple_message(sender, [reader_address], canary))
    delivered(reader, canary)
    assert find_subject(reader, subject) == []


class LocalPeer:
    """A loopback listener serving each connection with ``handle(sock)`` in a thread.

    Only for failure modes the real servers cannot produce on demand (no STARTTLS, a certificate
    for another host, a 4xx answer, a cut after DATA); never a stand-in for Dovecot/Postfix.
    """

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.handle = handle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError, ssl.SSLError):
                conn.settimeout(5)
                self.handle(conn)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(5)
