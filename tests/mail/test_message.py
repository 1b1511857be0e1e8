"""Message composition (pure): headers, MIME structure, MSSanté rules, safety."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

import pytest

from mssante_client.errors import AddressError, IdentifierError, MessageError
from mssante_client.identity import INS, MSSanteAddress
from mssante_client.mail import (
    Attachment,
    DsnNotify,
    DsnOptions,
    DsnReturn,
    Message,
    Sender,
    parse_received,
)
from mssante_client.mail.headers import (
    PATIENT_MAX_MESSAGE_SIZE,
    entity_display_name,
    format_codecda,
    parse_codecda,
    parse_ins_flag,
    person_display_name,
    safe_header_value,
)

NOW = datetime(2024, 2, 19, 22, 1, tzinfo=UTC)
JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
ALICE = "alice@hopital.mssante.test"
PATIENT_INS = INS.from_matricule("2800175123456", qualified=True)


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(data)


def simple(**kw: object) -> Message:
    base: dict[str, object] = {
        "sender": Sender.person(JEAN, first_name="Jean", last_name="Dupont", title="Dr"),
        "to": [HELENE],
        "subject": "Compte rendu",
        "body": "Bonjour,\nvoici le compte rendu.\n",
        "message_id": "<m1@medecin.mssante.test>",
    }
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


# --- display names (ECO.2.2.7) ------------------------------------------------------------


def test_person_display_name_rule() -> None:
    assert (
        person_display_name(
            first_name="Marie", last_name="Martin", title="Dr", entity="Cabinet Medical"
        )
        == "Dr_Marie_MARTIN_Cabinet Medical"
    )
    assert person_display_name(first_name="Jean", last_name="Dupont") == "Jean_DUPONT"


def test_person_display_name_refuses_separator_and_injection() -> None:
    with pytest.raises(MessageError):
        person_display_name(first_name="Jean_Paul", last_name="Dupont")
    with pytest.raises(MessageError):
        person_display_name(first_name="Jean", last_name="Dupont\r\nBcc: x@y.fr")
    with pytest.raises(MessageError):
        person_display_name(first_name="", last_name="Dupont")


def test_entity_display_name() -> None:
    assert entity_display_name("  Secrétariat   de cardiologie ") == "Secrétariat de cardiologie"
    with pytest.raises(MessageError):
        entity_display_name("")


def test_from_header_carries_display_name() -> None:
    composed = simple().compose(now=NOW)
    msg = parse(composed.data)
    assert msg["From"].addresses[0].display_name == "Dr_Jean_DUPONT"
    assert msg["From"].addresses[0].addr_spec == JEAN
    org = simple(sender=Sender.entity(ALICE, "Service de cardiologie")).compose(now=NOW)
    assert parse(org.data)["From"].addresses[0].display_name == "Service de cardiologie"


# --- structure and encoding (ECO.2.2.3 / 2.2.4) --------------------------------------------


def test_plain_text_utf8_crlf_and_envelope() -> None:
    composed = simple(body="Résultat: élevé\n", cc=[ALICE]).compose(now=NOW, nil="DEV935997")
    assert b"\r\n" in composed.data
    assert b"\n" not in composed.data.replace(b"\r\n", b"")
    msg = parse(composed.data)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == "Résultat: élevé\n"
    assert composed.mail_from == JEAN
    assert composed.recipients == (HELENE, ALICE)
    assert composed.message_id == "<m1@medecin.mssante.test>"
    assert msg["Message-ID"] == "<m1@medecin.mssante.test>"
    assert msg["X-MSS-NIL"] == "DEV935997"
    assert msg["Date"].datetime == NOW
    assert composed.size == len(composed.data)
    assert all(b < 128 for b in composed.data)  # 7-bit safe: no 8BITMIME needed


def test_html_gives_multipart_alternative() -> None:
    msg = parse(simple(html="<p>Bonjour</p>").compose(now=NOW).data)
    assert msg.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in msg.iter_parts()]
    assert types == ["text/plain", "text/html"]
    for part in msg.iter_parts():
        assert part["MIME-Version"] is None


def test_attachments_mixed_base64_and_sniffed_type() -> None:
    attachments = [
        Attachment("scan.pdf", b"%PDF-1.7 fake"),
        Attachment("photo", b"\x89PNG\r\n\x1a\n...."),
        Attachment("notes.txt", b"plain"),
        Attachment("résumé données.bin", b"\x00\x01"),
    ]
    composed = simple(attachments=attachments).compose(now=NOW)
    msg = parse(composed.data)
    assert msg.get_content_type() == "multipart/mixed"
    found = [(a.get_filename(), a.get_content_type()) for a in msg.iter_attachments()]
    assert found == [
        ("scan.pdf", "application/pdf"),
        ("photo", "image/png"),
        ("notes.txt", "text/plain"),
        ("résumé données.bin", "application/octet-stream"),
    ]
    pdf = next(iter(msg.iter_attachments()))
    assert pdf["Content-Transfer-Encoding"] == "base64"
    assert pdf.get_content() == b"%PDF-1.7 fake"


def test_attachment_from_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "lettre.pdf"
    path.write_bytes(b"%PDF-1.4\n")
    attachment = Attachment.from_path(path)
    assert (attachment.filename, attachment.media_type, attachment.size) == (
        "lettre.pdf",
        "application/pdf",
        9,
    )
    with pytest.raises(MessageError):
        Attachment.from_path(tmp_path / "missing.pdf")


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.pdf", "a\\b.pdf", "x\r\n.pdf", ""])
def test_attachment_name_must_be_plain(name: str) -> None:
    with pytest.raises(MessageError):
        Attachment(name, b"x")


# --- header safety ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\r\nBcc: evil@x.fr", "a\nb", "a\rb", "nul\x00", "esc\x1b[0m"])
def test_subject_injection_refused(value: str) -> None:
    with pytest.raises(MessageError) as err:
        simple(subject=value)
    assert err.value.field == "subject"


def test_safe_header_value_accepts_tab_and_unicode() -> None:
    assert safe_header_value("x", "a\tb é") == "a\tb é"


def test_bad_message_ids_refused() -> None:
    for bad in ["no-brackets@x", "<a@b>\r\nX: y", "<nodomain>"]:
        with pytest.raises(MessageError):
            simple(message_id=bad)
    with pytest.raises(MessageError):
        simple(in_reply_to="<ok@x.fr> <two@x.fr>")


def test_bad_addresses_refused() -> None:
    with pytest.raises(AddressError):
        simple(to=["not an address"])
    with pytest.raises(AddressError):
        simple(to=["a@b.fr\r\nBcc: c@d.fr"])


def test_long_subject_is_folded_not_broken() -> None:
    subject = "Résultat " * 40
    composed = simple(subject=subject).compose(now=NOW)
    assert all(len(line) <= 998 for line in composed.data.split(b"\r\n"))
    assert parse(composed.data)["Subject"] == subject.strip()


# --- recipients, patients (ECO.2.2.6 / 2.2.8) ----------------------------------------------


def test_bcc_in_envelope_not_in_headers() -> None:
    composed = simple(bcc=[ALICE]).compose(now=NOW)
    assert ALICE in composed.recipients
    assert ALICE.encode() not in composed.data
    assert parse(composed.data)["Bcc"] is None


def test_duplicates_removed() -> None:
    composed = simple(to=[HELENE, HELENE], cc=[HELENE]).compose(now=NOW)
    assert composed.recipients == (HELENE,)


def test_no_recipient_refused() -> None:
    with pytest.raises(MessageError) as err:
        simple(to=[])
    assert err.value.field == "recipients"


def test_patient_address_from_qualified_ins() -> None:
    composed = simple(to=[], patients=[PATIENT_INS], patient_domain="patient.mssante.test").compose(
        now=NOW
    )
    address = f"{PATIENT_INS.value}@patient.mssante.test"
    assert composed.recipients == (address,)
    assert parse(composed.data)["To"] == address
    assert PATIENT_INS.value not in repr(composed)  # the INS is patient data


def test_unqualified_ins_refused() -> None:
    with pytest.raises((MessageError, IdentifierError)):
        simple(patients=[INS.from_matricule("2800175123456")])


def test_end_of_exchange_only_to_patients() -> None:
    with pytest.raises(MessageError) as err:
        simple(end_of_exchange=True)
    assert "ECO.2.2.8" in str(err.value)
    msg = parse(simple(to=[], patients=[PATIENT_INS], end_of_exchange=True).compose(now=NOW).data)
    assert msg["X-MSS-MES"] == "FIN"


def test_patient_size_limit_25mb() -> None:
    big = Attachment("big.bin", b"\0" * (PATIENT_MAX_MESSAGE_SIZE // 4 * 3 + 10))
    message = simple(to=[], patients=[PATIENT_INS], attachments=[big])
    with pytest.raises(MessageError) as err:
        message.compose(now=NOW)
    assert err.value.field == "size"
    # towards professionals the limit is the mailbox's, if any
    pro = simple(attachments=[Attachment("a.bin", b"\0" * 5000)])
    assert pro.compose(now=NOW).size > 5000
    with pytest.raises(MessageError):
        pro.compose(now=NOW, max_size=4000)


# --- threading, receipts (ECO.2.2.1 / 2.2.2 / 2.3.x) -------------------------------------------


def test_message_id_on_sender_domain_when_generated() -> None:
    composed = simple(message_id=None).compose(now=NOW)
    assert composed.message_id.endswith("@medecin.mssante.test>")
    other = simple(message_id=None).compose(now=NOW, message_id_domain="dpi.example.fr")
    assert other.message_id.endswith("@dpi.example.fr>")
    assert composed.message_id != simple(message_id=None).compose(now=NOW).message_id


def test_deterministic_with_fixed_id_and_date() -> None:
    a = simple().compose(now=NOW, nil="DEV1")
    b = simple().compose(now=NOW, nil="DEV1")
    assert a.data == b.data


def test_reply_threading() -> None:
    original = simple(
        message_id="<orig@hopital.mssante.test>",
        sender=Sender.entity(ALICE, "Cardiologie"),
        references=["<older@hopital.mssante.test>"],
        in_reply_to="<older@hopital.mssante.test>",
        reply_to_address="secretariat.cardio@hopital.mssante.test",
    ).compose(now=NOW)
    received = parse_received(original.data)
    reply = Message.reply_to(received, sender=HELENE, body="Merci")
    msg = parse(reply.compose(now=NOW).data)
    assert msg["To"] == "secretariat.cardio@hopital.mssante.test"  # Reply-To wins (ECO.2.2.5)
    assert msg["In-Reply-To"] == "<orig@hopital.mssante.test>"
    assert msg["References"] == "<older@hopital.mssante.test> <orig@hopital.mssante.test>"
    assert msg["Subject"] == "Re: Compte rendu"
    again = Message.reply_to(parse_received(reply.compose(now=NOW).data), sender=ALICE, body="x")
    assert again.subject == "Re: Compte rendu"


def test_reply_all_excludes_self() -> None:
    original = simple(to=[HELENE, ALICE]).compose(now=NOW)
    reply = Message.reply_to(
        parse_received(original.data), sender=HELENE, body="ok", reply_all=True
    )
    assert list(map(str, reply.to)) == [JEAN]
    assert list(map(str, reply.cc)) == [ALICE]


def test_reply_to_header_and_read_receipt() -> None:
    msg = parse(simple(reply_to_address=ALICE, read_receipt=True).compose(now=NOW).data)
    assert msg["Reply-To"] == ALICE
    assert msg["Disposition-Notification-To"] == JEAN


def test_dsn_options_to_envelope() -> None:
    composed = simple(dsn=DsnOptions()).compose(now=NOW)
    assert composed.dsn is not None
    assert composed.mail_options() == ["RET=HDRS", "ENVID=m1@medecin.mssante.test"]
    assert composed.rcpt_options() == ["NOTIFY=SUCCESS,FAILURE"]
    assert simple().compose(now=NOW).rcpt_options() == []


def test_dsn_options_parse_and_validate() -> None:
    options = DsnOptions.parse("failure, delay", ret="full", envid="a+b=c")
    assert options.notify == {DsnNotify.FAILURE, DsnNotify.DELAY}
    assert options.ret is DsnReturn.FULL
    assert options.mail_options() == ["RET=FULL", "ENVID=a+2Bb+3Dc"]
    assert options.rcpt_options() == ["NOTIFY=FAILURE,DELAY"]
    with pytest.raises(MessageError):
        DsnOptions.parse("never,success")
    with pytest.raises(MessageError):
        DsnOptions.parse("sometimes")
    assert DsnOptions.parse("never").rcpt_options() == ["NOTIFY=NEVER"]


def test_codecda_format_and_parse() -> None:
    assert format_codecda(["11488-4", "34112-3", "11488-4"]) == "11488-4, 34112-3"
    assert format_codecda([]) is None
    with pytest.raises(MessageError):
        format_codecda(["bad code"])
    assert parse_codecda(["11488-4, 34112-3", "PRESC-BIO"]) == ("11488-4", "34112-3", "PRESC-BIO")
    assert parse_ins_flag("O") is True
    assert parse_ins_flag(" n ") is False
    assert parse_ins_flag("?") is None


def test_nil_validated() -> None:
    with pytest.raises(MessageError):
        simple().compose(now=NOW, nil="DEV 1\r\nX: y")


def test_naive_datetime_refused() -> None:
    with pytest.raises(MessageError):
        simple().compose(now=datetime(2024, 1, 1))


def test_string_sender_is_accepted() -> None:
    message = simple(sender=JEAN)
    assert message.from_.address == MSSanteAddress(JEAN)
    assert message.from_.display_name is None


def test_message_repr_hides_subject_body_and_ins() -> None:
    message = simple(
        subject="XDM/1.0/DDM+CR PAT-TROIS DOMINIQUE 28/03/1979",
        body="Patient PAT-TROIS",
        patients=[PATIENT_INS],
    )
    text = repr(message)
    assert "PAT-TROIS" not in text
    assert PATIENT_INS.value not in text


def test_patient_domain_must_be_a_patient_domain() -> None:
    with pytest.raises(MessageError) as err:
        simple(patients=[PATIENT_INS], patient_domain="evil.example.com")
    assert err.value.field == "patient_domain"


def test_documents_must_be_documents() -> None:
    with pytest.raises(MessageError):
        simple(documents=["not a document"])


def test_deterministic_multipart_boundaries() -> None:
    message = simple(html="<p>x</p>", attachments=[Attachment("a.pdf", b"%PDF-1")])
    first = message.compose(now=NOW, nil="DEV1")
    assert first.data == message.compose(now=NOW, nil="DEV1").data
    other = simple(
        html="<p>x</p>",
        attachments=[Attachment("a.pdf", b"%PDF-1")],
        message_id="<m2@medecin.mssante.test>",
    ).compose(now=NOW, nil="DEV1")
    assert other.data != first.data
    msg = parse(first.data)
    boundaries = {p.get_boundary() for p in msg.walk() if p.is_multipart()}
    assert len(boundaries) == 2
    assert all(b is not None and b.startswith("=_mss_") for b in boundaries)


def test_boundary_never_collides_with_content() -> None:
    probe = simple(html="<p>x</p>").compose(now=NOW)
    boundary = parse(probe.data).get_boundary()
    assert boundary is not None
    # a body that contains exactly the boundary the seed would give
    tricky = simple(html="<p>x</p>", body=f"--{boundary}\n").compose(now=NOW)
    assert parse(tricky.data).get_boundary() != boundary
    assert parse_received(tricky.data).text == f"--{boundary}\n"


def test_size_checked_on_the_final_bytes_too() -> None:
    # 1000 characters, but quoted-printable UTF-8 makes them about 6000 bytes
    message = simple(body="é" * 1000)
    assert message.compose(now=NOW).size > 3000
    with pytest.raises(MessageError) as err:
        message.compose(now=NOW, max_size=3000)
    assert "over the 3000 limit" in str(err.value)


def test_reply_to_a_patient_can_end_the_exchange() -> None:
    raw = (
        b"From: 279035121518989@patient.mssante.test\r\nTo: " + JEAN.encode() + b"\r\n"
        b"Subject: Question\r\nMessage-ID: <q1@patient.mssante.test>\r\n\r\nBonjour\r\n"
    )
    reply = Message.reply_to(parse_received(raw), sender=JEAN, body="Réponse", end_of_exchange=True)
    msg = parse(reply.compose(now=NOW).data)
    assert msg["X-MSS-MES"] == "FIN"
    assert msg["To"] == "279035121518989@patient.mssante.test"
    assert msg["In-Reply-To"] == "<q1@patient.mssante.test>"


def test_reply_skips_foreign_non_rfc_message_ids() -> None:
    raw = (
        b"From: a@hopital.mssante.test\r\nSubject: x\r\n"
        b"Message-ID: <no-domain-id>\r\nReferences: <ok@hopital.mssante.test> <bad>\r\n\r\nx\r\n"
    )
    reply = Message.reply_to(parse_received(raw), sender=JEAN, body="ok")
    assert reply.in_reply_to is None
    assert reply.references == ("<ok@hopital.mssante.test>",)


def test_forwarded_eml_is_attached_as_message_rfc822_not_base64() -> None:
    original = (
        "From: a@b.fr\r\nSubject: é\r\nMessage-ID: <fwd@b.fr>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "héllo\r\n"
    ).encode()
    composed = simple(attachments=[Attachment("fwd.eml", original)]).compose(now=NOW)
    msg = parse(composed.data)
    part = next(iter(msg.iter_attachments()))
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] is None  # 7-bit clean, never base64
    assert all(b < 128 for b in composed.data)
    assert part.get_filename() == "fwd.eml"
    assert part.get_content()["Message-ID"] == "<fwd@b.fr>"
    received = parse_received(composed.data)
    assert received.attachments[0].content.startswith(b"From: a@b.fr\r\n")
    assert parse_received(received.attachments[0].content).text == "héllo\n"
    # only the top level carries MIME-Version
    assert composed.data.count(b"MIME-Version") == 1
    # an ASCII message is embedded byte for byte
    ascii_eml = b"From: a@b.fr\r\nMessage-ID: <x@b.fr>\r\n\r\nhello\r\n"
    exact = simple(attachments=[Attachment("a.eml", ascii_eml)]).compose(now=NOW)
    assert parse_received(exact.data).attachments[0].content == ascii_eml


def test_unwritable_8bit_eml_goes_as_a_plain_file() -> None:
    # 8-bit body without a charset: the stdlib cannot write it back as message/rfc822
    original = "From: a@b.fr\r\nSubject: x\r\n\r\nhéllo\r\n".encode()
    composed = simple(attachments=[Attachment("fwd.eml", original)]).compose(now=NOW)
    (attachment,) = parse_received(composed.data).attachments
    assert (attachment.filename, attachment.media_type) == ("fwd.eml", "application/octet-stream")
    assert attachment.content == original
