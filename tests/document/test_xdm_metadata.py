"""METADATA.XML model: HL7 v2 strings, UTC times, writer ↔ reader, tolerance to real quirks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from mssante_client.document.xdm_metadata import (
    Coded,
    DocumentEntry,
    Metadata,
    MetadataAuthor,
    SubmissionSet,
    cx,
    cx_id,
    dtm,
    hl7_escape,
    hl7_unescape,
    parse_dtm,
    parse_metadata,
    write_metadata,
    xcn,
    xon,
    xtn_email,
)
from mssante_client.errors import DocumentError, XMLError

INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def full_metadata() -> Metadata:
    author = MetadataAuthor(
        person=xcn("801234567897", "DOC", "Jean"),
        institutions=(xon("CH Test", "1750803447"),),
        roles=("Médecin",),
        specialties=(
            "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",
        ),
        telecoms=("^^Internet^jean.doc@ch.mssante.fr",),
    )
    entry = DocumentEntry(
        unique_id="1.2.250.1.999.2^42",
        uri="DOC0001.XML",
        hash="a" * 40,
        size=1234,
        title="Lettre de liaison",
        comments="Sortie",
        creation_time="20240506113000",
        service_start_time="20240502080000",
        service_stop_time="20240506100000",
        language_code="fr-FR",
        patient_id=INS_CX,
        source_patient_id="IPP1^^^&1.2.3&ISO^PI",
        source_patient_info=("PID-5|NOM^Prenom^^^^^L", "PID-7|19790328", "PID-8|F"),
        legal_authenticator=xcn("801234567897", "DOC", "Jean"),
        authors=(author,),
        class_code=Coded("11", "1.2.250.1.213.1.1.4.1", "Synthèse"),
        type_code=Coded("11490-0", "2.16.840.1.113883.6.1", "LDL-SES"),
        format_code=Coded("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "PDF"),
        healthcare_facility_type_code=Coded("SA01", "1.2.250.1.71.4.2.4", "EPS"),
        practice_setting_code=Coded("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etab"),
        confidentiality_codes=(
            Coded("N", "2.16.840.1.113883.5.25", "Normal"),
            Coded("MASQUE_PS", "1.2.250.1.213.1.1.4.13", "MASQUE_PS"),
        ),
        event_codes=(Coded("HHFA001", "1.2.250.1.213.2.5", "Acte"),),
        reference_ids=("ACC1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",),
    )
    ss = SubmissionSet(
        unique_id="2.25.1",
        source_id="1.2.250.1.999.1",
        submission_time="20240507080000",
        patient_id=INS_CX,
        title="Envoi",
        authors=(author,),
        content_type_code=Coded("04", "1.2.250.1.213.2.2", "HDJ"),
        intended_recipients=(xtn_email("dr.x@org.mssante.fr"),),
    )
    return Metadata.of(ss, [entry])


def test_hl7_strings_as_written_by_ans() -> None:
    assert xcn("899700367909", "DOC0036790", "KIT") == (
        "899700367909^DOC0036790^KIT^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    )
    assert xon("HOPITAL", "1750803447") == (
        "HOPITAL^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750803447"
    )
    assert xon("Cabinet") == "Cabinet"
    assert cx("279035121518989", "1.2.250.1.213.1.4.10", "NH") == INS_CX
    assert cx_id(INS_CX) == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert cx_id("Z2004") == ("Z2004", "")
    assert xtn_email("a@b.mssante.fr") == "||^^Internet^a@b.mssante.fr"


def test_hl7_escaping_round_trips() -> None:
    raw = "A^B&C|D~E\\F"
    escaped = hl7_escape(raw)
    assert not set("^&|~") & set(escaped)
    assert hl7_unescape(escaped) == raw
    assert xcn("1", "O'NEIL^X", "Y").split("^")[1] == "O'NEIL\\S\\X"


def test_utc_times() -> None:
    paris = timezone(timedelta(hours=2))
    assert dtm(datetime(2024, 7, 1, 0, 30, tzinfo=paris)) == "20240630223000"
    with pytest.raises(DocumentError):
        dtm(datetime(2024, 7, 1))
    assert parse_dtm("2024") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_dtm("20240630") == datetime(2024, 6, 30, tzinfo=UTC)
    assert parse_dtm("20240630223000") == datetime(2024, 6, 30, 22, 30, tzinfo=UTC)
    assert parse_dtm("20241340") is None and parse_dtm("yesterday") is None


def test_writer_reader_round_trip_with_every_field() -> None:
    metadata = full_metadata()
    again = parse_metadata(write_metadata(metadata))
    assert again == metadata


def test_written_metadata_is_ebrs_valid(kit: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(kit / "ebrs-3.0" / "lcm.xsd")))
    root = etree.fromstring(write_metadata(full_metadata()))
    assert schema.validate(root), schema.error_log


def test_repr_never_shows_patient_data() -> None:
    metadata = full_metadata()
    text = repr(metadata)
    assert "279035121518989" not in text and "PID-5" not in text and "IPP1" not in text


def test_fragment_without_namespaces_is_read_with_a_finding() -> None:
    fragment = b"""<SubmitObjectsRequest><RegistryObjectList>
      <ExtrinsicObject id="d1" mimeType="text/xml">
        <Slot name="URI"><ValueList><Value>1|DOC00</Value><Value>2|01.XML</Value></ValueList>
        </Slot>
        <Slot name="size"><ValueList><Value>many</Value></ValueList></Slot>
      </ExtrinsicObject></RegistryObjectList></SubmitObjectsRequest>"""
    findings: list = []
    metadata = parse_metadata(fragment, findings=findings, entry="M.XML")
    assert metadata.documents[0].uri == "DOC0001.XML"
    assert metadata.documents[0].size is None
    assert {f.code for f in findings} == {
        "metadata-namespace",
        "metadata-bad-size",
        "metadata-no-submission-set",
    }


def test_wrong_root_and_unsafe_xml() -> None:
    with pytest.raises(XMLError, match="SubmitObjectsRequest"):
        parse_metadata(b"<Other/>")
    with pytest.raises(XMLError):
        parse_metadata(
            b'<!DOCTYPE x [<!ENTITY e "e">]><SubmitObjectsRequest>&e;</SubmitObjectsRequest>'
        )
