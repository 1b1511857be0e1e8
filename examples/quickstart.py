"""Quickstart: the whole MSSanté round trip against the local sandbox operator.

1. Find a colleague in the directory (LDAP over StartTLS, accent-insensitive name + city).
2. Check her domain is on the liste blanche.
3. Build a lettre de liaison (LDL-SES): a level-1 CDA R2 around a PDF.
4. Send it from Dr Jean DUPONT's mailbox, authenticated by his PKCS#12 client certificate
   (SASL EXTERNAL), as IHE_XDM.ZIP + companion PDF with the X-MSS headers, asking for a
   delivery status notification and a read receipt.
5. Read it back from the colleague's mailbox (OAuth2 bearer token, asked for on each connect):
   the X-MSS headers, the documents — identical to what was sent — and a read receipt in return.
6. Back in Jean's mailbox, the read receipt (MDN) is tied to the message he sent.

    mssante sandbox start            # or: bash scripts/quickstart.sh
    python examples/quickstart.py

The sandbox root comes from ``$MSSANTE_SANDBOX_ROOT`` (default ``~/.cache/mssante/sandbox``).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime

from mssante_client import (
    INS,
    ClientCertificate,
    Directory,
    Document,
    DsnOptions,
    LDAPDirectory,
    Mailbox,
    Message,
    MssanteError,
    OAuth2Token,
    Sender,
    Whitelist,
    build_mdn,
)
from mssante_client.document import (
    Encounter,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    ServiceEvent,
    Sex,
    facility_type,
    practice_setting,
    specialty,
)
from mssante_client.identity import FINESS, RPPS, IdNatPS, IdNatStruct
from mssante_client.mail import DeliveryReport, DispositionReport
from mssante_client.sandbox import Sandbox, SandboxInfo

JEAN = "jean.dupont@medecin.mssante.test"
NIL = "DEV935997"  # the product reference from the software declaration (X-MSS-NIL, ECO.2.4.3)
LETTER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def step(title: str) -> None:
    print(f"\n== {title}")


def find_colleague(info: SandboxInfo) -> str:
    step("1. Directory: Hélène LEFÈBVRE in Saint-Étienne (typed without accents)")
    backend = LDAPDirectory(info.ldap_uri, base_dn=f"ou=bal,{info.ldap_base}", ca_file=info.ca_file)
    known = {a.address for a in info.accounts}
    with Directory(backend) as directory:
        page = directory.search(
            family_name="lefebvre", given_name="helene", city="saint etienne", limit=50
        )
    print(f"   {len(page.results)} match(es)")
    for entry in page.results:
        for mailbox in entry.mailboxes:
            # The sandbox's synthetic entries have no real mail account: take the one that does.
            if str(mailbox.address) in known:
                print(f"   -> {entry.display_name}: {mailbox.address} ({mailbox.type})")
                return str(mailbox.address)
    raise SystemExit("the colleague was not found in the directory")


def lettre_de_liaison() -> Document:
    step("3. Document: a lettre de liaison de sortie (LDL-SES), level-1 CDA around a PDF")
    finess = FINESS("690999990")
    hospital = Organization(
        id=InstanceId(root=IdNatStruct.OID, extension=str(finess.id_nat_struct)), name="CH TEST"
    )
    author = HealthProfessional(
        id=InstanceId(root=IdNatPS.OID, extension=str(RPPS("10001234565").id_nat_ps)),
        family_name="DUPONT",
        given_name="Jean",
        prefix="M",
        specialty=specialty("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
        organization=hospital,
        practice_setting=practice_setting("ETABLISSEMENT", "Établissement de santé"),
    )
    patient = Patient(
        ins=INS.from_matricule("2850775123456", oid=INS.OID_TEST_NIR, qualified=True),
        birth_family_name="TEST",
        given_names=("CAMILLE",),
        birth_date=date(1985, 7, 14),
        sex=Sex.F,
        birthplace_insee="75056",
    )
    start, end = datetime(2026, 11, 23, 9, tzinfo=UTC), datetime(2026, 11, 28, 11, tzinfo=UTC)
    document = Document.from_pdf(
        LETTER_PDF,
        type="LDL-SES",
        patient=patient,
        author=author,
        custodian=hospital,
        encounter=Encounter(
            facility_type=facility_type("SA01", "Etablissement Public de santé"),
            facility_id=hospital.id,
            facility_name="CH TEST",
            start=start,
            end=end,
        ),
        service_event=ServiceEvent(start=start, end=end),
    )
    print(f"   {document.type.code} {document.title!r}, {len(document.to_xml())} bytes of CDA")
    return document


def main() -> int:
    info = Sandbox().status()
    if info is None:
        print("no running sandbox: run `mssante sandbox start` first", file=sys.stderr)
        return 2
    try:
        colleague = find_colleague(info)

        step("2. Liste blanche")
        whitelist = Whitelist.fetch(info.whitelist_url, ca_file=info.ca_file)
        print(f"   {colleague.split('@')[1]} trusted: {whitelist.is_trusted(colleague)}")

        document = lettre_de_liaison()

        step("4. Send from Jean's mailbox (PKCS#12 certificate, SASL EXTERNAL)")
        jean = info.account(JEAN)
        assert jean.p12_file is not None and jean.p12_password is not None
        certificate = ClientCertificate.from_pkcs12(jean.p12_file, jean.p12_password)
        message = Message(
            sender=Sender.person(
                JEAN, first_name="Jean", last_name="Dupont", title="Dr", entity="CH TEST"
            ),
            to=[colleague],
            body="Chère consœur,\n\nvoici la lettre de liaison de sortie de notre patiente.\n",
            documents=[document],
            dsn=DsnOptions.parse("success,failure"),
            read_receipt=True,
        )
        with Mailbox(
            JEAN,
            certificate,
            host=info.host,
            smtp_port=info.submission_port,
            imap_port=info.imap_port,
            ca_file=info.ca_file,
            nil=NIL,
            trust_policy=whitelist,
        ) as outbox:
            state = outbox.fetch_new().state  # what is already there is not news
            result = outbox.send(message)
            for r in result.recipients:
                print(f"   {r.address}: {'accepted' if r.accepted else 'refused'} ({r.code})")
            sent_id = result.message_id

            step("5. Read it back from the colleague's mailbox (OAuth2 bearer token)")
            control = Sandbox(info.root, port_base=info.port_base)
            token = OAuth2Token(lambda: control.mint_token(colleague))
            with Mailbox(
                colleague,
                token,
                host=info.host,
                smtp_port=info.submission_port,
                imap_port=info.imap_port,
                ca_file=info.ca_file,
                nil=NIL,
            ) as inbox:
                received = None
                deadline = time.monotonic() + 30
                while received is None and time.monotonic() < deadline:
                    for candidate in inbox.fetch_new().messages:
                        if candidate.message_id == sent_id:
                            received = candidate
                    if received is None:
                        inbox.idle(timeout=5)
                if received is None:
                    raise SystemExit("the message did not arrive")
                print(f"   subject: {received.display_subject}")
                ins = {True: "O", False: "N", None: "absent"}[received.xmss.ins]
                print(
                    f"   X-MSS-CODECDA: {', '.join(received.xmss.codecda)}  X-MSS-INS: {ins}"
                    f"  X-MSS-NIL: {received.xmss.nil}"
                )
                same = [d.to_xml() for d in received.documents] == [document.to_xml()]
                print(
                    f"   {len(received.documents)} document(s), identical to the sent one: {same}"
                )
                if not same:
                    return 1
                mdn = build_mdn(received, reporting_mailbox=colleague, nil=NIL)
                inbox.send(mdn)
                print("   read receipt (MDN) sent")

            step("6. Jean's inbox: delivery report and read receipt")
            deadline = time.monotonic() + 30
            found_mdn = False
            while not found_mdn and time.monotonic() < deadline:
                synced = outbox.fetch_new(state=state)
                state = synced.state
                for m in synced.messages:
                    if isinstance(m.report, DispositionReport) and m.report.disposition:
                        tied = m.report.original_message_id == sent_id
                        d = m.report.disposition
                        print(
                            f"   MDN: {d.type} ({d.action_mode}), tied to the sent message: {tied}"
                        )
                        found_mdn = found_mdn or tied
                    elif isinstance(m.report, DeliveryReport):
                        actions = ", ".join(f"{r.action.value}" for r in m.report.recipients)
                        print(f"   DSN: {actions}")
                if not found_mdn:
                    outbox.idle(timeout=5)
            if not found_mdn:
                raise SystemExit("no read receipt came back")
    except MssanteError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print("\nquickstart: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
