"""Parsing received messages: fields, bodies, attachments, robustness against malformed mail."""

from __future__ import annotations

import base64
import contextlib
import io
import zipfile
from datetime import UTC, datetime

import pytest

from mssante_client.errors import InvalidInputError, MessageError
from mssante_client.mail import MailAddress, build_mdn, parse_received

CRLF = b"\r\n"


def mail(*lines: str, body: str = "Bonjour\n") -> bytes:
    head = "\r\n".join(lines)
    return (head + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8", "surrogateescape")


def test_basic_fields() -> None:
    raw = mail(
        'From: "Dr_Marie_MARTIN_Cabinet" <marie.martin@medecin.mssante.test>',
        "To: a@hopital.mssante.test, B <b@hopital.mssante.test>",
        "Cc: c@hopital.mssante.test",
        "Reply-To: secretariat@hopital.mssante.test",
        "Subject: =?utf-8?q?R=C3=A9sultats?=",
        "Date: Mon, 19 Feb 2024 23:01:00 +0100",
        "Message-ID: <m@medecin.mssante.test>",
        "In-Reply-To: <p@hopital.mssante.test>",
        "References: <o@hopital.mssante.test>\r\n <p@hopital.mssante.test>",
        "X-MSS-NIL: DEV1",
        "X-MSS-CODECDA: 11488-4, 34112-3",
        "X-MSS-INS: N",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: 8bit",
    )
    raw = raw.replace(b"Bonjour", "Été".encode("latin-1"))
    received = parse_received(raw, uid=42)
    assert received.sender is not None
    assert received.sender.address == "marie.martin@medecin.mssante.test"
    assert received.sender.display_name == "Dr_Marie_MARTIN_Cabinet"
    assert [a.address for a in received.to] == ["a@hopital.mssante.test", "b@hopital.mssante.test"]
    assert received.to[1].display_name == "B"
    assert [a.address for a in received.cc] == ["c@hopital.mssante.test"]
    assert len(received.recipients) == 3
    assert received.reply_address is not None
    assert received.reply_address.address == "secretariat@hopital.mssante.test"
    assert received.subject == "Résultats"
    assert received.display_subject == "Résultats"
    assert received.date == datetime(2024, 2, 19, 22, 1, tzinfo=UTC)
    assert received.message_id == "<m@medecin.mssante.test>"
    assert received.in_reply_to == "<p@hopital.mssante.test>"
    assert received.references == ("<o@hopital.mssante.test>", "<p@hopital.mssante.test>")
    assert received.text == "Été\n"
    assert received.html is None
    assert received.xmss.codecda == ("11488-4", "34112-3")
    assert received.xmss.ins is False
    assert received.xmss.nil == "DEV1"
    assert not received.from_patient
    assert not received.wants_mdn
    assert not received.is_report
    assert received.defects == ()
    assert received.size == len(raw)
    assert received.header("x-mss-nil") == "DEV1"


def test_from_patient_and_end_of_exchange_masked_repr() -> None:
    raw = mail(
        "From: 279035121518989@patient.mssante.test",
        "To: jean.dupont@medecin.mssante.test",
        "Subject: Question",
        "X-MSS-MES: FIN",
    )
    received = parse_received(raw)
    assert received.from_patient
    assert received.xmss.end_of_exchange
    assert "279035121518989" not in repr(received)
    assert "279035121518989" not in repr(received.sender)


def test_ddm_prefix_hidden_for_display() -> None:
    received = parse_received(mail("Subject: XDM/1.0/DDM+CR BIOLOGIE DUPONT JEAN 01/01/1970"))
    assert received.display_subject == "CR BIOLOGIE DUPONT JEAN 01/01/1970"


def test_multipart_alternative_and_attachments_lazy() -> None:
    pdf = b"%PDF-1.4 hello"
    raw = mail(
        "From: a@medecin.mssante.test",
        'Content-Type: multipart/mixed; boundary="X"',
        body=(
            "--X\n"
            'Content-Type: multipart/alternative; boundary="Y"\n\n'
            "--Y\nContent-Type: text/plain; charset=utf-8\n\ntexte\n"
            "--Y\nContent-Type: text/html; charset=utf-8\n\n<p>html</p>\n"
            "--Y--\n"
            "--X\n"
            "Content-Type: application/pdf\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\n"
            f"{base64.b64encode(pdf).decode()}\n"
            "--X\n"
            'Content-Type: application/octet-stream; name="../../etc/passwd"\n'
            "Content-Transfer-Encoding: base64\n\n"
            "AAEC\n"
            "--X--\n"
        ),
    )
    received = parse_received(raw)
    assert received.text == "texte"  # the CRLF before a boundary belongs to it
    assert received.html == "<p>html</p>"
    names = [(a.filename, a.media_type, a.size) for a in received.attachments]
    assert names == [
        ("résumé.pdf", "application/pdf", len(pdf)),
        ("passwd", "application/octet-stream", 3),  # path stripped
    ]
    assert received.attachments[0].content == pdf


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage without headers",
        b"\x00\x01\x02\xff\xfe",
        b"From: <<<>>>\r\nTo: ,,,@@@\r\nDate: yesterday\r\nSubject: =?x-unknown?q?abc?=\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nno end',
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla\xff",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\r\n\r\n"
        b"--z\r\nContent-Type: message/delivery-status\r\n\r\n\r\n--z--",
        b"Message-ID: <a@b>\r\nMessage-ID: <c@d>\r\n\r\n",
    ],
)
def test_malformed_never_crashes(raw: bytes) -> None:
    received = parse_received(raw)
    assert received.raw == raw
    assert isinstance(received.defects, tuple)


def test_defects_recorded() -> None:
    received = parse_received(
        b"From: x@y.fr\r\nDate: not a date\r\nContent-Type: multipart/mixed\r\n\r\nbody"
    )
    assert received.date is None
    assert any("Date" in d for d in received.defects)
    assert any("Boundary" in d or "multipart" in d.lower() for d in received.defects)


def test_unknown_charset_falls_back() -> None:
    received = parse_received(b"Content-Type: text/plain; charset=x-klingon\r\n\r\nabc\r\n")
    assert received.text == "abc\n"
    assert any("charset" in d for d in received.defects)


def test_deep_nesting_is_bounded() -> None:
    depth = 60
    head = "".join(
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
        for i in range(depth)
    )
    tail = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    raw = (
        f'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n{head}'
        f"--b{depth}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b{depth}--\r\n{tail}"
    ).encode()
    received = parse_received(raw)
    assert any("too deep" in d for d in received.defects)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_xdm(archive: bytes) -> bytes:
    return mail(
        "From: a@medecin.mssante.test",
        'Content-Type: multipart/mixed; boundary="X"',
        body=(
            "--X\nContent-Type: text/plain\n\nvoir PJ\n"
            "--X\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="IHE_XDM.ZIP"\n\n'
            f"{base64.encodebytes(archive).decode()}"
            "--X--\n"
        ),
    )


@pytest.mark.parametrize(
    "archive",
    [
        _zip({"../../evil.txt": b"x", "IHE_XDM/SUBSET01/METADATA.XML": b"<x/>"}),
        b"PK\x03\x04 this is not a zip",
        _zip({"IHE_XDM/SUBSET01/METADATA.XML": b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'}),
    ],
    ids=["zip-slip", "not-a-zip", "xxe"],
)
def test_hostile_xdm_becomes_error_finding(archive: bytes) -> None:
    received = parse_received(_with_xdm(archive))
    assert received.text == "voir PJ"
    assert received.documents == ()
    errors = [f for f in received.findings if f.severity == "error"]
    assert errors, received.findings
    assert errors[0].entry == "IHE_XDM.ZIP"
    assert errors[0].code in {"UnsafeArchiveError", "ArchiveError", "XMLError"}


def test_non_xdm_zip_is_not_read_as_package() -> None:
    raw = _with_xdm(_zip({"a.txt": b"x"})).replace(b"IHE_XDM.ZIP", b"photos.zip")
    received = parse_received(raw)
    assert received.findings == ()
    assert received.attachments[0].filename == "photos.zip"


def test_sender_ins_for_patients_only() -> None:
    patient = parse_received(mail("From: 279035121518989@patient.mssante.test", "Subject: Q"))
    assert patient.sender_ins is not None
    assert patient.sender_ins.value == "279035121518989"
    pro = parse_received(mail("From: a@medecin.mssante.test", "Subject: Q"))
    assert pro.sender_ins is None


def test_random_corruption_never_crashes() -> None:
    """Mutate a real multipart message many times: parsing must always return."""
    import random

    from mssante_client.mail import Attachment, Message

    seed_message = Message(
        sender="a@medecin.mssante.test",
        to=["b@hopital.mssante.test"],
        subject="Résultat",
        body="Texte accentué\n",
        html="<p>x</p>",
        attachments=[Attachment("IHE_XDM.ZIP", _zip({"x": b"y"})), Attachment("a.pdf", b"%PDF-")],
        read_receipt=True,
    ).compose()
    rng = random.Random(1234)
    data = seed_message.data
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 40)):
            op = rng.random()
            i = rng.randrange(len(mutated))
            if op < 0.4:
                mutated[i] = rng.randrange(256)
            elif op < 0.7:
                del mutated[i : i + rng.randint(1, 50)]
            else:
                mutated[i:i] = rng.choice([b"\r\n", b"--", b"=?utf-8?q?", b";", b"\x00", b":"])
        received = parse_received(bytes(mutated))
        assert received.raw == bytes(mutated)
        # replying to it either works or says which input is wrong
        with contextlib.suppress(InvalidInputError):
            Message.reply_to(received, sender="b@hopital.mssante.test", body="ok").compose()
        if received.wants_mdn:  # answering a damaged message must not crash either
            try:
                mdn = build_mdn(received, reporting_mailbox="b@hopital.mssante.test", error=902)
            except MessageError:
                continue
            assert parse_received(mdn.data).report is not None


def test_non_bytes_is_a_typed_error() -> None:
    from mssante_client.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        parse_received("text, not bytes")  # type: ignore[arg-type]
    assert err.value.field == "raw"


def test_renamed_xdm_package_is_still_read() -> None:
    raw = _with_xdm(b"PK\x03\x04 broken").replace(b"IHE_XDM.ZIP", b"IHE_XDM (1).zip")
    received = parse_received(raw)
    assert received.attachments[0].is_xdm
    assert received.findings[0].entry == "IHE_XDM (1).zip"


def test_encoded_display_name_with_comma_and_raw_utf8_header() -> None:
    raw = (
        b"From: =?utf-8?q?Dupont=2C_J=C3=A9r=C3=B4me?= <jerome@medecin.mssante.test>\r\n"
        b'To: "Martin, Anne" <anne@hopital.mssante.test>, b@hopital.mssante.test\r\n'
        b"Subject: R\xc3\xa9sultat brut\r\n\r\nx\r\n"
    )
    received = parse_received(raw)
    assert received.sender == MailAddress("jerome@medecin.mssante.test", "Dupont, Jérôme")
    assert [a.display_name for a in received.to] == ["Martin, Anne", ""]
    assert received.subject == "Résultat brut"
