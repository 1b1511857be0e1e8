"""Mail-facing helpers: X-MSS-CODECDA, X-MSS-INS, DDM subject, companion PDF and its name."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mssante_client.document import Document, Patient
from mssante_client.document.mssante import (
    DDM_PREFIX,
    companion_pdf,
    companion_pdf_name,
    ddm_subject,
    strip_ddm_prefix,
    x_mss_codecda,
    x_mss_ins,
)
from mssante_client.document.xdm import build_xdm
from mssante_client.document.xdm_read import XDMPackage
from mssante_client.errors import DocumentError
from mssante_client.identity import INS


@pytest.fixture
def ldl(header: dict[str, Any], pdf: bytes) -> Document:
    return Document.from_pdf(pdf, type="LDL-SES", **header)


@pytest.fixture
def bio(header: dict[str, Any], pdf: bytes) -> Document:
    return Document.from_pdf(pdf, type="11502-2", **header)


def test_codecda_one_value_per_cda_in_order(ldl: Document, bio: Document) -> None:
    assert x_mss_codecda([ldl, bio]) == ["11490-0", "11502-2"]
    assert x_mss_codecda(ldl) == ["11490-0"]
    assert x_mss_codecda([]) == []
    package = XDMPackage.read(build_xdm([bio, ldl]))
    assert x_mss_codecda(package) == ["11502-2", "11490-0"]


def test_ins_header(ldl: Document, header: dict[str, Any], patient: Patient, pdf: bytes) -> None:
    assert x_mss_ins([ldl]) == "O"
    assert x_mss_ins([]) is None
    # A received CDA does not say "qualified": the INS root plus the traits decide.
    received = XDMPackage.read(build_xdm([ldl]))
    assert received.documents[0].patient.ins is not None
    assert x_mss_ins(received) == "O"
    # A CDA without INS (local identifier only).
    assert patient.ins is not None
    no_ins = patient.model_copy(update={"ins": None})
    assert x_mss_ins(Document(ldl.header.model_copy(update={"patient": no_ins}), ldl.body)) == "N"
    # Without the identity traits and without the qualified flag: not a qualified INS.
    bare = patient.model_copy(
        update={
            "ins": INS(patient.ins.value, oid=INS.OID_TEST_NIR, qualified=False),
            "birthplace_insee": None,
        }
    )
    doc = Document(ldl.header.model_copy(update={"patient": bare}), ldl.body)
    assert x_mss_ins([ldl, doc]) == "N"


def test_ddm_subject(ldl: Document, bio: Document) -> None:
    subject = ddm_subject([ldl])
    label = ldl.header.code.display_name or ldl.type.display_name
    assert subject == f"XDM/1.0/DDM+{label[:40].rstrip()} PAT-TROIS DOMINIQUE 28/03/1979"
    assert len(subject.split("+", 1)[1].split(" PAT-TROIS")[0]) <= 40
    assert ddm_subject([ldl, bio]) == "XDM/1.0/DDM+2 documents PAT-TROIS DOMINIQUE 28/03/1979"
    assert strip_ddm_prefix(subject) == subject[len(DDM_PREFIX) :]


def test_ddm_subject_refuses_two_patients(
    ldl: Document, header: dict[str, Any], patient: Patient, pdf: bytes
) -> None:
    other = patient.model_copy(update={"birth_family_name": "AUTRE"})
    second = Document.from_pdf(pdf, type="LDL-SES", **{**header, "patient": other})
    with pytest.raises(DocumentError, match="several patients"):
        ddm_subject([ldl, second])
    with pytest.raises(DocumentError):
        ddm_subject([])


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        (
            "XDM/1.0/DDM+CR opératoire DUPONT Jean 01/02/1960",
            "CR opératoire DUPONT Jean 01/02/1960",
        ),
        ("RE: XDM/1.0/DDM+CR DUPONT Jean 01/02/1960", "RE: CR DUPONT Jean 01/02/1960"),
        ("xdm/1.0/ddm+ CR", "CR"),
        ("Bonjour", "Bonjour"),
    ],
)
def test_strip_ddm_prefix(subject: str, shown: str) -> None:
    assert strip_ddm_prefix(subject) == shown


def test_companion_pdf_name(
    ldl: Document, header: dict[str, Any], patient: Patient, pdf: bytes
) -> None:
    name = companion_pdf_name(ldl, dossier="DOS/2024 42")
    date_part, type_part, family, given, dossier = name[:-4].split("_")
    assert name.endswith(".pdf")
    assert date_part == "20240502"  # the act (service event start), not the document date
    assert type_part and len(type_part) <= 40 and " " not in type_part
    assert (family, given, dossier) == ("PAT-TROIS", "DOMINIQUE", "DOS-2024-42")
    accented = patient.model_copy(
        update={"birth_family_name": "Lefèvre d'Ormesson", "given_names": ("Hélène",)}
    )
    doc = Document.from_pdf(pdf, type="LDL-SES", **{**header, "patient": accented})
    name = companion_pdf_name(doc)
    assert name.split("_")[2:] == ["LEFEVRE-D-ORMESSON", "Helene.pdf"]
    assert all(ch.isascii() and ch not in "/\\:*?\"<>| '" for ch in name)


def test_companion_pdf(ldl: Document, header: dict[str, Any], pdf: bytes, kit: Path) -> None:
    assert companion_pdf(ldl) == pdf
    text = Document.from_text("compte rendu", type="LDL-SES", **header)
    assert companion_pdf(text) is None
    structured = Document.read(
        kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA" / "LDL-EES_2022.01.xml"
    )
    assert structured.level == 3 and companion_pdf(structured) is None
    tlm = Document.read(kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA" / "TLM-CR_2022.01.xml")
    embedded = companion_pdf(tlm)
    assert embedded is not None and embedded.startswith(b"%PDF-")


def test_subject_uses_effective_birth_date_format(ldl: Document) -> None:
    assert ldl.header.patient.birth_date is not None
    expected = f"{ldl.header.patient.birth_date:%d/%m/%Y}"
    assert ddm_subject(ldl).endswith(expected)
    assert isinstance(ldl.header.effective_time, datetime)
