"""DSN (RFC 3464) and MDN (RFC 8098) parsing and MDN building, on hand-written fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mssante_client.errors import MessageError
from mssante_client.mail import (
    DeliveryAction,
    DeliveryReport,
    DispositionReport,
    Message,
    Sender,
    build_mdn,
    parse_received,
)
from mssante_client.mail.reports import INTEGRATION_ERRORS, IntegrationError, parse_disposition

EML = Path(__file__).parent / "eml"
NOW = datetime(2024, 2, 20, 0, 0, tzinfo=UTC)
JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"


def load(name: str) -> bytes:
    return (EML / name).read_bytes().replace(b"\n", b"\r\n")


def test_postfix_bounce() -> None:
    received = parse_received(load("dsn_postfix_failed.eml"))
    assert received.is_report
    report = received.report
    assert isinstance(report, DeliveryReport)
    assert report.reporting_mta == "mx.hopital.mssante.test"
    assert report.original_message_id == "<orig-1@medecin.mssante.test>"
    assert report.original_envelope_id == "abc+def@medecin.mssante.test"
    assert report.arrival_date is not None
    (rcpt,) = report.recipients
    assert rcpt.final_recipient == "inconnu@hopital.mssante.test"
    assert rcpt.original_recipient == "inconnu@hopital.mssante.test"
    assert rcpt.action is DeliveryAction.FAILED
    assert rcpt.failed and not rcpt.delivered
    assert rcpt.status == "5.1.1"
    assert rcpt.remote_mta == "lmtp.hopital.mssante.test"
    assert rcpt.diagnostic_code == 'x-unix; unknown user: "inconnu"'
    assert report.failed == (rcpt,)
    assert "could not" in report.text
    # the report parts are not attachments; the returned headers are
    assert [a.media_type for a in received.attachments] == ["text/rfc822-headers"]


def test_rfc3464_example_several_recipients() -> None:
    report = parse_received(load("dsn_rfc3464_mixed.eml")).report
    assert isinstance(report, DeliveryReport)
    assert report.original_message_id == "<199407022110.RAA00001@cs.utk.edu>"
    actions = [(r.final_recipient, r.action) for r in report.recipients]
    assert actions == [
        ("louis@larry.slip.umd.edu", DeliveryAction.FAILED),
        ("km@cs.utk.edu", DeliveryAction.DELAYED),
        ("moore@cs.utk.edu", DeliveryAction.RELAYED),
    ]
    assert report.recipients[0].diagnostic_code == "smtp; 426 connection timed out"
    assert report.recipients[0].last_attempt_date is not None
    assert report.recipients[1].delayed
    assert [r.final_recipient for r in report.delivered] == ["moore@cs.utk.edu"]


def test_rfc8098_displayed() -> None:
    received = parse_received(load("mdn_rfc8098_displayed.eml"))
    report = received.report
    assert isinstance(report, DispositionReport)
    assert report.original_message_id == "<199509192301.23456@example.org>"
    assert report.final_recipient == "Joe_Recipient@example.com"
    assert report.original_recipient == "Joe_Recipient@example.com"
    assert report.reporting_ua == "joes-pc.cs.example.com; Foomail 97.1"
    assert report.disposition is not None
    assert report.disposition.type == "displayed"
    assert report.disposition.action_mode == "manual-action"
    assert report.disposition.sending_mode == "MDN-sent-manually"
    assert not report.is_error
    assert report.integration_error is None


def test_ans_error_legacy_form() -> None:
    received = parse_received(load("mdn_ans_error_902.eml"))
    report = received.report
    assert isinstance(report, DispositionReport)
    assert report.original_message_id == "<20240219230100.23456@chb.mssante.fr>"
    assert report.is_error
    assert report.integration_error == IntegrationError(902, "Identifiant de patient inconnu")
    assert report.disposition is not None
    assert report.disposition.type == "processed"
    assert report.disposition.automatic
    assert report.disposition.modifiers == ("error",)
    assert received.subject.startswith("[KO Intégration système !][902]")
    assert "intégré" in report.text


def test_ans_error_rfc_form() -> None:
    report = parse_received(load("mdn_ans_error_rfc_form.eml")).report
    assert isinstance(report, DispositionReport)
    assert report.integration_error is not None
    assert report.integration_error.code == 904
    assert report.integration_error.label == "Identite INS differente"
    assert report.disposition is not None
    assert report.disposition.modifiers == ("error",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("automatic-action/MDN-sent-automatically; processed", ("processed", ())),
        ("manual-action/MDN-sent-manually; displayed/error", ("displayed", ("error",))),
        ("manual-action / MDN-sent-manually ; Deleted", ("deleted", ())),
    ],
)
def test_parse_disposition(value: str, expected: tuple[str, tuple[str, ...]]) -> None:
    disposition, _ = parse_disposition(value)
    assert disposition is not None
    assert (disposition.type, disposition.modifiers) == expected


def test_parse_disposition_garbage() -> None:
    assert parse_disposition("nonsense") == (None, None)


def test_integration_error_labels() -> None:
    assert set(INTEGRATION_ERRORS) == set(range(900, 907))
    assert IntegrationError.of(903).value == "903^INS non présent dans le document"
    with pytest.raises(MessageError):
        IntegrationError.of(42)
    with pytest.raises(MessageError):
        IntegrationError.of(902, "a^b")


# --- building MDNs (ECO.3.1.6) -----------------------------------------------------------------


def _original(read_receipt: bool = True) -> bytes:
    message = Message(
        sender=Sender.person(JEAN, first_name="Jean", last_name="Dupont"),
        to=[HELENE],
        subject="XDM/1.0/DDM+CR BIOLOGIE PAT-TROIS DOMINIQUE 28/03/1979",
        body="Bonjour",
        read_receipt=read_receipt,
        message_id="<orig-2@medecin.mssante.test>",
    )
    data = message.compose(now=NOW, nil="DEV1").data
    return b"Return-Path: <" + JEAN.encode() + b">\r\n" + data


def test_build_read_receipt_round_trip() -> None:
    received = parse_received(_original())
    assert received.wants_mdn
    assert not received.mdn_needs_confirmation
    mdn = build_mdn(received, reporting_mailbox=HELENE, now=NOW, nil="DEV1")
    assert mdn.mail_from == ""  # null reverse path (RFC 8098)
    assert mdn.recipients == (JEAN,)
    msg = BytesParser(policy=policy.default).parsebytes(mdn.data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "disposition-notification"
    assert [p.get_content_type() for p in msg.iter_parts()] == [
        "text/plain",
        "message/disposition-notification",
        "text/rfc822-headers",
    ]
    assert msg["In-Reply-To"] == "<orig-2@medecin.mssante.test>"
    assert msg["X-MSS-NIL"] == "DEV1"
    back = parse_received(mdn.data)
    report = back.report
    assert isinstance(report, DispositionReport)
    assert report.original_message_id == "<orig-2@medecin.mssante.test>"
    assert report.final_recipient == HELENE
    assert report.disposition is not None
    assert report.disposition.type == "displayed"
    assert report.disposition.action_mode == "manual-action"
    assert not report.is_error
    assert back.subject == received.subject


def test_build_ans_error_mdn_legacy_and_rfc_forms() -> None:
    received = parse_received(_original())
    legacy = build_mdn(
        received,
        reporting_mailbox=HELENE,
        disposition_type="processed",
        mode="automatic",
        error=904,
        now=NOW,
    )
    text = legacy.data.decode("ascii")
    assert (
        "Disposition: automatic-action/MDN-sent-automatically; processed/Error: 904^L'INS" in text
    )
    assert "Error: 904^L'INS transmis ne correspond pas" in text
    back = parse_received(legacy.data)
    assert back.subject.startswith("[KO Intégration système !][904] XDM/1.0/DDM+")
    report = back.report
    assert isinstance(report, DispositionReport)
    assert report.integration_error is not None
    assert report.integration_error.code == 904
    assert report.original_message_id == "<orig-2@medecin.mssante.test>"
    # the whole original comes back so the sender can retry (IGMDN)
    original = [a for a in back.attachments if a.media_type == "message/rfc822"]
    assert len(original) == 1
    assert b"Message-ID: <orig-2@medecin.mssante.test>" in original[0].content

    rfc = build_mdn(received, reporting_mailbox=HELENE, error=902, legacy_error_form=False)
    assert b"; displayed/error\r\n" in rfc.data
    assert b"Error: 902^Identifiant de patient inconnu" in rfc.data


def test_accented_labels_folded_in_machine_part() -> None:
    received = parse_received(_original())
    mdn = build_mdn(received, reporting_mailbox=HELENE, error=903, include_original="none")
    assert b"Error: 903^INS non present dans le document" in mdn.data
    assert len(BytesParser(policy=policy.default).parsebytes(mdn.data).get_payload()) == 2


def test_no_dnt_no_mdn() -> None:
    with pytest.raises(MessageError):
        build_mdn(parse_received(_original(read_receipt=False)), reporting_mailbox=HELENE)


def test_dnt_differs_from_return_path_needs_confirmation() -> None:
    raw = _original().replace(
        b"Return-Path: <" + JEAN.encode() + b">", b"Return-Path: <other@x.mssante.test>"
    )
    assert parse_received(raw).mdn_needs_confirmation


def test_bad_options_refused() -> None:
    received = parse_received(_original())
    with pytest.raises(MessageError):
        build_mdn(received, reporting_mailbox=HELENE, disposition_type="read")
    with pytest.raises(MessageError):
        build_mdn(received, reporting_mailbox=HELENE, mode="sometimes")
    with pytest.raises(MessageError):
        build_mdn(received, reporting_mailbox=HELENE, include_original="all")


def test_report_reprs_mask_patient_addresses() -> None:
    from mssante_client.mail import RecipientStatus

    patient = "279035121518989@patient.mssante.test"
    status = RecipientStatus(patient, DeliveryAction.FAILED, "5.1.1")
    assert "279035121518989" not in repr(status)
    report = DispositionReport(None, patient, "<a@b.fr>", text="Patient PAT-TROIS")
    assert "279035121518989" not in repr(report)
    assert "PAT-TROIS" not in repr(report)


@pytest.mark.parametrize(
    ("name", "action", "status"),
    [
        ("postfix_real_failed.eml", DeliveryAction.FAILED, "5.1.1"),
        ("postfix_real_success.eml", DeliveryAction.RELAYED, "2.0.0"),
    ],
)
def test_real_postfix_dsns_captured_from_the_sandbox(
    name: str, action: DeliveryAction, status: str
) -> None:
    """Byte-for-byte DSNs that the sandbox's Postfix produced (NOTIFY=SUCCESS,FAILURE)."""
    received = parse_received(load(name))
    report = received.report
    assert isinstance(report, DeliveryReport)
    assert report.original_message_id == "<capture-1@medecin.mssante.test>"
    assert report.original_envelope_id == "capture-1@medecin.mssante.test"
    assert report.reporting_mta == "mx.mssante.test"
    (rcpt,) = report.recipients
    assert (rcpt.action, rcpt.status) == (action, status)
    assert received.sender is not None
    assert received.sender.address == "MAILER-DAEMON@mx.mssante.test"
    assert received.return_path == ""  # the null reverse path <>


def test_mdn_echoes_a_non_rfc_message_id_exactly() -> None:
    raw = (
        b"From: " + JEAN.encode() + b"\r\nReturn-Path: <" + JEAN.encode() + b">\r\n"
        b"Disposition-Notification-To: " + JEAN.encode() + b"\r\n"
        b"Message-ID: <legacy-id-without-domain>\r\nSubject: x\r\n\r\nx\r\n"
    )
    mdn = build_mdn(parse_received(raw), reporting_mailbox=HELENE)
    report = parse_received(mdn.data).report
    assert isinstance(report, DispositionReport)
    assert report.original_message_id == "<legacy-id-without-domain>"
    assert b"In-Reply-To" not in mdn.data


def test_mdn_for_an_8bit_original() -> None:
    utf8 = (
        "From: " + JEAN + "\r\nReturn-Path: <" + JEAN + ">\r\n"
        "Disposition-Notification-To: " + JEAN + "\r\nMessage-ID: <8bit@x.fr>\r\n"
        "Subject: x\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nIci apparaît le corps.\r\n"
    ).encode()
    full = build_mdn(parse_received(utf8), reporting_mailbox=HELENE, error=902)
    back = parse_received(full.data)
    assert all(b < 128 for b in full.data)
    original = [a for a in back.attachments if a.media_type == "message/rfc822"]
    assert parse_received(original[0].content).text == "Ici apparaît le corps.\n"
    # no charset: the stdlib cannot rewrite it; the MDN carries the headers instead
    bare = utf8.replace(b"Content-Type: text/plain; charset=UTF-8\r\n", b"")
    headers = build_mdn(parse_received(bare), reporting_mailbox=HELENE, error=902)
    kinds = [a.media_type for a in parse_received(headers.data).attachments]
    assert kinds == ["text/rfc822-headers"]


def test_global_delivery_status_rfc6533() -> None:
    report = parse_received(load("dsn_global_utf8.eml")).report
    assert isinstance(report, DeliveryReport)
    assert report.reporting_mta == "mx.hopital.mssante.test"
    assert report.original_message_id == "<g-1@medecin.mssante.test>"
    assert [(r.final_recipient, r.action) for r in report.recipients] == [
        ("hélène@hopital.mssante.test", DeliveryAction.FAILED),
        ("other@hopital.mssante.test", DeliveryAction.DELAYED),
    ]
    assert report.recipients[1].will_retry_until is not None
