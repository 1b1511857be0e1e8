"""Building level-1 CDA documents: complete header, strict inputs, versioning, round trip."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest
from lxml import etree

from mssante_client.document import (
    Confidentiality,
    Document,
    HealthProfessional,
    InstanceId,
    Patient,
    ServiceEvent,
)
from mssante_client.errors import DocumentError, IdentifierError
from mssante_client.identity import INS

NS = {"h": "urn:hl7-org:v3"}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
TIFF = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32


def _xml(doc: Document) -> etree._Element:
    return etree.fromstring(doc.to_xml())


def _attr(root: etree._Element, path: str, name: str) -> str:
    node = root.find(path, NS)
    assert node is not None, path
    value = node.get(name)
    assert value is not None, (path, name)
    return value


def test_ldl_ses_header_is_complete(pdf: bytes, header: dict[str, Any]) -> None:
    doc = Document.from_pdf(pdf, type="LDL-SES", **header)
    root = _xml(doc)
    assert _attr(root, "h:realmCode", "code") == "FR"
    assert _attr(root, "h:typeId", "extension") == "POCD_HD000040"
    assert [t.get("root") for t in root.findall("h:templateId", NS)] == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    ]
    assert _attr(root, "h:code", "code") == "11490-0"
    assert _attr(root, "h:effectiveTime", "value") == "20240506123000+0100"
    assert _attr(root, "h:confidentialityCode", "code") == "N"
    assert _attr(root, "h:languageCode", "code") == "fr-FR"
    assert _attr(root, "h:versionNumber", "value") == "1"
    assert _attr(root, "h:setId", "root") != _attr(root, "h:id", "root")
    ins_id = root.find("h:recordTarget/h:patientRole/h:id", NS)
    assert ins_id is not None
    assert ins_id.get("root") == INS.OID_TEST_NIR
    assert ins_id.get("extension") == header["patient"].ins.value
    name = root.find("h:recordTarget/h:patientRole/h:patient/h:name", NS)
    assert name is not None
    assert name.findtext("h:family[@qualifier='BR']", namespaces=NS) == "PAT-TROIS"
    assert name.findtext("h:given[@qualifier='BR']", namespaces=NS) == "DOMINIQUE"
    unqualified = [g.text for g in name.findall("h:given", NS) if g.get("qualifier") is None]
    assert unqualified == ["DOMINIQUE MARIE-LOUISE"]
    person = "h:recordTarget/h:patientRole/h:patient/"
    assert _attr(root, person + "h:birthTime", "value") == "19790328"
    assert root.findtext(person + "h:birthplace/h:place/h:addr/h:county", namespaces=NS) == (
        "51215"
    )
    assert _attr(root, "h:legalAuthenticator/h:signatureCode", "code") == "S"
    assert _attr(
        root,
        "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/"
        "h:representedOrganization/h:standardIndustryClassCode",
        "code",
    ) == ("ETABLISSEMENT")
    assert _attr(
        root,
        "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code",
        "code",
    ) == ("SA01")
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    assert text is not None
    assert text.get("mediaType") == "application/pdf"
    assert text.get("representation") == "B64"
    assert base64.b64decode(text.text or "") == pdf
    assert root.find("h:relatedDocument", NS) is None


def test_round_trip_gives_an_equal_document(pdf: bytes, header: dict[str, Any]) -> None:
    doc = Document.from_pdf(pdf, type="CR-BIO", **header)
    again = Document.read(doc.to_xml())
    assert again == doc
    assert again.header == doc.header
    assert again.payload == pdf
    assert again.media_type == "application/pdf"
    assert again.level == 1
    assert again.type.name == "CR-BIO"


def test_replace_produces_rplc_with_same_set_id(pdf: bytes, header: dict[str, Any]) -> None:
    first = Document.from_pdf(pdf, type="LDL-SES", **header)
    second = first.replace(pdf=pdf + b"%% v2\n")
    assert second.header.set_id == first.header.set_id
    assert second.header.version == 2
    assert second.header.replaces == first.header.id
    assert second.header.id != first.header.id
    root = _xml(second)
    assert root.find("h:relatedDocument", NS) is not None
    assert _attr(root, "h:relatedDocument", "typeCode") == "RPLC"
    assert _attr(root, "h:relatedDocument/h:parentDocument/h:id", "root") == first.header.id.root
    assert Document.read(second.to_xml()) == second


def test_explicit_ids_and_confidentiality(pdf: bytes, header: dict[str, Any]) -> None:
    doc = Document.from_pdf(
        pdf,
        type="TLM-CR",
        document_id=InstanceId(root="1.2.250.1.999.1", extension="DOC-1"),
        set_id=InstanceId(root="1.2.250.1.999.2", extension="SET-1"),
        confidentiality="R",
        confidentiality_flags=["MASQUE_PS"],
        **header,
    )
    root = _xml(doc)
    assert _attr(root, "h:id", "extension") == "DOC-1"
    assert _attr(root, "h:setId", "extension") == "SET-1"
    assert doc.header.confidentiality is Confidentiality.R
    assert {f.value for f in doc.confidentiality_flags} == {"MASQUE_PS"}


@pytest.mark.parametrize(
    ("builder", "payload", "media"),
    [
        (Document.from_jpeg, JPEG, "image/jpeg"),
        (Document.from_tiff, TIFF, "image/tiff"),
        (Document.from_tiff, b"MM\x00*" + b"\x00" * 16, "image/tiff"),
    ],
)
def test_images_are_sniffed(
    builder: Any, payload: bytes, media: str, header: dict[str, Any]
) -> None:
    doc = builder(payload, type="CR-IMG", **header)
    assert doc.media_type == media
    assert doc.format_code.code.startswith("urn:ihe:iti-fr:xds-sd:")


def test_text_document(header: dict[str, Any]) -> None:
    doc = Document.from_text("Compte rendu de consultation.\n", type="CR-CONS", **header)
    assert doc.media_type == "text/plain"
    assert Document.read(doc.to_xml()).payload == b"Compte rendu de consultation.\n"


def test_media_type_is_never_trusted(header: dict[str, Any]) -> None:
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(JPEG, type="LDL-SES", **header)
    assert info.value.field == "payload"
    with pytest.raises(DocumentError):
        Document.from_jpeg(b"%PDF-1.4 not an image", type="CR-IMG", **header)
    with pytest.raises(DocumentError):
        Document.from_payload(b"\x00\x01\x02binary", type="CR-IMG", **header)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "NOPE"}, "type"),
        ({"effective_time": datetime(2024, 5, 6, 12, 0)}, "effective_time"),
        ({"title": "   "}, "title"),
        ({"confidentiality": "X"}, "confidentiality"),
    ],
)
def test_invalid_inputs_name_the_field(
    pdf: bytes, header: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    args = {"type": "LDL-SES", **header, **change}
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(pdf, **args)
    assert info.value.field == field


def test_empty_payload(header: dict[str, Any]) -> None:
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(b"", type="LDL-SES", **header)
    assert info.value.field == "payload"


def test_patient_traits_are_required(pdf: bytes, header: dict[str, Any]) -> None:
    patient: Patient = header["patient"]
    assert patient.ins is not None
    unqualified = patient.model_copy(update={"ins": patient.ins.with_qualified(False)})
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(pdf, type="LDL-SES", **{**header, "patient": unqualified})
    assert info.value.field == "patient.ins"
    no_birthplace = patient.model_copy(update={"birthplace_insee": None})
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(pdf, type="LDL-SES", **{**header, "patient": no_birthplace})
    assert info.value.field == "patient.birthplace_insee"
    with pytest.raises(DocumentError) as info:
        Patient(birth_family_name="X", given_names=(), birth_date=None)
    assert info.value.field.startswith("Patient.given_names")


def test_specialty_must_be_in_j01(pdf: bytes, header: dict[str, Any]) -> None:
    author: HealthProfessional = header["author"]
    bad = author.model_copy(update={"specialty": author.specialty.model_copy(update={"code": "X"})})  # type: ignore[union-attr]
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(pdf, type="LDL-SES", **{**header, "author": bad})
    assert info.value.field == "authors[0].specialty"


def test_practice_setting_is_required(pdf: bytes, header: dict[str, Any]) -> None:
    author: HealthProfessional = header["author"]
    bare = author.model_copy(update={"practice_setting": None})
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(pdf, type="LDL-SES", **{**header, "author": bare})
    assert info.value.field == "service_events[0].practice_setting"
    event: ServiceEvent = header["service_event"]
    ok = Document.from_pdf(
        pdf,
        type="LDL-SES",
        **{
            **header,
            "author": bare,
            "service_event": event.model_copy(update={"practice_setting": author.practice_setting}),
        },
    )
    assert ok.header.service_events[0].practice_setting == author.practice_setting


def test_invalid_identifiers_raise_identifier_error() -> None:
    with pytest.raises(IdentifierError):
        HealthProfessional(id="801234567123", family_name="X")  # wrong Luhn key
    with pytest.raises(IdentifierError):
        Patient(ins="279035121518900", birth_family_name="X", given_names="A")
    with pytest.raises(IdentifierError):
        INS("279035121518989", oid="1.2.3")


def test_repr_leaks_no_patient_data(pdf: bytes, header: dict[str, Any]) -> None:
    doc = Document.from_pdf(pdf, type="LDL-SES", **header)
    patient: Patient = header["patient"]
    for text in (repr(doc), repr(patient), str(patient), repr(doc.header), str(doc.header)):
        assert patient.ins is not None and patient.ins.value not in text
        assert "PAT-TROIS" not in text
        assert "1979" not in text


def test_civility_and_title_value_sets(pdf: bytes, header: dict[str, Any]) -> None:
    author: HealthProfessional = header["author"]
    with pytest.raises(DocumentError) as info:
        Document.from_pdf(
            pdf, type="LDL-SES", **{**header, "author": author.model_copy(update={"prefix": "DR"})}
        )
    assert info.value.field == "authors[0].prefix"
    doc = Document.from_pdf(pdf, type="LDL-SES", **header)
    assert Document.read(doc.to_xml()).author.suffix == "DR"


def test_every_catalogue_type_builds_and_round_trips(pdf: bytes, header: dict[str, Any]) -> None:
    from mssante_client.document import all_document_types

    for kind in all_document_types():
        if kind.code_system == "ASTM":  # E1762: an XDS-only code, no OID system
            with pytest.raises(DocumentError) as info:
                Document.from_pdf(pdf, type=kind, **header)
            assert info.value.field == "type"
            continue
        doc = Document.from_pdf(pdf, type=kind, **header)
        again = Document.read(doc.to_xml())
        assert again == doc, kind.code
        assert again.type_code.code == kind.code
        assert again.header.code.code_system == kind.code_system


@pytest.mark.parametrize(
    ("data", "media"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"II*\x00\x10", "image/tiff"),
        (b"MM\x00*\x00", "image/tiff"),
        (b"{\\rtf1\\ansi hello}", "text/rtf"),
        ("Compte rendu\tété\r\n".encode(), "text/plain"),
        (b"PK\x03\x04zip", "application/octet-stream"),
        (b"\x00\x01", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniffing(data: bytes, media: str) -> None:
    from mssante_client.document._media import sniff_media_type

    assert sniff_media_type(data) == media
