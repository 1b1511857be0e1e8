"""``mssante document``: build, inspect, package and validate CDA documents and XDM packages.

A thin shell over :mod:`mssante_client.document`: every rule lives in the library. ``--json``
prints one JSON document on stdout; SDK errors become one line on stderr and exit code 2. The
``inspect`` output names identifiers (INS, IdNatPS) because that is what it is asked for; it
never prints the patient's name or birth date.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..document import Document, HeaderSpec
from ..errors import ConfigurationError, DocumentError
from ._output import print_json, progress, progress_done

__all__ = ["inspect_source", "register"]

_ZIP_MAGIC = b"PK\x03\x04"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "document",
        help="build, inspect, package and validate CDA R2 documents / IHE_XDM.ZIP",
        description="CDA R2 documents (CI-SIS) and IHE_XDM packages for MSSanté.",
    )
    sub = parser.add_subparsers(dest="document_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="build a level-1 CDA (or an IHE_XDM.ZIP) from a file")
    build.add_argument("--type", help="document type: short name (LDL-SES) or J07 code")
    payload = build.add_mutually_exclusive_group(required=True)
    payload.add_argument("--pdf", type=Path, help="PDF to embed")
    payload.add_argument(
        "--payload", type=Path, help="PDF, JPEG, TIFF, RTF or UTF-8 text to embed (sniffed)"
    )
    build.add_argument(
        "--header", type=Path, required=True, help="header JSON (see docs/documents.md)"
    )
    build.add_argument(
        "-o", "--output", type=Path, required=True, help="output .xml (CDA) or .zip (IHE_XDM)"
    )
    build.add_argument("--json", action="store_true", help="print a JSON summary")
    build.set_defaults(handler=_build)

    inspect = sub.add_parser("inspect", help="describe the CDA(s) in a CDA, XDM zip or .eml")
    inspect.add_argument("file", type=Path)
    inspect.add_argument("--json", action="store_true", help="print JSON (a list of objects)")
    inspect.set_defaults(handler=_inspect)

    package = sub.add_parser("package", help="package CDA files into an IHE_XDM.ZIP")
    package.add_argument("cda", type=Path, nargs="+", help="CDA XML files (one patient)")
    package.add_argument("-o", "--output", type=Path, required=True)
    package.add_argument("--json", action="store_true", help="print a JSON summary")
    package.set_defaults(handler=_package)

    validate = sub.add_parser(
        "validate", help="check a CDA or IHE_XDM.ZIP against the ANS validation kit"
    )
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--kit", type=Path, help="validation kit directory (default: $MSSANTE_VALIDATION_KIT)"
    )
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(handler=_validate)


# --- helpers --------------------------------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(what, f"cannot read {path}: {exc.strerror}") from exc


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from exc


def describe(doc: Document, source: str | None = None) -> dict[str, Any]:
    """The ``inspect`` record of one document (identifiers, codes, payload facts)."""
    header = doc.header
    ins = header.patient.ins
    return {
        "source": source,
        "type_code": header.code.code,
        "type_code_system": header.code.code_system,
        "type_name": doc.type.name,
        "title": header.title,
        "id": str(header.id),
        "set_id": str(header.set_id),
        "version": header.version,
        "replaces": str(header.replaces) if header.replaces else None,
        "effective_time": header.effective_time.isoformat(),
        "confidentiality": header.confidentiality.value,
        "patient_ins": ins.value if ins else None,
        "patient_ins_root": ins.oid if ins else None,
        "author_id": header.author.id.extension,
        "author_id_root": header.author.id.root,
        "custodian_id": header.custodian.id.extension,
        "custodian_id_root": header.custodian.id.root,
        "level": doc.level,
        "template_ids": list(doc.model_template_ids),
        "class_code": doc.class_code.code,
        "format_code": doc.format_code.code,
        "payload_media_type": doc.media_type,
        "payload_declared_media_type": doc.body.declared_media_type,
        "payload_size": len(doc.payload) if doc.payload is not None else None,
        "payload_sha1": doc.payload_sha1,
        "sections": [s.title for s in doc.sections],
    }


def _documents_in_zip(data: bytes, source: str) -> list[tuple[Document, str]]:
    from ..document.xdm_read import read_xdm

    package = read_xdm(data)
    return [
        (p.document, f"{source}!{p.path}")
        for p in package.entries
        if p.document is not None and p.path is not None
    ]


def _looks_like_cda(name: str, content_type: str, payload: bytes) -> bool:
    xml_type = content_type in ("text/xml", "application/xml", "application/hl7-v3+xml")
    named = name.lower().endswith(".xml")
    return (xml_type or named) and b"ClinicalDocument" in payload[:4096]


def _documents_in_eml(data: bytes, source: str) -> list[tuple[Document, str]]:
    """CDA documents of a message: in IHE_XDM zip attachments, or attached as XML."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    found: list[tuple[Document, str]] = []
    parts = message.walk() if isinstance(message, EmailMessage) else iter(())
    for part in parts:
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            continue
        label = f"{source}!{name or part.get_content_type()}"
        if payload[:4] == _ZIP_MAGIC:
            found += _documents_in_zip(payload, label)
        elif _looks_like_cda(name, part.get_content_type(), payload):
            found.append((Document.read(payload), label))
    return found


def inspect_source(path: Path) -> list[dict[str, Any]]:
    """Describe every CDA in ``path``: a CDA, an IHE_XDM zip, or an .eml carrying them."""
    data = _read(path, "file")
    source = str(path)
    if data[:4] == _ZIP_MAGIC:
        docs = _documents_in_zip(data, source)
    elif path.suffix.lower() == ".eml" or data[:4096].lower().find(b"mime-version:") >= 0:
        docs = _documents_in_eml(data, source)
    else:
        docs = [(Document.read(data), source)]
    return [describe(doc, label) for doc, label in docs]


# --- handlers -------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    raw = _read(args.header, "header")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError("header", f"not valid JSON: {exc}") from exc
    spec = HeaderSpec.parse(data)
    kind = args.type or spec.type
    if not kind:
        raise DocumentError("type", "give --type or a 'type' in the header JSON")
    if args.pdf is not None:
        doc = Document.from_pdf(_read(args.pdf, "pdf"), type=kind, **spec.builder_arguments())
    else:
        doc = Document.from_payload(
            _read(args.payload, "payload"), type=kind, **spec.builder_arguments()
        )
    if args.output.suffix.lower() == ".zip":
        from ..document.xdm import build_xdm

        _write(args.output, build_xdm([doc]))
    else:
        _write(args.output, doc.to_xml())
    if args.json:
        print_json({"output": str(args.output), **describe(doc)})
    else:
        print(f"{args.output}: {doc.type.name} v{doc.header.version} id={doc.header.id}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    records = inspect_source(args.file)
    if args.json:
        print_json(records)
    else:
        for r in records:
            payload = (
                f" payload={r['payload_media_type']} {r['payload_size']} bytes"
                if r["level"] == 1
                else f" sections={len(r['sections'])}"
            )
            print(f"{r['source']}: {r['type_code']} {r['title']!r} level={r['level']}{payload}")
    return 0 if records else 1


def _package(args: argparse.Namespace) -> int:
    from ..document.xdm import build_xdm

    documents = [Document.read(_read(p, "cda")) for p in args.cda]
    _write(args.output, build_xdm(documents))
    if args.json:
        print_json({"output": str(args.output), "documents": [describe(d) for d in documents]})
    else:
        print(f"{args.output}: {len(documents)} document(s)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ..document.conformance import validate

    progress("validating (the first run compiles the schematrons)...")
    try:
        report = validate(args.file, kit=args.kit)
    finally:
        progress_done()
    if args.json:
        print_json(report.model_dump(mode="json"))
    else:
        print(f"{args.file}: {'VALID' if report.valid else 'INVALID'} ({', '.join(report.checks)})")
        for issue in report.errors:
            where = f" @ {issue.location}" if issue.location else ""
            print(f"  [{issue.check}] {issue.message}{where}")
    return 0 if report.valid else 1
