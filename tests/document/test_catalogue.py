"""The J07 catalogue: complete, with the metadata of the main CI-SIS volets."""

from __future__ import annotations

import pytest

from mssante_client.document import all_document_types, document_type, level1_format_code
from mssante_client.document.value_sets import lookup
from mssante_client.errors import DocumentError

MAIN_TYPES = {
    "LDL-SES": ("11490-0", "urn:asip:ci-sis:ldl-ses:2017", "1.2.250.1.213.1.1.1.29"),
    "LDL-EES": ("18761-7", "urn:asip:ci-sis:ldl-ees:2017", "1.2.250.1.213.1.1.1.21"),
    "CR-BIO": ("11502-2", "urn:ihe:lab:xd-lab:2008", "1.2.250.1.213.1.1.1.55"),
    "CR-IMG": (
        "18748-4",
        "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",
        "1.2.250.1.213.1.1.1.45",
    ),
}


def test_catalogue_covers_the_whole_j07_list() -> None:
    types = all_document_types()
    assert len(types) == 114
    codes = {t.code for t in types}
    assert {"11490-0", "SYNTH", "CERT_DECL", "PRESC-BIO", "IMG-KOS", "85208-7"} <= codes
    assert all(t.display_name and t.code_system for t in types)


@pytest.mark.parametrize(("name", "expected"), MAIN_TYPES.items())
def test_structured_volets_carry_format_code_and_templates(
    name: str, expected: tuple[str, str, str]
) -> None:
    code, fmt, template = expected
    kind = document_type(name)
    assert kind.code == code
    assert kind.code_system == "2.16.840.1.113883.6.1"
    assert kind.format_code is not None and kind.format_code.code == fmt
    assert template in {t.root for t in kind.template_ids}
    assert kind.class_code.code_system == "1.2.250.1.213.1.1.4.1"
    assert not kind.class_code_inferred


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("CR-OP", "34874-8"),
        ("CR-ACTE", "70004-7"),
        ("CR-ACTE-THERA", "11505-5"),
        ("CR-CONS", "11488-4"),
        ("TLM-CR", "85208-7"),
        ("ldl-ses", "11490-0"),
        ("11490-0", "11490-0"),
        ("SYNTH", "SYNTH"),
    ],
)
def test_lookup_by_short_name_or_code(key: str, code: str) -> None:
    assert document_type(key).code == code


def test_class_codes_of_main_types() -> None:
    assert document_type("LDL-SES").class_code.code == "11"
    assert document_type("CR-BIO").class_code.code == "10"
    assert document_type("IMG-KOS").class_code.code == "31"
    assert document_type("PRESC-BIO").class_code.code == "42"


def test_unknown_type_is_a_document_error() -> None:
    with pytest.raises(DocumentError) as info:
        document_type("NOT-A-TYPE")
    assert info.value.field == "type"


def test_level1_format_codes_follow_the_media_type() -> None:
    assert level1_format_code("application/pdf").code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert level1_format_code("text/plain").code == "urn:ihe:iti:xds-sd:text:2008"
    assert level1_format_code("image/jpeg").code == "urn:ihe:iti-fr:xds-sd:jpeg:2010"
    with pytest.raises(DocumentError):
        level1_format_code("application/zip")


def test_header_value_sets_are_shipped() -> None:
    assert lookup("J01", "G15_10/SM26") == (
        "1.2.250.1.213.1.1.4.5",
        "Médecin - Qualifié en Médecine Générale (SM)",
    )
    assert lookup("J04", "ETABLISSEMENT") is not None
    assert lookup("J02", "SA01") is not None
    assert lookup("J01", "NOPE") is None


def test_level1_types_carry_the_xds_sd_model() -> None:
    for name in ("CR-OP", "CR-ACTE", "CR-ACTE-THERA", "CR-CONS", "TLM-CR"):
        kind = document_type(name)
        assert kind.format_code is not None
        assert kind.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
        assert [t.root for t in kind.template_ids] == ["1.3.6.1.4.1.19376.1.2.20"]
        assert not kind.structured
    assert document_type("LDL-SES").structured
