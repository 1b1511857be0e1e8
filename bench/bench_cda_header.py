"""Benchmark: build and read one level-1 CDA (typical 200 KB letter), SDK vs raw lxml, same run.

What the SDK adds over the raw libraries is the typed header (pydantic models, identifier and
value-set checks, builder rules) and, on reading, the mapping back into models plus media-type
sniffing. The baselines do the same XML work with nothing else:

* build: raw = base64 of the PDF + the SAME CDA tree (taken from the SDK's own output, so the
  element count is identical) serialised by lxml; SDK = ``Document.from_pdf(...).to_xml()``
  starting from plain values (identifiers and models built inside the timed loop);
* read: raw = lxml parse with the same hardened parser options + base64 decode of the body;
  SDK = ``Document.read(xml)`` (header models, payload sniffed).

Rounds alternate raw/SDK so machine load hits both alike; the figure is the ratio of the
medians of per-iteration CPU time (``time.process_time``).

Usage: ``python bench/bench_cda_header.py [--payload-kb 200] [--iterations 200] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from lxml import etree

from mssante_client.document import (
    Document,
    Encounter,
    HealthProfessional,
    Organization,
    Patient,
    ServiceEvent,
    Sex,
    facility_type,
    practice_setting,
    specialty,
)
from mssante_client.identity import FINESS, INS, RPPS, IdNatPS

TZ = timezone(timedelta(hours=1))
H = "{urn:hl7-org:v3}"


def make_pdf(kb: int) -> bytes:
    body = os.urandom(kb * 1024)
    return b"%PDF-1.4\n" + body + b"\n%%EOF\n"


def sdk_build(pdf: bytes) -> bytes:
    hospital = Organization(id=FINESS("990000002").id_nat_struct, name="CH de Test")
    author = HealthProfessional(
        id=IdNatPS.from_rpps(RPPS("10000000009")),
        prefix="M",
        given_name="Olivier",
        family_name="DUMAS",
        specialty=specialty("G15_10/SM26"),
        organization=hospital,
        practice_setting=practice_setting("ETABLISSEMENT"),
    )
    patient = Patient(
        ins=INS("279035121518989", oid=INS.OID_TEST_NIR, qualified=True),
        birth_family_name="PAT-TROIS",
        given_names=("DOMINIQUE", "MARIE-LOUISE"),
        birth_date=date(1979, 3, 28),
        sex=Sex.F,
        birthplace_insee="51215",
    )
    start = datetime(2024, 5, 2, 9, 0, tzinfo=TZ)
    doc = Document.from_pdf(
        pdf,
        type="LDL-SES",
        patient=patient,
        author=author,
        custodian=hospital,
        encounter=Encounter(facility_type=facility_type("SA01"), start=start),
        service_event=ServiceEvent(start=start),
        effective_time=start,
    )
    return doc.to_xml()


def raw_build_factory(template: bytes) -> Callable[[bytes], bytes]:
    """The same tree as the SDK's output, rebuilt by lxml around a fresh base64 payload."""
    root = etree.fromstring(template)
    text = root.find(f"{H}component/{H}nonXMLBody/{H}text")
    assert text is not None
    text.text = ""
    skeleton = etree.tostring(root)

    def build(pdf: bytes) -> bytes:
        tree = etree.fromstring(skeleton)
        node = tree.find(f"{H}component/{H}nonXMLBody/{H}text")
        assert node is not None
        node.text = base64.b64encode(pdf).decode("ascii")
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")

    return build


def raw_read(xml: bytes) -> bytes:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    root = etree.fromstring(xml, parser)
    node = root.find(f"{H}component/{H}nonXMLBody/{H}text")
    assert node is not None
    return base64.b64decode(node.text or "")


def sdk_read(xml: bytes) -> bytes:
    payload = Document.read(xml).payload
    assert payload is not None
    return payload


def timed(fn: Callable[[bytes], bytes], arg: bytes, iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        fn(arg)
    return (time.process_time() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload-kb", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pdf = make_pdf(args.payload_kb)
    xml = sdk_build(pdf)
    assert raw_read(xml) == sdk_read(xml) == pdf
    raw_build = raw_build_factory(xml)
    results: dict[str, tuple[list[float], list[float]]] = {
        "build": ([], []),
        "read": ([], []),
    }
    for _ in range(args.repeat):
        results["build"][0].append(timed(raw_build, pdf, args.iterations))
        results["build"][1].append(timed(sdk_build, pdf, args.iterations))
        results["read"][0].append(timed(raw_read, xml, args.iterations))
        results["read"][1].append(timed(sdk_read, xml, args.iterations))
    print(
        f"payload {args.payload_kb} KB, CDA {len(xml)} bytes, {args.iterations} it x {args.repeat}"
    )
    for name, (raw, sdk) in results.items():
        r, s = statistics.median(raw), statistics.median(sdk)
        print(f"{name:6s} raw {r * 1e3:8.3f} ms  sdk {s * 1e3:8.3f} ms  ratio {s / r:5.2f}")


if __name__ == "__main__":
    main()
