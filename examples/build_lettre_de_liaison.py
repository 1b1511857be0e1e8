"""Build a lettre de liaison de sortie (LDL-SES) as a level-1 CDA and its IHE_XDM.ZIP.

Usage::

    python examples/build_lettre_de_liaison.py OUTDIR [--pdf LETTRE.pdf]

Writes ``OUTDIR/LDL-SES.xml`` (the CDA) and ``OUTDIR/IHE_XDM.ZIP`` (ready to attach to an
MSSanté message). All identities are fictitious test data: a test INS (OID
1.2.250.1.213.1.4.10) and RPPS/FINESS numbers with valid keys. Walk-through: docs/documents.md.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta, timezone
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
from mssante_client.document.xdm import build_xdm
from mssante_client.identity import FINESS, INS, RPPS, IdNatPS

PARIS = timezone(timedelta(hours=2))

# A one-page PDF, enough for a demonstration (use --pdf for a real letter).
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def build(pdf: bytes) -> Document:
    # 1. Who: the patient (qualified INS + identity traits), the hospital, the physician.
    patient = Patient(
        ins=INS("279035121518989", oid=INS.OID_TEST_NIR, qualified=True),
        ipp=InstanceId(root="1.2.3.4.567.8.9.10", extension="1234567890121"),
        birth_family_name="PAT-TROIS",
        given_names=("DOMINIQUE", "MARIE-LOUISE"),
        birth_date=date(1979, 3, 28),
        sex=Sex.F,
        birthplace_insee="51215",
    )
    hospital = Organization(id=FINESS("990000002").id_nat_struct, name="CH de Démonstration")
    physician = HealthProfessional(
        id=IdNatPS.from_rpps(RPPS("10000000009")),
        prefix="M",
        given_name="Olivier",
        family_name="DUMAS",
        suffix="DR",
        specialty=specialty("G15_10/SM26"),  # display name filled from J01
        organization=hospital,
        practice_setting=practice_setting("ETABLISSEMENT"),  # J04
    )
    # 2. Where and when: the stay (J02 facility type) and the documented act.
    stay = Encounter(
        facility_type=facility_type("SA01"),
        facility_id=hospital.id,
        facility_name=hospital.name,
        start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
        end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
    )
    act = ServiceEvent(
        start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
        end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
    )
    # 3. The document: legal authenticator, performer and custodian default sensibly.
    return Document.from_pdf(
        pdf,
        type="LDL-SES",
        title="Lettre de liaison à la sortie",
        patient=patient,
        author=physician,
        custodian=hospital,
        encounter=stay,
        service_event=act,
        effective_time=datetime(2024, 5, 6, 12, 30, tzinfo=PARIS),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--pdf", type=Path, help="PDF letter to embed (default: a demo page)")
    args = parser.parse_args()
    pdf = args.pdf.read_bytes() if args.pdf else DEMO_PDF
    document = build(pdf)
    args.outdir.mkdir(parents=True, exist_ok=True)
    cda = args.outdir / "LDL-SES.xml"
    cda.write_bytes(document.to_xml())
    package = args.outdir / "IHE_XDM.ZIP"
    package.write_bytes(build_xdm([document]))
    print(f"{cda}\n{package}")
    print(f"X-MSS-CODECDA: {document.type_code.code}")


if __name__ == "__main__":
    main()
