"""Messages carrying documents (ECO.2.1.x, ECO.2.4.x): compose, then read back."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser

import pytest

from mssante_client.document import (
    Document,
    Encounter,
    HealthProfessional,
    Organization,
    Patient,
    ServiceEvent,
    Sex,
    facility_type,
    practice_setting,
    specialty,
)
from mssante_client.errors import MessageError
from mssante_client.identity import INS, IdNatPS, generate_finess, generate_rpps
from mssante_client.mail import Attachment, Message, Sender, parse_received

PARIS = timezone(timedelta(hours=1))
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
MINI_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PATIENT_INS = INS.from_matricule("2790351215189", oid=INS.OID_TEST_NIR, qualified=True)


def make_patient(ins: INS | None = PATIENT_INS, name: str = "PAT-TROIS") -> Patient:
    return Patient(
        ins=ins,
        birth_family_name=name,
        given_names=("DOMINIQUE",),
        birth_date=date(1979, 3, 28),
        sex=Sex.F,
        birthplace_insee="51215",
    )


def make_document(
    patient: Patient | None = None, *, kind: str = "11490-0", text: bool = False
) -> Document:
    custodian = Organization(id=next(generate_finess(1, seed=3)).id_nat_struct, name="CH Test")
    author = HealthProfessional(
        id=IdNatPS.from_rpps(next(generate_rpps(1, seed=7))),
        family_name="DUMAS",
        given_name="Olivier",
        prefix="M",
        specialty=specialty("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
        organization=custodian,
        practice_setting=practice_setting("ETABLISSEMENT", "Établissement de santé"),
    )
    header: dict[str, object] = {
        "type": kind,
        "patient": patient or make_patient(),
        "author": author,
        "custodian": custodian,
        "encounter": Encounter(
            facility_type=facility_type("SA01", "Etablissement Public de santé"),
            facility_id=custodian.id,
            facility_name="CH Test",
            start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
            end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
        ),
        "service_event": ServiceEvent(
            start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
            end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
        ),
        "effective_time": datetime(2024, 5, 6, 12, 30, tzinfo=PARIS),
    }
    if text:
        return Document.from_text("Compte rendu en texte", **header)
    return Document.from_pdf(MINI_PDF, **header)


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(data)


def message(**kw: object) -> Message:
    base: dict[str, object] = {
        "sender": Sender.person(JEAN, first_name="Jean", last_name="Dupont", title="Dr"),
        "to": [HELENE],
        "body": "Veuillez trouver le compte rendu.",
        "message_id": "<doc1@medecin.mssante.test>",
    }
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


def test_package_pdf_headers_and_subject() -> None:
    doc = make_document()
    composed = message(documents=[doc], attachments=[Attachment("x.txt", b"hi")]).compose(
        now=NOW, nil="DEV935997"
    )
    msg = parse(composed.data)
    names = [(p.get_filename(), p.get_content_type()) for p in msg.iter_attachments()]
    assert names[0] == ("IHE_XDM.ZIP", "application/zip")
    assert names[1][1] == "application/pdf"
    assert names[1][0].startswith("20240502_") and names[1][0].endswith("_PAT-TROIS_DOMINIQUE.pdf")
    assert names[2] == ("x.txt", "text/plain")
    xdm = next(iter(msg.iter_attachments()))
    assert xdm["Content-Transfer-Encoding"] == "base64"
    with zipfile.ZipFile(io.BytesIO(xdm.get_content())) as archive:
        assert any(n.upper().endswith("METADATA.XML") for n in archive.namelist())
    assert msg["X-MSS-CODECDA"] == "11490-0"
    assert msg["X-MSS-INS"] == "O"
    assert msg["X-MSS-NIL"] == "DEV935997"
    assert str(msg["Subject"]).startswith("XDM/1.0/DDM+")
    assert str(msg["Subject"]).endswith("PAT-TROIS DOMINIQUE 28/03/1979")


def test_explicit_subject_kept() -> None:
    composed = message(documents=[make_document()], subject="Mon sujet").compose(now=NOW)
    assert parse(composed.data)["Subject"] == "Mon sujet"


def test_several_documents_one_codecda_header() -> None:
    docs = [make_document(), make_document(kind="11488-4")]
    msg = parse(message(documents=docs).compose(now=NOW).data)
    assert msg.get_all("X-MSS-CODECDA") == ["11490-0, 11488-4"]
    assert "2 documents" in str(msg["Subject"])
    assert len(list(msg.iter_attachments())) == 3  # zip + 2 PDFs


def test_documents_of_two_patients_refused() -> None:
    other_ins = INS.from_matricule("1850275123456", oid=INS.OID_TEST_NIR, qualified=True)
    other = make_patient(other_ins, "AUTRE")
    with pytest.raises(MessageError) as err:
        message(documents=[make_document(), make_document(other)])
    assert "one patient" in str(err.value)


def test_documents_to_two_patients_refused() -> None:
    second = INS.from_matricule("1850275123456", qualified=True)
    with pytest.raises(MessageError):
        message(to=[], patients=[PATIENT_INS, second], documents=[make_document()])


def test_patient_recipient_must_be_the_documents_patient() -> None:
    other = INS.from_matricule("1850275123456", qualified=True)
    with pytest.raises(MessageError):
        message(to=[], patients=[other], documents=[make_document()])
    ok = message(to=[], patients=[PATIENT_INS], documents=[make_document()])
    assert ok.compose(now=NOW).recipients == (f"{PATIENT_INS.value}@patient.mssante.fr",)


def test_document_without_pdf_companion() -> None:
    doc = make_document(text=True)
    with pytest.raises(MessageError) as err:
        message(documents=[doc]).compose(now=NOW)
    assert "ECO.2.1.1" in str(err.value)
    relaxed = message(documents=[doc], require_companion_pdf=False).compose(now=NOW)
    assert [p.get_filename() for p in parse(relaxed.data).iter_attachments()] == ["IHE_XDM.ZIP"]


def test_round_trip_reads_documents_and_xmss() -> None:
    composed = message(documents=[make_document()], read_receipt=True).compose(
        now=NOW, nil="DEV935997"
    )
    received = parse_received(composed.data, uid=7, flags=["\\Seen"])
    assert received.uid == 7
    assert received.flags == ("\\Seen",)
    assert len(received.documents) == 1
    assert received.documents[0].header.code.code == "11490-0"
    assert received.documents[0].patient.ins == PATIENT_INS or (
        received.documents[0].patient.ins is not None
        and received.documents[0].patient.ins.value == PATIENT_INS.value
    )
    assert not [f for f in received.findings if f.severity == "error"]
    assert received.xmss.codecda == ("11490-0",)
    assert received.xmss.ins is True
    assert received.xmss.nil == "DEV935997"
    assert received.display_subject.endswith("PAT-TROIS DOMINIQUE 28/03/1979")
    assert not received.display_subject.startswith("XDM/")
    assert received.wants_mdn
    xdm = received.attachments[0]
    assert xdm.is_xdm
    assert xdm.size == len(xdm.content)
    assert PATIENT_INS.value not in repr(received)


def test_integration_error_mail_without_dnt() -> None:
    from mssante_client.mail.reports import build_integration_error_mail

    original = message(documents=[make_document()]).compose(now=NOW)
    received = parse_received(original.data)
    assert not received.wants_mdn
    notice = build_integration_error_mail(
        received, reporting_mailbox="dpi.cardio@hopital.mssante.test", error=902, now=NOW
    )
    assert notice.mail_from == "dpi.cardio@hopital.mssante.test"
    assert notice.recipients == (JEAN,)
    back = parse_received(notice.data)
    assert back.subject.startswith("[KO Intégration système !][902] XDM/1.0/DDM+")
    assert back.in_reply_to == "<doc1@medecin.mssante.test>"
    assert back.text is not None and "Identifiant de patient inconnu" in back.text
    kinds = [(a.filename, a.media_type) for a in back.attachments]
    assert kinds[0] == ("message_original.eml", "message/rfc822")
    assert ("IHE_XDM.ZIP", "application/zip") in kinds
    assert any(t == "application/pdf" for _, t in kinds)
    assert len(back.documents) == 1  # the package is attached again, still readable
    assert back.attachments[0].content.replace(b"\r\n", b"\n") == original.data.replace(
        b"\r\n", b"\n"
    )


def test_package_lists_visible_recipients_only() -> None:
    hidden = "secretariat.cardio@hopital.mssante.test"
    composed = message(documents=[make_document()], bcc=[hidden]).compose(now=NOW)
    xdm = next(iter(parse(composed.data).iter_attachments())).get_content()
    with zipfile.ZipFile(io.BytesIO(xdm)) as archive:
        name = next(n for n in archive.namelist() if n.upper().endswith("METADATA.XML"))
        metadata = archive.read(name)
    assert HELENE.encode() in metadata
    assert hidden.encode() not in metadata
    assert hidden in composed.recipients
