"""ECO.2.4.3: X-MSS-NIL on every mail; a Mailbox without it says so (once), never silently."""

from __future__ import annotations

import logging
from email import policy
from email.parser import BytesParser

import pytest

from mssante_client import Mailbox, Message, Password, Sender


def _message() -> Message:
    return Message(
        sender=Sender.person(
            "jean.dupont@medecin.mssante.test", first_name="Jean", last_name="Dupont"
        ),
        to=["helene.lefebvre@medecin.mssante.test"],
        subject="Bonjour",
        body="Texte.",
    )


def test_mailbox_without_nil_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    # composing needs no connection: the Mailbox opens its sockets lazily
    mailbox = Mailbox("jean.dupont@medecin.mssante.test", Password("x"), host="127.0.0.2")
    with caplog.at_level(logging.WARNING, logger="mssante_client.mail"):
        first = mailbox.compose(_message())
        mailbox.compose(_message())
    warnings = [r for r in caplog.records if "X-MSS-NIL" in r.getMessage()]
    assert len(warnings) == 1
    assert "ECO.2.4.3" in warnings[0].getMessage()
    parsed = BytesParser(policy=policy.default).parsebytes(first.data)
    assert parsed["X-MSS-NIL"] is None


def test_mailbox_with_nil_sets_the_header_and_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    mailbox = Mailbox(
        "jean.dupont@medecin.mssante.test", Password("x"), host="127.0.0.2", nil="DEV935997"
    )
    with caplog.at_level(logging.WARNING, logger="mssante_client.mail"):
        composed = mailbox.compose(_message())
    assert not [r for r in caplog.records if "X-MSS-NIL" in r.getMessage()]
    parsed = BytesParser(policy=policy.default).parsebytes(composed.data)
    assert parsed["X-MSS-NIL"] == "DEV935997"
