"""Reading CDA documents: the ANS kit examples, and hostile XML."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mssante_client.document import Document
from mssante_client.document._xml import safe_parse
from mssante_client.errors import DocumentError, XMLError

PARIS = timezone(timedelta(hours=1))


@pytest.fixture(scope="module")
def examples(kit: Path) -> Path:
    return kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA"


def _common_patient(doc: Document) -> None:
    patient = doc.patient
    assert patient.ins is not None
    assert patient.ins.value == "279035121518989"
    assert patient.ins.oid == "1.2.250.1.213.1.4.10"
    assert patient.ins.is_test
    assert patient.birth_family_name == "PAT-TROIS"
    assert patient.given_names == ("DOMINIQUE", "MARIE-LOUISE")
    assert patient.used_given_name == "DOMINIQUE"
    assert patient.birth_date == date(1979, 3, 28)
    assert patient.sex.value == "F"
    assert patient.birthplace_insee == "51215"


def test_tlm_cr_level1_example(examples: Path) -> None:
    doc = Document.read(examples / "TLM-CR_2022.01.xml")
    assert doc.level == 1
    assert doc.type.name == "TLM-CR"
    assert doc.type_code.code == "85208-7"
    assert doc.title == "Compte-rendu de téléconsultation"
    assert doc.effective_time == datetime(2020, 3, 27, 15, 35, tzinfo=PARIS)
    assert doc.header.set_id.root == "1.3.6.1.4.1.19376.1.2.20.2022.1"
    assert doc.header.id.root == "1.3.6.1.4.1.19376.1.2.20.2022.1.1"
    assert doc.model_template_ids == ("1.3.6.1.4.1.19376.1.2.20",)
    _common_patient(doc)
    assert doc.patient.ipp is not None
    assert (doc.patient.ipp.root, doc.patient.ipp.extension) == (
        "1.2.3.4.567.8.9.10",
        "1234567890121",
    )
    assert doc.author.id.extension == "801234567123"
    assert doc.author.family_name == "DUMAS"
    assert doc.author.specialty is not None and doc.author.specialty.code == "G15_10/SM26"
    assert doc.author.id_nat_ps is None  # the example's RPPS key is wrong: read, not trusted
    assert doc.custodian.id.extension == "1750803447"
    assert doc.header.legal_authenticator is not None
    assert len(doc.header.service_events) == 2
    assert doc.header.service_events[0].code is not None
    assert doc.header.service_events[0].code.code == "TCG"
    assert doc.header.encounter is not None
    assert doc.header.encounter.facility_type.code == "SA03"
    assert doc.media_type == "application/pdf"
    assert doc.payload is not None and doc.payload.startswith(b"%PDF-1.5")
    assert len(doc.payload) == 257508
    assert doc.payload_sha1 == "98f3b4e0328eca10e3aa46139a9049843766579a"
    assert doc.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_ldl_ees_structured_example(examples: Path) -> None:
    doc = Document.read(examples / "LDL-EES_2022.01.xml")
    assert doc.level == 3
    assert doc.type.name == "LDL-EES"
    assert doc.title == "Lettre de liaison à l'entrée en établissement de santé"
    assert doc.effective_time == datetime(2019, 10, 29, 11, 17, tzinfo=PARIS)
    assert "1.2.250.1.213.1.1.1.21" in doc.model_template_ids
    _common_patient(doc)
    assert doc.author.family_name == "BOILEAU"
    assert doc.author.id.extension == "801234567897"
    assert doc.author.id_nat_ps is not None  # this one has a valid key
    assert doc.custodian.id.extension == "1120456789"
    assert doc.header.encounter is not None
    assert doc.header.encounter.facility_type.code == "SA01"
    assert doc.header.service_events[0].practice_setting is not None
    assert doc.header.service_events[0].practice_setting.code == "ETABLISSEMENT"
    assert doc.payload is None and doc.media_type is None
    titles = [s.title for s in doc.sections]
    assert titles[0] == "Motif d'hospitalisation"
    assert "Allergies et hypersensibilités connues" in titles
    assert doc.format_code.code == "urn:asip:ci-sis:ldl-ees:2017"


def test_vsm_example(examples: Path) -> None:
    doc = Document.read(examples / "VSM_1.4_2022.01.xml")
    assert doc.level == 3
    assert doc.type_code.code == "SYNTH"
    assert doc.type.name == "VSM"
    assert doc.title == "Synthèse Médicale"
    _common_patient(doc)
    assert doc.author.family_name == "MEDIONI"
    assert len(doc.sections) == 3
    assert doc.sections[1].title == "Points de vigilance"


def test_bio_trod_example(examples: Path) -> None:
    doc = Document.read(examples / "BIO-TROD_2024.01_COVID-19.xml")
    assert doc.level == 3
    assert doc.type_code.code == "96173-0"
    assert doc.title == "Test rapide d'orientation diagnostique : TROD Covid-19"
    _common_patient(doc)
    assert doc.patient.ipp is None
    assert doc.author.family_name == "DIDOT"
    assert doc.author.specialty is not None and doc.author.specialty.code == "G15_21/A"
    assert doc.custodian.name == "Pharmacie des 4 cantons"
    assert doc.header.service_events[0].practice_setting is not None
    assert doc.header.service_events[0].practice_setting.code == "DEPISTAGE"


def test_read_keeps_source_bytes(examples: Path) -> None:
    raw = (examples / "TLM-CR_2022.01.xml").read_bytes()
    assert Document.read(raw).to_xml() == raw


# --- hostile or broken XML ------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol3;</title></ClinicalDocument>"""

DOCTYPE_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument SYSTEM "http://example.invalid/cda.dtd">
<ClinicalDocument xmlns="urn:hl7-org:v3"/>"""


@pytest.mark.parametrize("data", [XXE, LAUGHS, DOCTYPE_ONLY], ids=["xxe", "laughs", "doctype"])
def test_doctype_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(XMLError):
        Document.read(data)
    with pytest.raises(XMLError):
        safe_parse(data)


def test_malformed_and_foreign_xml() -> None:
    with pytest.raises(XMLError):
        Document.read(b"<ClinicalDocument")
    with pytest.raises(XMLError):
        Document.read(b"<html xmlns='http://www.w3.org/1999/xhtml'/>")
    with pytest.raises(DocumentError):
        Document.read(b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>")


def test_missing_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as info:
        Document.read(tmp_path / "absent.xml")
    assert info.value.field == "path"


def test_declared_media_type_is_not_trusted(pdf: bytes, header: dict[str, object]) -> None:
    doc = Document.from_pdf(pdf, type="CR-OP", **header)  # type: ignore[arg-type]
    forged = doc.to_xml().replace(b'mediaType="application/pdf"', b'mediaType="image/jpeg"')
    read = Document.read(forged)
    assert read.body.declared_media_type == "image/jpeg"
    assert read.media_type == "application/pdf"
