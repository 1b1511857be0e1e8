"""Building IHE_XDM packages: layout, METADATA.XML content, one patient, round trip, ebRS check."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from mssante_client.document import Code, ConfidentialityFlag, Document, Patient
from mssante_client.document.xdm import Submission, build_xdm, write_xdm
from mssante_client.document.xdm_metadata import (
    DOCUMENT_ENTRY_TYPE,
    HAS_MEMBER,
    RIM,
    SUBMISSION_SET_NODE,
    Scheme,
    parse_metadata,
)
from mssante_client.document.xdm_read import XDMPackage
from mssante_client.errors import AddressError, DocumentError
from mssante_client.identity import INS

META = "IHE_XDM/SUBSET01/METADATA.XML"


def zip_of(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.fixture
def ldl(header: dict[str, Any], pdf: bytes) -> Document:
    return Document.from_pdf(pdf, type="LDL-SES", title="Lettre de liaison", **header)


@pytest.fixture
def bio(header: dict[str, Any], pdf: bytes) -> Document:
    return Document.from_pdf(pdf + b"%bio\n", type="11502-2", **header)


def test_layout_and_exact_hash_and_size(ldl: Document, bio: Document) -> None:
    data = build_xdm([ldl, bio])
    archive = zip_of(data)
    assert sorted(archive.namelist()) == sorted(
        [
            "README.TXT",
            "INDEX.HTM",
            META,
            "IHE_XDM/SUBSET01/DOC0001.XML",
            "IHE_XDM/SUBSET01/DOC0002.XML",
        ]
    )
    metadata = parse_metadata(archive.read(META))
    for number, (doc, entry) in enumerate(zip([ldl, bio], metadata.documents, strict=True), 1):
        stored = archive.read(f"IHE_XDM/SUBSET01/DOC{number:04d}.XML")
        assert stored == doc.to_xml()
        assert entry.uri == f"DOC{number:04d}.XML"
        assert entry.size == len(stored)
        assert entry.hash == hashlib.sha1(stored).hexdigest()
    index = archive.read("INDEX.HTM").decode()
    assert 'href="IHE_XDM/SUBSET01/DOC0001.XML"' in index and 'href="README.TXT"' in index
    etree.fromstring(archive.read("INDEX.HTM"))  # well-formed XHTML
    assert b"mssante_client" in archive.read("README.TXT")
    assert b"DOMINIQUE" not in archive.read("README.TXT")  # no patient data in the readme


def test_document_entry_metadata(ldl: Document, patient: Patient) -> None:
    metadata = parse_metadata(zip_of(build_xdm([ldl])).read(META))
    (entry,) = metadata.documents
    assert entry.mime_type == "text/xml"
    assert entry.unique_id == ldl.header.id.root
    assert entry.title == "Lettre de liaison"
    assert entry.language_code == "fr-FR"
    assert entry.creation_time == "20240506113000"  # 12:30+01:00 in UTC
    assert entry.service_start_time == "20240502080000"
    assert entry.service_stop_time == "20240506100000"
    assert patient.ins is not None
    assert entry.patient_id == f"{patient.ins.value}^^^&{INS.OID_TEST_NIR}&ISO^NH"
    assert entry.source_patient_id == "1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"
    assert entry.source_patient_info == (
        "PID-5|PAT-TROIS^DOMINIQUE^^^^^L",
        "PID-7|19790328",
        "PID-8|F",
    )
    assert entry.type_code is not None and entry.type_code.code == "11490-0"
    assert entry.type_code.scheme == "2.16.840.1.113883.6.1"
    assert entry.class_code is not None and entry.class_code.scheme == "1.2.250.1.213.1.1.4.1"
    assert entry.format_code is not None
    assert (entry.format_code.code, entry.format_code.scheme) == (
        "urn:ihe:iti:xds-sd:pdf:2008",
        "1.3.6.1.4.1.19376.1.2.3",
    )
    assert entry.healthcare_facility_type_code is not None
    assert entry.healthcare_facility_type_code.code == "SA01"
    assert entry.practice_setting_code is not None
    assert entry.practice_setting_code.code == "ETABLISSEMENT"
    assert [c.code for c in entry.confidentiality_codes] == ["N"]
    (author,) = entry.authors
    rpps_id = ldl.header.author.id.extension
    assert author.person == f"{rpps_id}^DUMAS^Olivier^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    org = ldl.header.author.organization
    assert org is not None
    assert author.institutions == (
        f"CH de Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{org.id.extension}",
    )
    assert author.specialties == (
        "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",
    )
    assert entry.legal_authenticator is not None
    assert entry.legal_authenticator.startswith(f"{rpps_id}^DUMAS^")


def test_submission_set_and_association(ldl: Document) -> None:
    submission = Submission(
        source_id="1.2.250.1.999.1",
        submission_time=datetime(2024, 5, 7, 8, 0, tzinfo=UTC),
        content_type_code=Code(
            code="04", code_system="1.2.250.1.213.2.2", display_name="Hospitalisation de jour"
        ),
        title="Envoi",
    )
    data = build_xdm(
        [ldl], submission=submission, intended_recipients=["dr.martin@hopital.mssante.fr"]
    )
    raw = zip_of(data).read(META)
    metadata = parse_metadata(raw)
    ss = metadata.submission_set
    assert ss is not None
    assert ss.source_id == "1.2.250.1.999.1"
    assert ss.submission_time == "20240507080000"
    assert ss.unique_id.startswith("2.25.")
    assert ss.intended_recipients == ("||^^Internet^dr.martin@hopital.mssante.fr",)
    assert ss.content_type_code is not None and ss.content_type_code.code == "04"
    assert ss.patient_id == metadata.documents[0].patient_id
    assert ss.authors[0].person == metadata.documents[0].authors[0].person
    (assoc,) = metadata.associations
    assert (assoc.type, assoc.source, assoc.target, assoc.submission_set_status) == (
        HAS_MEMBER,
        ss.entry_id,
        metadata.documents[0].entry_id,
        "Original",
    )
    root = etree.fromstring(raw)
    node = root.find(f".//{{{RIM}}}Classification[@classificationNode='{SUBMISSION_SET_NODE}']")
    assert node is not None and node.get("classifiedObject") == ss.entry_id
    eo = root.find(f".//{{{RIM}}}ExtrinsicObject")
    assert eo is not None and eo.get("objectType") == DOCUMENT_ENTRY_TYPE
    schemes = {c.get("classificationScheme") for c in eo.findall(f"{{{RIM}}}Classification")}
    assert {
        Scheme.DE_AUTHOR,
        Scheme.DE_CLASS_CODE,
        Scheme.DE_CONFIDENTIALITY,
        Scheme.DE_FORMAT_CODE,
        Scheme.DE_FACILITY_TYPE,
        Scheme.DE_PRACTICE_SETTING,
        Scheme.DE_TYPE_CODE,
    } <= schemes
    ids = {e.get("identificationScheme") for e in eo.findall(f"{{{RIM}}}ExternalIdentifier")}
    assert ids == {Scheme.DE_PATIENT_ID, Scheme.DE_UNIQUE_ID}


def test_masking_flags_are_metadata_only(header: dict[str, Any], pdf: bytes) -> None:
    doc = Document.from_pdf(
        pdf, type="LDL-SES", confidentiality_flags=[ConfidentialityFlag.MASQUE_PS], **header
    )
    data = build_xdm(
        [doc], submission=Submission(confidentiality_flags=(ConfidentialityFlag.INVISIBLE_PATIENT,))
    )
    (entry,) = parse_metadata(zip_of(data).read(META)).documents
    assert [(c.code, c.scheme) for c in entry.confidentiality_codes] == [
        ("N", "2.16.840.1.113883.5.25"),
        ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13"),
        ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
    ]
    assert b"MASQUE_PS" not in zip_of(data).read("IHE_XDM/SUBSET01/DOC0001.XML")


def test_documents_of_two_patients_are_refused(
    ldl: Document, header: dict[str, Any], patient: Patient, pdf: bytes, tmp_path: Path
) -> None:
    other = patient.model_copy(
        update={"ins": INS.from_matricule("1840775123456", oid=INS.OID_TEST_NIR, qualified=True)}
    )
    second = Document.from_pdf(pdf, type="LDL-SES", **{**header, "patient": other})
    with pytest.raises(DocumentError, match="one patient"):
        build_xdm([ldl, second])
    target = tmp_path / "IHE_XDM.ZIP"
    with pytest.raises(DocumentError):
        write_xdm(target, [ldl, second])
    assert not target.exists()  # nothing written half-way
    with pytest.raises(DocumentError, match="at least one"):
        build_xdm([])


def test_bad_recipient_fails_before_writing(ldl: Document, tmp_path: Path) -> None:
    target = tmp_path / "IHE_XDM.ZIP"
    with pytest.raises(AddressError):
        write_xdm(target, [ldl], intended_recipients=["not an address"])
    assert not target.exists()


def test_round_trip_returns_equal_documents(ldl: Document, bio: Document) -> None:
    package = XDMPackage.read(XDMPackage.build([ldl, bio]))
    assert package.ok and package.findings == ()
    assert package.documents == [ldl, bio]  # header and body models compare equal
    # ... and exactly what the CDA bytes alone give back.
    assert package.documents == [Document.read(ldl.to_xml()), Document.read(bio.to_xml())]
    assert [d.payload for d in package.documents] == [ldl.payload, bio.payload]
    assert [d.header.id for d in package.documents] == [ldl.header.id, bio.header.id]
    assert all(e.verified for e in package.entries)
    metadata = package.metadata
    assert metadata is not None and len(metadata.associations) == 2


def test_large_pdf_is_streamed_and_reads_back(header: dict[str, Any], tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024 + 7)
    doc = Document.from_pdf(pdf, type="LDL-SES", **header)
    target = tmp_path / "IHE_XDM.ZIP"
    metadata = write_xdm(target, [doc])
    stored = zip_of(target.read_bytes()).read("IHE_XDM/SUBSET01/DOC0001.XML")
    assert stored == Document(doc.header, doc.body).to_xml()  # same bytes as the plain path
    assert metadata.documents[0].hash == hashlib.sha1(stored).hexdigest()
    assert metadata.documents[0].size == len(stored)
    package = XDMPackage.read(target)
    assert package.ok
    (read,) = package.documents
    assert read.payload == pdf and read.media_type == "application/pdf"
    assert read.header == Document.read(stored).header
    assert read == doc


def test_read_documents_are_packaged_byte_for_byte(kit: Path) -> None:
    """ANS examples: one package, hash/size are those of the original files, ebRS-valid."""
    files = sorted((kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA").glob("*.xml"))
    assert files, "kit has no ExemplesCDA"
    docs = [Document.read(f) for f in files]
    data = build_xdm(docs, submission=Submission(source_id="1.2.250.1.999.1"))
    raw = zip_of(data).read(META)
    schema = etree.XMLSchema(etree.parse(str(kit / "ebrs-3.0" / "lcm.xsd")))
    assert schema.validate(etree.fromstring(raw)), schema.error_log
    metadata = parse_metadata(raw)
    for path, entry in zip(files, metadata.documents, strict=True):
        original = path.read_bytes()
        assert entry.hash == hashlib.sha1(original).hexdigest()
        assert entry.size == len(original)
        assert zip_of(data).read(f"IHE_XDM/SUBSET01/{entry.uri}") == original
        assert entry.patient_id is not None
        assert entry.patient_id.endswith(f"&{INS.OID_TEST_NIR}&ISO^NH")
    type_codes = [e.type_code.code for e in metadata.documents if e.type_code]
    assert type_codes == [d.header.code.code for d in docs]
    package = XDMPackage.read(data, metadata_schema=schema)
    assert package.ok, package.findings
    assert package.documents == docs


def test_naive_time_is_refused(ldl: Document, tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="submission_time: needs a UTC offset"):
        build_xdm([ldl], submission=Submission(submission_time=datetime(2024, 1, 1)))
    # A received CDA whose effectiveTime has no offset cannot be converted to UTC.
    naive = Document(
        ldl.header.model_copy(update={"effective_time": datetime(2024, 1, 1)}), ldl.body
    )
    target = tmp_path / "IHE_XDM.ZIP"
    with pytest.raises(DocumentError, match="effective_time"):
        write_xdm(target, [naive])
    assert not target.exists()


def test_package_repr_has_no_patient_data(ldl: Document, patient: Patient) -> None:
    package = XDMPackage.read(build_xdm([ldl]))
    text = repr(package)
    assert patient.ins is not None and patient.ins.value not in text
    assert "PAT-TROIS" not in text and "DOMINIQUE" not in text and "19790328" not in text


def test_patient_without_ins_uses_ipp(patient: Patient) -> None:
    from mssante_client.document.xdm import patient_ids

    no_ins = patient.model_copy(update={"ins": None})
    assert patient_ids(no_ins) == ("1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI",) * 2
    with pytest.raises(DocumentError, match="patient"):
        patient_ids(no_ins.model_copy(update={"ipp": None}))
    assert date(1979, 3, 28) == patient.birth_date


def test_built_package_metadata_is_ebrs_valid(kit: Path, ldl: Document, bio: Document) -> None:
    schema = etree.XMLSchema(etree.parse(str(kit / "ebrs-3.0" / "lcm.xsd")))
    data = build_xdm(
        [ldl, bio],
        intended_recipients=["dr.martin@hopital.mssante.fr"],
        submission=Submission(
            content_type_code=Code(code="04", code_system="1.2.250.1.213.2.2", display_name="HDJ")
        ),
    )
    root = etree.fromstring(zip_of(data).read(META))
    assert schema.validate(root), schema.error_log
    assert XDMPackage.read(data, metadata_schema=schema).ok


class _Unseekable(io.RawIOBase):
    """A write-only stream (a pipe, a socket, an HTTP upload) that cannot seek back."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:
        self.data += bytes(chunk)
        return len(chunk)


def test_write_to_an_unseekable_stream(header: dict[str, Any]) -> None:
    pdf = b"%PDF-1.7\n" + os.urandom(600 * 1024)
    doc = Document.from_pdf(pdf, type="LDL-SES", **header)
    stream = _Unseekable()
    metadata = write_xdm(stream, [doc])
    package = XDMPackage.read(bytes(stream.data), strict=True)
    assert package.ok and package.documents[0].payload == pdf
    assert package.entries[0].entry.hash == metadata.documents[0].hash
