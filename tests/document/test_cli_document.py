"""``mssante document`` subcommands, run in-process (build, inspect, package, validate)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from mssante_client import cli
from mssante_client.cli import document as document_cli
from mssante_client.document import Document
from mssante_client.errors import MssanteError

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "examples" / "header-ldl-ses.json"


def run(argv: list[str]) -> int:
    """Run ``mssante <argv>`` through the document module with main()'s error contract."""
    parser = argparse.ArgumentParser(prog="mssante")
    document_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except MssanteError as exc:
        print(f"mssante: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return code


@pytest.fixture
def pdf_file(tmp_path: Path, pdf: bytes) -> Path:
    path = tmp_path / "lettre.pdf"
    path.write_bytes(pdf)
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_build_cda_then_inspect(
    tmp_path: Path, pdf_file: Path, pdf: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ldl.xml"
    argv = ["document", "build", "--type", "LDL-SES", "--pdf", str(pdf_file)]
    assert run([*argv, "--header", str(HEADER), "-o", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert isinstance(summary, dict) and summary["type_code"] == "11490-0"
    doc = Document.read(out)
    assert doc.payload == pdf
    assert run(["document", "inspect", str(out), "--json"]) == 0
    records = _json(capsys)
    assert isinstance(records, list) and len(records) == 1
    record = records[0]
    assert record["type_code"] == "11490-0"
    assert record["title"] == "Lettre de liaison à la sortie"
    assert record["patient_ins"] == "279035121518989"
    assert record["patient_ins_root"] == "1.2.250.1.213.1.4.10"
    assert record["author_id"] == "810000000009"
    assert record["custodian_id"] == "1990000002"
    assert record["level"] == 1
    assert record["payload_media_type"] == "application/pdf"
    assert record["payload_size"] == len(pdf)
    assert record["payload_sha1"] == doc.payload_sha1
    assert record["effective_time"] == "2024-05-06T12:30:00+01:00"


def test_build_zip_package_and_inspect_eml(
    tmp_path: Path, pdf_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = tmp_path / "IHE_XDM.ZIP"
    argv = ["document", "build", "--pdf", str(pdf_file), "--header", str(HEADER)]
    assert run([*argv, "-o", str(zip_path)]) == 0  # type taken from the header JSON
    capsys.readouterr()
    assert zip_path.read_bytes()[:4] == b"PK\x03\x04"
    assert run(["document", "inspect", str(zip_path), "--json"]) == 0
    [record] = _json(capsys)  # type: ignore[misc]
    assert record["type_code"] == "11490-0"
    assert record["source"].endswith("DOC0001.XML")

    message = EmailMessage()
    message["Subject"] = "XDM/1.0/DDM test"
    message.set_content("Voir pièce jointe.")
    message.add_attachment(
        zip_path.read_bytes(), maintype="application", subtype="zip", filename="IHE_XDM.ZIP"
    )
    eml = tmp_path / "message.eml"
    eml.write_bytes(message.as_bytes())
    assert run(["document", "inspect", str(eml), "--json"]) == 0
    [from_mail] = _json(capsys)  # type: ignore[misc]
    assert from_mail["patient_ins"] == "279035121518989"
    assert from_mail["payload_sha1"] == record["payload_sha1"]


def test_package_several_cdas(
    tmp_path: Path, pdf_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    for kind, out in (("LDL-SES", first), ("CR-BIO", second)):
        argv = ["document", "build", "--type", kind, "--pdf", str(pdf_file)]
        assert run([*argv, "--header", str(HEADER), "-o", str(out)]) == 0
    zip_path = tmp_path / "IHE_XDM.ZIP"
    assert run(["document", "package", str(first), str(second), "-o", str(zip_path)]) == 0
    capsys.readouterr()
    assert run(["document", "inspect", str(zip_path), "--json"]) == 0
    records = _json(capsys)
    assert isinstance(records, list)
    assert sorted(r["type_code"] for r in records) == ["11490-0", "11502-2"]


def test_build_errors_are_one_line(
    tmp_path: Path, pdf_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.xml"
    not_pdf = tmp_path / "image.pdf"
    not_pdf.write_bytes(b"\xff\xd8\xff\xe0 jpeg really")
    argv = ["document", "build", "--type", "LDL-SES", "--header", str(HEADER), "-o", str(out)]
    assert run([*argv, "--pdf", str(not_pdf)]) == 2
    err = capsys.readouterr().err
    assert "DocumentError: payload" in err and "Traceback" not in err
    bad_header = tmp_path / "bad.json"
    bad_header.write_text(HEADER.read_text().replace("810000000009", "810000000008"))
    argv = ["document", "build", "--type", "LDL-SES", "--pdf", str(pdf_file)]
    assert run([*argv, "--header", str(bad_header), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "IdentifierError" in err and "author.id" in err
    assert not out.exists()


def test_validate_json(
    kit: Path, tmp_path: Path, pdf_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("saxonche", reason="saxonche (the 'validation' extra) is not installed")
    out = tmp_path / "ldl.xml"
    argv = ["document", "build", "--type", "LDL-SES", "--pdf", str(pdf_file)]
    assert run([*argv, "--header", str(HEADER), "-o", str(out)]) == 0
    capsys.readouterr()
    assert run(["document", "validate", str(out), "--kit", str(kit), "--json"]) == 0
    report = _json(capsys)
    assert isinstance(report, dict)
    assert report["valid"] is True and report["errors"] == []
    assert "StrucMin" in report["checks"]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(out.read_bytes().replace(b'<realmCode code="FR"/>', b""))
    assert run(["document", "validate", str(broken), "--kit", str(kit), "--json"]) == 1
    report = _json(capsys)
    assert isinstance(report, dict) and report["valid"] is False
    assert report["errors"][0]["check"] == "StrucMin"


def test_validate_xdm_zip(
    kit: Path, tmp_path: Path, pdf_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("saxonche", reason="saxonche (the 'validation' extra) is not installed")
    zip_path = tmp_path / "IHE_XDM.ZIP"
    argv = ["document", "build", "--pdf", str(pdf_file), "--header", str(HEADER)]
    assert run([*argv, "-o", str(zip_path)]) == 0
    capsys.readouterr()
    assert run(["document", "validate", str(zip_path), "--kit", str(kit), "--json"]) == 0
    report = _json(capsys)
    assert isinstance(report, dict) and report["valid"] is True, report
    assert any(c.startswith("ebRS:") for c in report["checks"])
    assert any(c.startswith("StrucMin:") for c in report["checks"])


def test_validate_without_kit_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cda = tmp_path / "x.xml"
    cda.write_bytes(b"<x/>")
    assert run(["document", "validate", str(cda), "--kit", str(tmp_path / "nokit")]) == 2
    assert "MSSANTE_VALIDATION_KIT" in capsys.readouterr().err


def test_main_entry_point(tmp_path: Path, kit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real ``mssante`` entry point dispatches to the document commands."""
    example = kit / "ansforge-TestContenuCDA-3-0" / "ExemplesCDA" / "TLM-CR_2022.01.xml"
    local = tmp_path / "tlm.xml"
    shutil.copy(example, local)
    assert cli.main(["document", "inspect", str(local), "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["type_code"] == "85208-7"
    assert record["payload_size"] == 257508


def test_example_script_writes_a_valid_cda_and_package(kit: Path, tmp_path: Path) -> None:
    """examples/build_lettre_de_liaison.py, run as a user would, produces conformant output."""
    pytest.importorskip("saxonche", reason="saxonche (the 'validation' extra) is not installed")
    import subprocess

    script = REPO / "examples" / "build_lettre_de_liaison.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "X-MSS-CODECDA: 11490-0" in done.stdout
    from mssante_client.document.conformance import validate

    cda = validate(tmp_path / "LDL-SES.xml", kit=kit)
    assert cda.valid, cda.errors[:3]
    package = validate(tmp_path / "IHE_XDM.ZIP", kit=kit)
    assert package.valid, package.errors[:3]
    assert package.documents and package.documents[0].endswith("DOC0001.XML")


def test_build_from_any_payload_and_bad_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "scan.tif"
    image.write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 64)
    out = tmp_path / "img.xml"
    argv = ["document", "build", "--type", "CR-IMG", "--payload", str(image)]
    assert run([*argv, "--header", str(HEADER), "-o", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert isinstance(summary, dict)
    assert summary["payload_media_type"] == "image/tiff"
    assert summary["format_code"] == "urn:ihe:iti-fr:xds-sd:tiff:2010"
    not_json = tmp_path / "header.json"
    not_json.write_text("{not json")
    argv = ["document", "build", "--type", "CR-IMG", "--payload", str(image)]
    assert run([*argv, "--header", str(not_json), "-o", str(out)]) == 2
    assert "DocumentError: header" in capsys.readouterr().err
    hostile = tmp_path / "x.xml"
    hostile.write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    assert run(["document", "inspect", str(hostile), "--json"]) == 2
    assert "XMLError" in capsys.readouterr().err
