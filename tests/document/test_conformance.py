"""Built documents against the ANS kit: XSD, header and profile schematrons (kit needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mssante_client.document import Document
from mssante_client.document.conformance import (
    ConformanceReport,
    Validator,
    find_kit,
    validate,
    validator_for,
)
from mssante_client.errors import ConfigurationError

pytest.importorskip("saxonche", reason="saxonche (the 'validation' extra) is not installed")

pytestmark = pytest.mark.kit

TYPES = ["LDL-SES", "LDL-EES", "CR-BIO", "CR-IMG", "CR-OP", "CR-ACTE", "CR-CONS", "TLM-CR"]
PROFILES = {"XSD", "StrucMin", "IHE", "ModelesDeContenusCDA", "Modeles_ANS"}


@pytest.fixture(scope="session")
def validator(kit: Path) -> Validator:
    """One validator for the whole session: each schematron is compiled once."""
    return validator_for(kit)


def _explain(report: ConformanceReport) -> str:
    return "\n".join(f"{e.check}: {e.message} @ {e.location}" for e in report.errors[:10])


@pytest.mark.parametrize("kind", TYPES)
def test_built_documents_pass_the_kit(
    kind: str, pdf: bytes, header: dict[str, Any], validator: Validator
) -> None:
    doc = Document.from_pdf(pdf, type=kind, **header)
    report = validator.check(doc.to_xml())
    assert report.valid, _explain(report)
    assert set(report.checks) >= PROFILES
    assert not [c for c in report.checks if c.startswith("volet:")]  # level 1: no volet


def test_replacement_version_passes(
    pdf: bytes, header: dict[str, Any], validator: Validator
) -> None:
    doc = Document.from_pdf(pdf, type="LDL-SES", **header).replace(pdf=pdf)
    report = validator.check(doc.to_xml())
    assert report.valid, _explain(report)


def test_negative_control_is_caught(
    pdf: bytes, header: dict[str, Any], validator: Validator
) -> None:
    xml = Document.from_pdf(pdf, type="LDL-SES", **header).to_xml()
    broken = xml.replace(b'<realmCode code="FR"/>', b"").replace(
        b'<languageCode code="fr-FR"/>', b'<languageCode code="french"/>'
    )
    report = validator.check(broken)
    assert not report.valid
    assert {e.check for e in report.errors} == {"StrucMin"}
    messages = " ".join(e.message for e in report.errors)
    assert "realmCode" in messages
    assert "languageCode" in messages
    assert all(e.location for e in report.errors)


@pytest.mark.parametrize(
    ("example", "volet"),
    [
        ("LDL-EES_2022.01.xml", "CI-SIS_LDL-EES_2022.01"),
        ("TLM-CR_2022.01.xml", "CI-SIS_TLM-CR_2022.01"),
        ("VSM_1.4_2022.01.xml", "CI-SIS_VSM_1.4_2022.01"),
        ("BIO-TROD_2024.01_COVID-19.xml", "CI-SIS_BIO-TROD_2024.01"),
    ],
)
def test_kit_examples_pass_with_their_volet(
    kit: Path, validator: Validator, example: str, volet: str
) -> None:
    report = validator.check(kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA" / example)
    assert report.valid, _explain(report)
    assert f"volet:{volet}" in report.checks
    assert set(report.checks) >= PROFILES


def test_volet_chosen_from_template_id(kit: Path, validator: Validator) -> None:
    example = kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA" / "LDL-EES_2022.01.xml"
    raw = example.read_bytes()
    start = raw.index(b"<ClinicalDocument")
    without_pi = b'<?xml version="1.0" encoding="UTF-8"?>\n' + raw[start:]
    report = validator.check(without_pi)
    assert "volet:CI-SIS_LDL-EES_2022.01" in report.checks
    wrong_code = without_pi.replace(b'code="18761-7"', b'code="11490-0"', 1)
    bad = validator.check(wrong_code)
    assert not bad.valid
    assert "volet:CI-SIS_LDL-EES_2022.01" in {e.check for e in bad.errors}


def test_unsafe_xml_is_reported_not_raised(validator: Validator) -> None:
    report = validator.check(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    assert not report.valid
    assert report.errors[0].check == "XML"


def test_module_function_reuses_the_validator(
    kit: Path, pdf: bytes, header: dict[str, Any]
) -> None:
    assert validator_for(kit) is validator_for(kit)
    doc = Document.from_pdf(pdf, type="CR-OP", **header)
    assert validate(doc.to_xml(), kit=kit).valid


def test_missing_kit_names_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MSSANTE_VALIDATION_KIT"):
        find_kit(tmp_path)


def test_missing_saxonche_says_how_to_install(
    kit: Path, pdf: bytes, header: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the 'validation' extra the error names the pip command (fresh cache, no engine)."""
    import sys

    from mssante_client.document import conformance
    from mssante_client.errors import MissingDependencyError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(conformance, "_processor", None)
    monkeypatch.setitem(sys.modules, "saxonche", None)
    fresh = Validator(kit)
    assert str(fresh.work).startswith(str(tmp_path))
    xml = Document.from_pdf(pdf, type="CR-OP", **header).to_xml()
    with pytest.raises(MissingDependencyError, match=r"pip install 'mssante_client\[validation\]'"):
        fresh.check(xml)
