"""Receipts against the real sandbox (Postfix DSNs, MDN round trips): ECO.2.3.1, 2.3.2, 3.1.6.

Run with e.g. ``MSSANTE_SANDBOX_PORT_BASE=40000 MSSANTE_SANDBOX_ENTRIES=200 pytest tests/mail``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from mssante_client.mail import (
    DeliveryAction,
    DeliveryReport,
    DispositionReport,
    DsnOptions,
    Message,
    Password,
    ReceivedMessage,
    Sender,
    build_mdn,
)
from mssante_client.mail.credentials import ClientCertificate
from mssante_client.mail.mailbox import Mailbox
from mssante_client.mail.sync import SyncState
from mssante_client.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox

JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
DPI = "dpi.cardio@hopital.mssante.test"
UNKNOWN_HOPITAL = "inconnu.absent@hopital.mssante.test"
UNKNOWN_MEDECIN = "inconnu.absent@medecin.mssante.test"
WAIT = 60.0  # upper bound for a local delivery, never asserted on


def open_mailbox(info: SandboxInfo, address: str, *, certificate: bool = False) -> Mailbox:
    account = info.account(address)
    if certificate:
        assert account.cert_file is not None and account.key_file is not None
        credentials: ClientCertificate | Password = ClientCertificate.from_pem(
            account.chain_file or account.cert_file, account.key_file
        )
    else:
        assert account.password is not None
        credentials = Password(account.password)
    return Mailbox(
        address,
        credentials,
        host=info.host,
        smtp_port=info.submission_port,
        imap_port=info.imap_port,
        ca_file=info.ca_file,
        nil="DEV935997",
    )


@pytest.fixture
def jean(mssante_sandbox: SandboxInfo) -> Iterator[Mailbox]:
    with open_mailbox(mssante_sandbox, JEAN) as mailbox:
        yield mailbox


@pytest.fixture
def helene(mssante_sandbox: SandboxInfo) -> Iterator[Mailbox]:
    with open_mailbox(mssante_sandbox, HELENE) as mailbox:
        yield mailbox


def current_state(mailbox: Mailbox) -> SyncState:
    return mailbox.envelopes().state


def wait_for(
    mailbox: Mailbox, state: SyncState, matches: Callable[[ReceivedMessage], bool]
) -> ReceivedMessage:
    """Fetch new messages until one matches (IDLE between polls)."""
    deadline = time.monotonic() + WAIT
    while True:
        synced = mailbox.fetch_new(state=state)
        state = synced.state
        for message in synced.messages:
            if matches(message):
                return message
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail("the expected message did not arrive")
        mailbox.idle(timeout=min(5.0, remaining))


def report_for(
    message_id: str, kind: type[DeliveryReport] | type[DispositionReport]
) -> Callable[[ReceivedMessage], bool]:
    def matches(m: ReceivedMessage) -> bool:
        report = m.report
        return isinstance(report, kind) and report.original_message_id == message_id

    return matches


def test_unknown_recipient_bounce_is_a_failed_report(jean: Mailbox) -> None:
    state = current_state(jean)
    sent = jean.send(
        Message(sender=JEAN, to=[HELENE, UNKNOWN_HOPITAL], subject="Bounce test", body="x")
    )
    # hopital.mssante.test accepts at RCPT time and bounces afterwards
    assert set(sent.accepted) == {HELENE, UNKNOWN_HOPITAL}
    bounce = wait_for(jean, state, report_for(sent.message_id, DeliveryReport))
    report = bounce.report
    assert isinstance(report, DeliveryReport)
    assert [r.final_recipient for r in report.failed] == [UNKNOWN_HOPITAL]
    failed = report.failed[0]
    assert failed.action is DeliveryAction.FAILED
    assert failed.status.startswith("5.")
    assert failed.diagnostic_code
    assert report.reporting_mta
    assert HELENE not in [r.final_recipient for r in report.recipients]


def test_unknown_recipient_refused_at_rcpt(jean: Mailbox) -> None:
    sent = jean.send(Message(sender=JEAN, to=[HELENE, UNKNOWN_MEDECIN], subject="x", body="x"))
    assert sent.accepted == (HELENE,)
    (refused,) = sent.refused
    assert refused.address == UNKNOWN_MEDECIN
    assert refused.code == 550


def test_notify_success_gives_success_dsn(jean: Mailbox, helene: Mailbox) -> None:
    state = current_state(jean)
    sent = jean.send(
        Message(
            sender=JEAN,
            to=[HELENE],
            subject="DSN test",
            body="x",
            dsn=DsnOptions.parse("success,failure"),
        )
    )
    dsn = wait_for(jean, state, report_for(sent.message_id, DeliveryReport))
    report = dsn.report
    assert isinstance(report, DeliveryReport)
    (rcpt,) = report.recipients
    assert rcpt.final_recipient == HELENE
    assert rcpt.action in {DeliveryAction.RELAYED, DeliveryAction.DELIVERED}
    assert rcpt.delivered
    assert rcpt.status.startswith("2.")
    # ENVID set by compose() comes back, tied to the Message-ID
    assert report.original_envelope_id == sent.message_id.strip("<>")


def test_mdn_round_trip(jean: Mailbox, helene: Mailbox) -> None:
    jean_state = current_state(jean)
    helene_state = current_state(helene)
    sent = jean.send(
        Message(
            sender=Sender.person(JEAN, first_name="Jean", last_name="Dupont", title="Dr"),
            to=[HELENE],
            subject="Merci de confirmer la lecture",
            body="Bonjour",
            read_receipt=True,
        )
    )
    received = wait_for(helene, helene_state, lambda m: m.message_id == sent.message_id)
    assert received.wants_mdn
    assert not received.mdn_needs_confirmation  # DNT == Return-Path
    assert received.xmss.nil == "DEV935997"
    mdn = build_mdn(received, reporting_mailbox=HELENE, nil="DEV935997")
    result = helene.send(mdn)
    assert result.accepted == (JEAN,)
    back = wait_for(jean, jean_state, report_for(sent.message_id, DispositionReport))
    report = back.report
    assert isinstance(report, DispositionReport)
    assert report.final_recipient == HELENE
    assert report.disposition is not None
    assert report.disposition.type == "displayed"
    assert not report.is_error


def test_ans_error_mdn_round_trip(mssante_sandbox: SandboxInfo, jean: Mailbox) -> None:
    """An applicative mailbox (certificate) cannot integrate the message: error MDN 902."""
    with open_mailbox(mssante_sandbox, DPI, certificate=True) as dpi:
        dpi_state = current_state(dpi)
        jean_state = current_state(jean)
        sent = jean.send(
            Message(
                sender=JEAN,
                to=[DPI],
                subject="XDM/1.0/DDM+CR BIOLOGIE PAT-TROIS DOMINIQUE 28/03/1979",
                body="Document joint",
                read_receipt=True,
            )
        )
        received = wait_for(dpi, dpi_state, lambda m: m.message_id == sent.message_id)
        mdn = build_mdn(
            received,
            reporting_mailbox=DPI,
            disposition_type="processed",
            mode="automatic",
            error=902,
        )
        assert dpi.send(mdn).accepted == (JEAN,)
    back = wait_for(jean, jean_state, report_for(sent.message_id, DispositionReport))
    assert back.subject.startswith("[KO Intégration système !][902] XDM/1.0/DDM+")
    report = back.report
    assert isinstance(report, DispositionReport)
    assert report.integration_error is not None
    assert report.integration_error.code == 902
    assert report.disposition is not None
    assert report.disposition.automatic
    assert report.disposition.type == "processed"
    # the whole original came back for a manual retry
    assert any(a.media_type == "message/rfc822" for a in back.attachments)
