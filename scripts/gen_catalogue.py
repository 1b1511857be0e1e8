"""Generate ``mssante_client/data/document_types.json`` (J07) and ``value_sets.json`` (J01/J02/J04).

Usage: ``python scripts/gen_catalogue.py [PATH/TO/JDV_J07_XdsTypeCode_CISIS.xml]`` (default: the
validation kit, ``$MSSANTE_VALIDATION_KIT`` or ``../shared/validation``).

The kit file is NOT shipped: only the generated JSON is. J07 gives code, code system and display
name of every document type (XDS typeCode). What J07 does not give is added from the table below:
short names of the CI-SIS volets, the structured model templateIds and XDS formatCodes (digest
§2, verified in ANS files) and the class code (J06 / TRE_A03). The ANS type→class table ASS_X04
is not in the kit: class codes of types not listed in ``OVERLAY`` are inferred from the display
name by ``infer_class`` and are marked ``"class_code_inferred": true`` in the data.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lxml import etree

SVS = "{urn:ihe:iti:svs:2008}"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mssante_client" / "data" / "document_types.json"
OUT_VS = ROOT / "mssante_client" / "data" / "value_sets.json"
JDV_DIR = "ansforge-TestContenuCDA-3-0/jeuxDeValeurs"
J07_REL = f"{JDV_DIR}/JDV_J07_XdsTypeCode_CISIS.xml"
#: Header value sets whose codes the builder checks and whose display names it fills in.
VALUE_SETS = {
    "J01": "JDV_J01_XdsAuthorSpecialty_CISIS.xml",
    "J02": "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
    "J04": "JDV_J04_XdsPracticeSettingCode_CISIS.xml",
}

#: TRE_A03 ClasseDocument (J06), code system 1.2.250.1.213.1.1.4.1.
CLASSES = {
    "10": "Compte rendu",
    "11": "Synthèse",
    "31": "Imagerie médicale",
    "42": "Prescription",
    "43": "Dispensation",
    "44": "Plan de soins, protocole de soins",
    "45": "Traitement administré",
    "52": "Certificat, déclaration",
    "60": "Remboursement",
    "90": "Document du patient",
    "95": "Document de gestion",
    "99": "Document technique",
}

FMT_ANS = "1.2.250.1.213.1.1.4.2.282"
FMT_IHE = "1.3.6.1.4.1.19376.1.2.3"

#: Types without a CI-SIS structured model: exchanged as level 1 (IHE XDS-SD, PDF).
XDS_SD_PDF = ("urn:ihe:iti:xds-sd:pdf:2008", FMT_IHE)
XDS_SD: list[tuple[str, str | None]] = [("1.3.6.1.4.1.19376.1.2.20", None)]

#: code -> (short names, class code, structured format code or None, model templateIds)
OVERLAY: dict[str, tuple[list[str], str, tuple[str, str] | None, list[tuple[str, str | None]]]] = {
    "11490-0": (
        ["LDL-SES"],
        "11",
        ("urn:asip:ci-sis:ldl-ses:2017", FMT_ANS),
        [("1.2.250.1.213.1.1.1.29", "2022.01")],
    ),
    "18761-7": (
        ["LDL-EES"],
        "11",
        ("urn:asip:ci-sis:ldl-ees:2017", FMT_ANS),
        [("1.2.250.1.213.1.1.1.21", "2022.01")],
    ),
    "11502-2": (
        ["CR-BIO"],
        "10",
        ("urn:ihe:lab:xd-lab:2008", FMT_IHE),
        [("1.3.6.1.4.1.19376.1.3.3", None), ("1.2.250.1.213.1.1.1.55", "2024.01")],
    ),
    "18748-4": (
        ["CR-IMG"],
        "10",
        ("urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", FMT_IHE),
        [
            ("1.2.840.10008.9.1", None),
            ("1.2.840.10008.9.20", None),
            ("1.2.840.10008.9.21", None),
            ("1.2.250.1.213.1.1.1.45", "2024.01"),
        ],
    ),
    "34874-8": (["CR-OP"], "10", XDS_SD_PDF, XDS_SD),
    "70004-7": (["CR-ACTE", "CR-ACTE-DIAG"], "10", XDS_SD_PDF, XDS_SD),
    "11505-5": (["CR-ACTE-THERA"], "10", XDS_SD_PDF, XDS_SD),
    "11488-4": (["CR-CONS", "CR-CONSULT"], "10", XDS_SD_PDF, XDS_SD),
    "85208-7": (["TLM-CR"], "10", XDS_SD_PDF, XDS_SD),
    "75496-0": (["TLM-DA"], "42", None, []),
    "77436-4": (
        ["CR-ANEST"],
        "10",
        ("urn:asip:ci-sis:cr-anest:2020", FMT_ANS),
        [("1.2.250.1.213.1.1.1.40", None)],
    ),
    "34749-2": (
        ["CR-CPA"],
        "10",
        ("urn:asip:ci-sis:cr-cpa:2020", FMT_ANS),
        [("1.2.250.1.213.1.1.1.41", None)],
    ),
    "SYNTH": (
        ["VSM"],
        "11",
        ("urn:asip:ci-sis:vsm:2012", FMT_ANS),
        [("1.2.250.1.213.1.1.1.13", None)],
    ),
    "60591-5": (
        ["IPS-FR"],
        "11",
        ("urn:ihe:pcc:ips:2020", FMT_IHE),
        [("2.16.840.1.113883.10.22.1.1", None), ("1.2.250.1.213.1.1.1.51", None)],
    ),
    "34112-3": (["CR-HOSP"], "10", XDS_SD_PDF, XDS_SD),
    "15507-7": (["CR-URG"], "10", XDS_SD_PDF, XDS_SD),
    "60568-3": (["CR-ACP"], "10", XDS_SD_PDF, XDS_SD),
    "96349-6": (["LETTRE-ADRESSAGE"], "11", XDS_SD_PDF, XDS_SD),
    "IMG-KOS": ([], "31", None, []),
}


def infer_class(code: str, display: str) -> str:
    """Best guess of the TRE_A03 class when ASS_X04 is not at hand (documented as inferred)."""
    d = display.lower()
    if code.startswith("DOCPAT") or code.startswith("EXPPAT"):
        return "90"
    if code == "REMB":
        return "60"
    if code == "FEUILLE-DE-STYLE":
        return "99"
    if code.startswith(("PRESC", "DEMANDE")) or d.startswith(("prescription", "demande")):
        return "42"
    if "renouvellement ordonnance" in d:
        return "42"
    if d.startswith("dispensation"):
        return "43"
    if d.startswith(("plan", "protocole", "projet", "planification")):
        return "44"
    if "administration de médicaments" in d:
        return "45"
    if d.startswith(("certificat", "attestation", "autorisation")) or code == "CERT_DECL":
        return "52"
    if "image" in d or "imagerie" in d:
        return "31"
    if d.startswith(("synthèse", "lettre", "note de transfert", "fiche de transfert")):
        return "11"
    if d.startswith(
        ("document administratif", "copie", "fiche contacts", "notification", "export")
    ):
        return "95"
    return "10"


def default_kit_file() -> Path:
    kit = os.environ.get("MSSANTE_VALIDATION_KIT") or str(ROOT.parent / "shared" / "validation")
    return Path(kit) / J07_REL


def generate(j07: Path) -> dict[str, object]:
    tree = etree.parse(
        str(j07), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    )
    vs = tree.getroot().find(SVS + "ValueSet")
    assert vs is not None
    types = []
    for c in vs.iter(SVS + "Concept"):
        code, system, display = c.get("code"), c.get("codeSystem"), c.get("displayName")
        short, cls, fmt, templates = OVERLAY.get(code, ([], None, None, []))
        inferred = cls is None
        cls = cls or infer_class(code, display)
        types.append(
            {
                "code": code,
                "code_system": system,
                "display_name": display,
                "short_names": short,
                "class_code": cls,
                "class_display": CLASSES[cls],
                "class_code_inferred": inferred,
                "format_code": ({"code": fmt[0], "code_system": fmt[1]} if fmt else None),
                "template_ids": [{"root": r, "extension": e} for r, e in templates],
            }
        )
    missing = set(OVERLAY) - {t["code"] for t in types}
    if missing:
        raise SystemExit(f"overlay codes absent from J07: {sorted(missing)}")
    return {
        "source": "JDV_J07_XdsTypeCode_CISIS (" + (vs.get("id") or "") + ")",
        "source_date": vs.get("dateMaj"),
        "value_set_oid": vs.get("id"),
        "types": types,
    }


def value_sets(jdv_dir: Path) -> dict[str, object]:
    """J01/J02/J04 as ``{name: {"oid", "date", "concepts": [[code, system, display]...]}}``."""
    out: dict[str, object] = {}
    for name, filename in VALUE_SETS.items():
        tree = etree.parse(
            str(jdv_dir / filename),
            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False),
        )
        vs = tree.getroot().find(SVS + "ValueSet")
        assert vs is not None
        out[name] = {
            "oid": vs.get("id"),
            "date": vs.get("dateMaj"),
            "concepts": [
                [c.get("code"), c.get("codeSystem"), c.get("displayName")]
                for c in vs.iter(SVS + "Concept")
            ],
        }
    return out


def main() -> None:
    j07 = Path(sys.argv[1]) if len(sys.argv) > 1 else default_kit_file()
    data = generate(j07)
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data['types'])} types)")  # type: ignore[arg-type]
    vsets = value_sets(j07.parent)
    OUT_VS.write_text(json.dumps(vsets, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT_VS} ({', '.join(vsets)})")


if __name__ == "__main__":
    main()
