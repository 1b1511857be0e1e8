"""The Mailbox facade end to end: a document package to a professional and to a patient."""

from __future__ import annotations

import gc
from datetime import date, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from functools import partial

import pytest
from mailb_support import HELENE, JEAN, NIL, MailboxFactory, delivered, unique, wait_for

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
from mssante_client.identity import IdNatPS, generate_finess, generate_rpps
from mssante_client.mail import Message, Sender
from mssante_client.mail.credentials import OAuth2Mechanism, OAuth2Token, Password
from mssante_client.mail.imap_parse import Envelope
from mssante_client.mail.mailbox import Mailbox
from mssante_client.sandbox import Sandbox, SandboxInfo
from mssante_client.sandbox.accounts import PATIENT_INS

pytestmark = pytest.mark.sandbox

PARIS = timezone(timedelta(hours=1))
MINI_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PATIENT_FAMILY = "MALADE-TEST"
PATIENT_GIVEN = "CAMILLE"


def make_document() -> Document:
    custodian = Organization(id=next(generate_finess(1, seed=5)).id_nat_struct, name="CH Test")
    author = HealthProfessional(
        id=IdNatPS.from_rpps(next(generate_rpps(1, seed=9))),
        family_name="DUPONT",
        given_name="Jean",
        prefix="M",
        specialty=specialty("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
        organization=custodian,
        practice_setting=practice_setting("ETABLISSEMENT", "Établissement de santé"),
    )
    return Document.from_pdf(
        MINI_PDF,
        type="11490-0",
        patient=Patient(
            ins=PATIENT_INS,
            birth_family_name=PATIENT_FAMILY,
            given_names=(PATIENT_GIVEN,),
            birth_date=date(1985, 7, 12),
            sex=Sex.F,
            birthplace_insee="75112",
        ),
        author=author,
        custodian=custodian,
        encounter=Encounter(
            facility_type=facility_type("SA01", "Etablissement Public de santé"),
            facility_id=custodian.id,
            facility_name="CH Test",
            start=datetime(2026, 11, 2, 9, 0, tzinfo=PARIS),
            end=datetime(2026, 11, 6, 11, 0, tzinfo=PARIS),
        ),
        service_event=ServiceEvent(
            start=datetime(2026, 11, 2, 9, 0, tzinfo=PARIS),
            end=datetime(2026, 11, 6, 11, 0, tzinfo=PARIS),
        ),
        effective_time=datetime(2026, 11, 6, 12, 30, tzinfo=PARIS),
    )


def package_message(info: SandboxInfo) -> Message:
    return Message(
        sender=Sender.person(JEAN, first_name="Jean", last_name="Dupont", title="Dr"),
        to=[HELENE],
        patients=[PATIENT_INS],
        patient_domain=info.patient_domain,
        body="Veuillez trouver le compte rendu.",
        documents=[make_document()],
        dossier=unique("D").replace(" ", ""),
    )


def test_document_package_reaches_a_professional_and_the_patient(
    open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo
) -> None:
    sender = open_mailbox(JEAN)
    message = package_message(mssante_sandbox)
    composed = sender.compose(message)
    result = sender.send(composed)
    patient_address = f"{PATIENT_INS.value}@{mssante_sandbox.patient_domain}"
    assert set(result.accepted) == {HELENE, patient_address}

    sent = BytesParser(policy=policy.default).parsebytes(composed.data)
    sent_files = {p.get_filename(): p.get_content() for p in sent.iter_attachments()}
    assert "IHE_XDM.ZIP" in sent_files

    for reader in (open_mailbox(HELENE), open_mailbox(patient_address)):
        [env] = wait_for(partial(_with_id, reader, composed.message_id))
        got = reader.fetch(env.uid)
        assert got.message_id == composed.message_id
        # X-MSS headers (ECO.2.4.1-2.4.3)
        assert got.header("X-MSS-CODECDA") == "11490-0"
        assert got.header("X-MSS-INS") == "O"
        assert got.header("X-MSS-NIL") == NIL
        assert got.xmss.codecda == ("11490-0",)
        # the same files, byte for byte, and the CDA read back
        received_files = {a.filename: a.content for a in got.attachments}
        assert received_files == sent_files
        [doc] = got.documents
        assert doc.payload == MINI_PDF
        assert doc.patient.ins is not None and doc.patient.ins.value == PATIENT_INS.value
        assert doc.type_code.code == "11490-0"
        assert not [f for f in got.findings if f.severity == "error"]


def test_token_is_not_kept_by_the_mailbox(
    open_mailbox: MailboxFactory, mssante_sandbox_control: Sandbox
) -> None:
    issued: list[str] = []

    def provider() -> str:
        issued.append(mssante_sandbox_control.mint_token(JEAN))
        return issued[-1]

    mb = open_mailbox(JEAN, OAuth2Token(provider, OAuth2Mechanism.OAUTHBEARER))
    mb.folders()
    mb.send(Message(sender=JEAN, to=[HELENE], subject=unique("token"), body="x"))
    assert len(issued) == 2  # one per connection (IMAP, SMTP), asked at connect time
    gc.collect()
    reachable = _reachable_strings(mb, exclude=(provider,))
    for token in issued:
        assert not any(token in s for s in reachable)
    # control: the walk does find a token planted where a careless transport would keep it
    mb._smtp.__dict__["leak"] = issued[0]
    assert any(issued[0] in s for s in _reachable_strings(mb, exclude=(provider,)))
    del mb._smtp.__dict__["leak"]
    # and a reconnect asks again (ECO.1.2.7)
    mb.close()
    mb.folders()
    assert len(issued) == 3


def _with_id(reader: Mailbox, message_id: str) -> list[Envelope]:
    return [e for e in reader.envelopes().envelopes if e.message_id == message_id]


def _reachable_strings(root: object, exclude: tuple[object, ...]) -> list[str]:
    """Every str/bytes reachable from ``root`` through object references (skipping ``exclude``)."""
    seen: set[int] = {id(x) for x in exclude}
    stack = [root]
    out: list[str] = []
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            out.append(obj)
            continue
        if isinstance(obj, bytes | bytearray):
            out.append(bytes(obj).decode("latin-1"))
            continue
        if isinstance(obj, type):
            continue
        stack.extend(gc.get_referents(obj))
    return out


def test_repr_and_context_manager(
    open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo
) -> None:
    patient_address = f"{PATIENT_INS.value}@{mssante_sandbox.patient_domain}"
    password = mssante_sandbox.account(patient_address).password
    assert password
    mb = Mailbox(
        patient_address,
        Password(password),
        host=mssante_sandbox.host,
        smtp_port=mssante_sandbox.submission_port,
        imap_port=mssante_sandbox.imap_port,
        ca_file=mssante_sandbox.ca_file,
    )
    text = repr(mb)
    assert PATIENT_INS.value not in text and password not in text
    with mb:
        assert mb.folders()
        assert mb._imap._conn is not None
    assert mb._imap._conn is None and not mb._smtp.connected


def test_a_message_sent_is_received_once(open_mailbox: MailboxFactory) -> None:
    sender = open_mailbox(JEAN)
    reader = open_mailbox(HELENE)
    subject = unique("once")
    sender.send(Message(sender=JEAN, to=[HELENE], subject=subject, body="x"))
    assert len(delivered(reader, subject)) == 1
