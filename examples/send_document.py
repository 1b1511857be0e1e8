"""Send a discharge letter (LDL-SES) to a colleague through the MSSanté sandbox.

Builds a level-1 CDA around a PDF with the Document API, sends it as IHE_XDM.ZIP + companion PDF
with the X-MSS headers, asks for a delivery status notification and a read receipt, and prints
each recipient's result.

    mssante sandbox start
    python examples/send_document.py --to helene.lefebvre@medecin.mssante.test

Options: ``--sandbox-root`` (default: the usual sandbox root), ``--from``, ``--to``, ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from mssante_client.document import (
    Document,
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
from mssante_client.errors import MssanteError
from mssante_client.identity import INS, IdNatPS, IdNatStruct, generate_finess, generate_rpps
from mssante_client.mail import DsnOptions, Message, Password, Sender
from mssante_client.mail.mailbox import Mailbox
from mssante_client.sandbox import Sandbox, SandboxInfo

# A one-page PDF (a real letter would come from the DPI).
LETTER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
# The sandbox patient: a test INS (test OID), qualified.
PATIENT_INS = INS.from_matricule("2850775123456", oid=INS.OID_TEST_NIR, qualified=True)


def discharge_letter() -> Document:
    finess = next(generate_finess(1, seed=11))
    hospital = Organization(
        id=InstanceId(root=IdNatStruct.OID, extension=str(finess.id_nat_struct)), name="CH Test"
    )
    rpps = next(generate_rpps(1, seed=5))
    author = HealthProfessional(
        id=InstanceId(root=IdNatPS.OID, extension=str(IdNatPS.from_rpps(rpps))),
        family_name="DUPONT",
        given_name="Jean",
        prefix="M",
        specialty=specialty("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
        organization=hospital,
        practice_setting=practice_setting("ETABLISSEMENT", "Établissement de santé"),
    )
    patient = Patient(
        ins=PATIENT_INS,
        birth_family_name="TEST",
        given_names=("CAMILLE",),
        birth_date=date(1985, 7, 14),
        sex=Sex.F,
        birthplace_insee="75056",
    )
    stay_start = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    stay_end = datetime(2024, 5, 6, 11, 0, tzinfo=UTC)
    return Document.from_pdf(
        LETTER_PDF,
        type="LDL-SES",
        patient=patient,
        author=author,
        custodian=hospital,
        encounter=Encounter(
            facility_type=facility_type("SA01", "Etablissement Public de santé"),
            facility_id=hospital.id,
            facility_name="CH Test",
            start=stay_start,
            end=stay_end,
        ),
        service_event=ServiceEvent(start=stay_start, end=stay_end),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox-root", type=Path, default=None)
    parser.add_argument("--from", dest="sender", default="jean.dupont@medecin.mssante.test")
    parser.add_argument("--to", action="append", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    recipients = args.to or ["helene.lefebvre@medecin.mssante.test"]

    info: SandboxInfo | None = Sandbox(args.sandbox_root).status()
    if info is None:
        print("no running sandbox: start one with `mssante sandbox start`", file=sys.stderr)
        return 2
    account = info.account(args.sender)
    assert account.password is not None, "sandbox accounts have a test password"

    try:
        message = Message(
            sender=Sender.person(
                args.sender, first_name="Jean", last_name="Dupont", title="Dr", entity="CH Test"
            ),
            to=recipients,
            body="Bonjour,\n\nveuillez trouver la lettre de liaison de sortie.\n",
            documents=[discharge_letter()],
            dsn=DsnOptions.parse("success,failure"),
            read_receipt=True,
        )
        with Mailbox(
            args.sender,
            Password(account.password),
            host=info.host,
            smtp_port=info.submission_port,
            imap_port=info.imap_port,
            ca_file=info.ca_file,
            nil="DEV935997",
        ) as mailbox:
            result = mailbox.send(message)
    except MssanteError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    if args.json:
        print(
            json.dumps(
                {
                    "message_id": result.message_id,
                    "accepted": list(result.accepted),
                    "refused": [
                        {"address": r.address, "code": r.code, "text": r.text}
                        for r in result.refused
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"sent {result.message_id}")
        for r in result.recipients:
            state = "accepted" if r.accepted else "refused"
            print(f"  {r.address}: {state} ({r.code} {r.text})")
    return 0 if not result.refused else 1


if __name__ == "__main__":
    sys.exit(main())
