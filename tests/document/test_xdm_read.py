"""Reading XDM archives: kit vendor samples (quirks → findings) and hostile input (→ errors)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from mssante_client.document import Document
from mssante_client.document.xdm import build_xdm
from mssante_client.document.xdm_metadata import Severity
from mssante_client.document.xdm_read import XDMPackage, read_xdm
from mssante_client.errors import IntegrityError, UnsafeArchiveError, XMLError

META = "IHE_XDM/SUBSET01/METADATA.XML"
DOC = "IHE_XDM/SUBSET01/DOC0001.XML"

XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<r>&xxe;</r>'
)
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
    b"<lolz>&lol3;</lolz>"
)


def rezip(data: bytes, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> bytes:
    """Rewrite an archive after changing its {name: bytes} content."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {n: source.read(n) for n in source.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in change(entries).items():
            target.writestr(name, content)
    return out.getvalue()


@pytest.fixture
def package(header: dict[str, Any], pdf: bytes) -> bytes:
    return build_xdm([Document.from_pdf(pdf, type="LDL-SES", **header)])


# --- kit samples ------------------------------------------------------------------------------


def sample(kit: Path, name: str) -> Path:
    found = sorted((kit / "xdm-samples").glob(f"*/{name}"))
    if not found:
        pytest.skip(f"kit sample {name} absent")
    return found[0]


@pytest.mark.parametrize(
    ("name", "subsets", "expected", "cda_docs"),
    [
        # Mac-made, lower-case-free, US CCD: clean apart from being non-French.
        ("Allscripts.zip", 1, {"not-french-cda"}, 1),
        # URI "CCDA_AMBULATORY.XML" vs file "CCDA_Ambulatory.xml"; metadata typeCode 34096-8 and
        # uniqueId differ from the CDA header (34133-9, 1.1.1.1.1.1.1.1.1^Test CCDA).
        (
            "CCDA_Ambulatory_in_XDM.zip",
            1,
            {
                "name-not-iso9660",
                "uri-case-mismatch",
                "mismatch-typeCode",
                "mismatch-uniqueId",
                "not-french-cda",
            },
            1,
        ),
        # uniqueId not the CDA id; creationTime 21:12:01Z vs effectiveTime 15:11:59-0600.
        ("Epic.zip", 1, {"mismatch-uniqueId", "mismatch-creationTime", "not-french-cda"}, 1),
        # typeCode 11488-4 vs 34133-9, patient assigning authority .1000 vs .2000 in the CDA.
        (
            "MIE.zip",
            1,
            {
                "mismatch-typeCode",
                "mismatch-uniqueId",
                "mismatch-patientId",
                "mismatch-creationTime",
                "not-french-cda",
            },
            1,
        ),
        # 'uri' attribute instead of a URI slot, no size nor hash, creationTime 20051224 vs
        # effectiveTime 20050329.
        (
            "Medicity.zip",
            1,
            {
                "name-not-iso9660",
                "metadata-uri-attribute",
                "uri-case-mismatch",
                "missing-size",
                "missing-hash",
                "mismatch-creationTime",
                "not-french-cda",
            },
            1,
        ),
        # Two subsets (CCD1, CCD2); patientId is the affinity-domain id, sourcePatientId the
        # CDA's.
        (
            "Sage.zip",
            2,
            {"name-not-iso9660", "several-subsets", "patientId-not-in-cda", "not-french-cda"},
            2,
        ),
        # No IHE_XDM directory at all.
        ("Siemens.zip", 0, {"no-ihe-xdm"}, 0),
        # Lower-case readme/index/METADATA.xml, text document "DOC.TXT" stored as doc.txt.
        ("xdm_minimal.zip", 1, {"name-not-iso9660", "uri-case-mismatch"}, 0),
        # Direct RI bug: IHE_XDM/SUBSET01METADATA.xml, SubmissionSet marked with the wrong
        # attribute, a text document.
        (
            "xdm.zip",
            1,
            {"name-not-iso9660", "metadata-misplaced", "metadata-submission-set-unclassified"},
            0,
        ),
    ],
)
def test_kit_samples(kit: Path, name: str, subsets: int, expected: set[str], cda_docs: int) -> None:
    package = XDMPackage.read(sample(kit, name))
    assert len(package.subsets) == subsets
    assert package.codes() == expected
    assert len(package.documents) == cda_docs
    for item in package.entries:
        if item.entry.hash:
            assert item.verified, item.path  # every declared hash and size checks out
    for finding in package.findings:  # no patient data leaks into findings
        assert "Washington" not in finding.message and "^" not in finding.message


def test_kit_sample_hashes_match_an_independent_computation(kit: Path) -> None:
    path = sample(kit, "Epic.zip")
    package = read_xdm(path, keep_bytes=True)
    (item,) = package.entries
    with zipfile.ZipFile(path) as raw:
        content = raw.read("IHE_XDM/LUCY_0/DOC0001.XML")
    assert item.entry.hash == hashlib.sha1(content).hexdigest()
    assert item.entry.size == len(content) and item.verified
    assert item.content == content


def test_kit_sample_text_document_is_kept_as_bytes(kit: Path) -> None:
    package = XDMPackage.read(sample(kit, "xdm_minimal.zip"))
    (item,) = package.entries
    assert item.document is None and item.content is not None
    assert item.verified and item.path == "IHE_XDM/SUBSET/doc.txt"


def test_ebrs_schema_finding(kit: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(kit / "ebrs-3.0" / "lcm.xsd")))
    medicity = XDMPackage.read(sample(kit, "Medicity.zip"), metadata_schema=schema)
    assert "metadata-schema-invalid" in medicity.codes()
    epic = XDMPackage.read(sample(kit, "Epic.zip"), metadata_schema=schema)
    assert "metadata-schema-invalid" not in epic.codes()


# --- integrity --------------------------------------------------------------------------------


def test_tampered_document_is_a_finding_or_an_error_in_strict_mode(package: bytes) -> None:
    tampered = rezip(package, lambda e: {**e, DOC: e[DOC].replace(b"<title>", b"<title>X")})
    result = XDMPackage.read(tampered)
    assert {"hash-mismatch", "size-mismatch"} <= result.codes()
    assert not result.ok and not result.entries[0].verified
    assert all(
        f.severity is Severity.ERROR for f in result.findings if f.code.endswith("-mismatch")
    )
    with pytest.raises(IntegrityError, match="DOC0001"):
        XDMPackage.read(tampered, strict=True)
    assert XDMPackage.read(package, strict=True).ok


def test_metadata_that_lies_about_the_patient(package: bytes) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {
            **e,
            META: e[META].replace(
                b"^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH",
                b"9^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH",
            ),
        }

    result = XDMPackage.read(rezip(package, change))
    assert "mismatch-patientId" in result.codes() and not result.ok


def test_missing_readme_index_and_unresolved_uri(package: bytes) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        kept = {k: v for k, v in e.items() if k not in ("README.TXT", "INDEX.HTM", DOC)}
        return {**kept, "IHE_XDM/SUBSET01/OTHER.XML": e[DOC]}

    result = XDMPackage.read(rezip(package, change))
    assert {"missing-readme", "missing-index", "uri-unresolved"} <= result.codes()
    assert result.entries[0].path is None and result.documents == []


def test_uri_escaping_the_package_is_not_followed(package: bytes) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {**e, META: e[META].replace(b">DOC0001.XML<", b">../../README.TXT<")}

    result = XDMPackage.read(rezip(package, change))
    assert "uri-unsafe" in result.codes() and result.entries[0].path is None


def test_junk_and_lower_case_names_are_tolerated(package: bytes) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        lowered = {k.lower() if k.startswith("IHE_XDM") else k: v for k, v in e.items()}
        return {**lowered, "__MACOSX/._README.TXT": b"\x00\x05", "IHE_XDM/.DS_Store": b"x"}

    result = XDMPackage.read(rezip(package, change))
    assert len(result.documents) == 1 and result.entries[0].verified
    assert "name-not-iso9660" in result.codes() and "uri-case-mismatch" in result.codes()


def test_non_cda_xml_document(package: bytes) -> None:
    other = b"<?xml version='1.0'?><note>hello</note>"

    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        meta = e[META]
        sha = hashlib.sha1(e[DOC]).hexdigest().encode()
        meta = meta.replace(sha, hashlib.sha1(other).hexdigest().encode())
        meta = meta.replace(f">{len(e[DOC])}<".encode(), f">{len(other)}<".encode())
        return {**e, DOC: other, META: meta}

    result = XDMPackage.read(rezip(package, change))
    assert "not-cda" in result.codes() and result.entries[0].verified
    assert result.documents == [] and result.entries[0].content == other


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
@pytest.mark.parametrize("where", [META, DOC])
def test_entity_attacks_raise_xml_error(package: bytes, payload: bytes, where: str) -> None:
    hostile = rezip(package, lambda e: {**e, where: payload})
    with pytest.raises(XMLError, match="DOCTYPE"):
        XDMPackage.read(hostile)


def test_entity_attack_in_a_large_cda_is_refused_while_streaming(package: bytes) -> None:
    big = LAUGHS.replace(b"<lolz>", b"<lolz>" + b" " * (700 * 1024))
    with pytest.raises(XMLError, match="DOCTYPE"):
        XDMPackage.read(rezip(package, lambda e: {**e, DOC: big}))


def test_malformed_xml_is_an_xml_error(package: bytes) -> None:
    with pytest.raises(XMLError):
        XDMPackage.read(rezip(package, lambda e: {**e, META: b"<lcm:Submit"}))
    with pytest.raises(XMLError):
        XDMPackage.read(rezip(package, lambda e: {**e, DOC: b"<ClinicalDocument"}))


def test_zip_slip_through_the_package_reader(package: bytes) -> None:
    with pytest.raises(UnsafeArchiveError, match=r"\.\./evil"):
        XDMPackage.read(rezip(package, lambda e: {**e, "../evil.sh": b"rm -rf /"}))


@pytest.mark.parametrize("padding", [0, 700 * 1024], ids=["small", "streamed"])
def test_invalid_base64_payload_is_a_finding(package: bytes, padding: int) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        doc = e[DOC].replace(
            b'representation="B64">', b'representation="B64">' + b"\n" * padding + b"*not*base64*"
        )
        return {**e, DOC: doc}

    result = XDMPackage.read(rezip(package, change))
    assert "payload-not-base64" in result.codes()
    assert result.documents == [] and result.entries[0].path == DOC


def test_keep_bytes_returns_the_exact_bytes_of_a_large_document(
    header: dict[str, Any], pdf: bytes
) -> None:
    big = Document.from_pdf(pdf + os.urandom(800 * 1024), type="LDL-SES", **header)
    data = build_xdm([big])
    with zipfile.ZipFile(io.BytesIO(data)) as raw:
        stored = raw.read(DOC)
    streamed = XDMPackage.read(data)
    kept = XDMPackage.read(data, keep_bytes=True)
    assert streamed.entries[0].content is None
    assert kept.entries[0].content == stored
    assert kept.documents[0].to_xml() == stored  # a read document keeps its source
    assert streamed.documents[0] == kept.documents[0]
