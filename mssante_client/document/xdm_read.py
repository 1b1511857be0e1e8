"""Read any ``IHE_XDM.ZIP`` safely, verify it, and report what is odd about it.

Steps (digest ``cda-xdm.md`` §3 "Safe parsing for a receiver"):

1. open the zip through :class:`.archive.SafeArchive` (zip slip, bombs, encrypted entries and
   links raise :class:`UnsafeArchiveError`; a malformed zip raises :class:`ArchiveError`);
2. index entries case-insensitively, ignore junk, look for README/INDEX and every
   ``IHE_XDM/<subset>/METADATA.XML``;
3. parse METADATA.XML with DTDs, entities and network off (XXE / billion laughs raise
   :class:`XMLError`);
4. resolve each document's URI (subset directory first, then ``IHE_XDM/``), stream its bytes
   while computing SHA-1 and size, and compare them with the metadata;
5. parse each CDA (large base64 payloads are decoded while streaming, never held as text) and
   cross-check typeCode, uniqueId, patientId and creationTime against its header.

Real-world quirks become :class:`Finding` objects on the result instead of crashes; in ``strict``
mode a size or hash mismatch raises :class:`IntegrityError`. Nothing is ever written to disk,
rendered or executed.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import IO, Any, ClassVar, cast

from lxml import etree

from ..errors import ContentError, DocumentError, IntegrityError, InvalidInputError, XMLError
from ..identity import INS
from ._media import sniff_media_type
from ._xml import safe_parse
from .archive import ReadLimits, SafeArchive
from .cda_read import parse_ts, read_cda
from .document import Document
from .models import Body
from .xdm_metadata import (
    DocumentEntry,
    Finding,
    Metadata,
    Severity,
    cx_id,
    parse_dtm,
    parse_metadata,
)

__all__ = [
    "Finding",
    "PackagedDocument",
    "ReadLimits",
    "Severity",
    "Subset",
    "XDMPackage",
    "read_xdm",
]

_log = logging.getLogger("mssante_client.document")

HL7 = "urn:hl7-org:v3"
_ISO9660 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_METADATA = re.compile(r"^(IHE_XDM/[^/]+)/METADATA\.XML$")
_MISPLACED_METADATA = re.compile(r"^(IHE_XDM/[^/]*)METADATA\.XML$")
#: OIDs of a real or test INS-NIR / INS-NIA (digest §1).
INS_OIDS = frozenset({INS.OID_NIR, INS.OID_NIA, INS.OID_TEST_NIR, INS.OID_TEST_NIA})
#: Entries larger than this are parsed while streaming (payload decoded on the fly).
STREAM_THRESHOLD = 512 * 1024


@dataclass(frozen=True, slots=True)
class PackagedDocument:
    """A document listed in METADATA.XML, with what was found for it in the archive.

    ``document`` is the parsed CDA (header + body) when the file is a CDA the SDK could read;
    ``content`` holds the raw bytes of any other file (or of the CDA when asked with
    ``keep_bytes=True``).
    """

    entry: DocumentEntry
    path: str | None
    verified: bool
    document: Document | None = None
    content: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Subset:
    """One submission set directory (``IHE_XDM/SUBSET01``): its metadata and documents."""

    directory: str
    metadata: Metadata
    documents: tuple[PackagedDocument, ...]


# --- streaming CDA reader ------------------------------------------------------------------


class _B64Sink:
    """Incremental base64 decoder: whitespace-tolerant, strict on the alphabet.

    ``binascii`` strict mode checks the alphabet in C (faster than ``b64decode(validate=True)``
    which runs a regular expression first); whitespace (line breaks) is dropped before. Invalid
    input does not raise inside the parser callback: it marks the payload ``invalid``.
    """

    _WHITESPACE = b" \t\r\n\f\v"
    _WHITESPACE_BYTES = tuple(bytes([c]) for c in _WHITESPACE)

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self._rest = b""
        self.invalid = False

    def feed(self, text: str) -> None:
        if self.invalid:
            return
        try:
            data = text.encode("ascii")
            if any(ws in data for ws in self._WHITESPACE_BYTES):  # memchr: cheaper than a copy
                data = data.translate(None, self._WHITESPACE)
            if self._rest:
                data = self._rest + data
            cut = len(data) - len(data) % 4
            self._rest = data[cut:]
            if cut:
                self.parts.append(binascii.a2b_base64(data[:cut], strict_mode=True))
        except (UnicodeEncodeError, binascii.Error):
            self.invalid = True
            self.parts.clear()

    def close(self) -> bytes | None:
        if self.invalid or self._rest:
            self.invalid = True
            return None
        return b"".join(self.parts)


class _StripPayload:
    """lxml parser target: builds the tree but decodes ``nonXMLBody/text`` instead of storing it."""

    _TEXT = f"{{{HL7}}}text"
    _NON_XML = f"{{{HL7}}}nonXMLBody"

    def __init__(self) -> None:
        self.builder: Any = etree.TreeBuilder()  # lxml-stubs lack the nsmap argument
        self.stack: list[str] = []
        self.sink: _B64Sink | None = None
        self.declared: str | None = None
        self.refused = False

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str, str] | None = None) -> None:
        if (
            tag == self._TEXT
            and self.stack
            and self.stack[-1] == self._NON_XML
            and attrib.get("representation") == "B64"
        ):
            self.sink = _B64Sink()
            self.declared = attrib.get("mediaType")
        self.stack.append(tag)
        self.builder.start(tag, attrib, {(k or None): v for k, v in (nsmap or {}).items()})

    def end(self, tag: str) -> None:
        self.stack.pop()
        self.builder.end(tag)

    def data(self, text: str) -> None:
        if self.sink is not None and self.stack and self.stack[-1] == self._TEXT:
            self.sink.feed(text)
        else:
            self.builder.data(text)

    def comment(self, text: str) -> None:
        self.builder.comment(text)

    def pi(self, target: str, data: str | None = None) -> None:
        self.builder.pi(target, data)

    def doctype(self, *_: object) -> None:
        self.refused = True
        raise XMLError("a DOCTYPE is not allowed")

    def close(self) -> etree._Element:
        root: etree._Element = self.builder.close()
        return root


@dataclass(frozen=True, slots=True)
class _Parsed:
    root: etree._Element
    payload: bytes | None
    declared_media_type: str | None
    payload_invalid: bool


def _parse_streaming(chunks: Iterable[bytes], what: str) -> _Parsed:
    """Parse XML from chunks safely: the tree without the level-1 payload, and the payload."""
    target = _StripPayload()
    parser = etree.XMLParser(
        target=cast(Any, target),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    )
    try:
        for chunk in chunks:
            parser.feed(chunk)
        root: etree._Element = parser.close()
    except (etree.XMLSyntaxError, ValueError, AssertionError, XMLError) as exc:
        if target.refused:
            raise XMLError(f"{what}: a DOCTYPE is not allowed (DTD and entities)") from exc
        raise XMLError(f"{what}: not well-formed XML") from exc
    sink = target.sink
    payload = sink.close() if sink is not None else None
    return _Parsed(root, payload, target.declared, sink is not None and sink.invalid)


# --- cross-checks --------------------------------------------------------------------------


def _h(root: etree._Element, path: str) -> etree._Element | None:
    found = root.find(path, {"h": HL7})
    return found


def _utc_digits(ts: str) -> str | None:
    try:
        moment = parse_ts(ts)
    except (InvalidInputError, ValueError):
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S")


def _cross_check(root: etree._Element, entry: DocumentEntry, name: str) -> list[Finding]:
    """Metadata vs CDA header (digest §3 step 5): typeCode, uniqueId, patientId, creationTime."""
    out: list[Finding] = []

    def mismatch(what: str, severity: Severity = Severity.WARNING) -> None:
        out.append(
            Finding(
                f"mismatch-{what}",
                severity,
                name,
                f"METADATA.XML {what} differs from the CDA header",
            )
        )

    code = _h(root, "h:code")
    if entry.type_code and code is not None and entry.type_code.code != code.get("code"):
        mismatch("typeCode")
    doc_id = _h(root, "h:id")
    if doc_id is not None and entry.unique_id:
        root_oid, ext = doc_id.get("root", ""), doc_id.get("extension")
        accepted = {f"{root_oid}^{ext}", f"{root_oid}.{ext}"} if ext else {root_oid}
        if entry.unique_id not in accepted:
            mismatch("uniqueId")
    if entry.patient_id:
        ident, oid = cx_id(entry.patient_id)
        ids = {
            (i.get("extension"), i.get("root"))
            for i in root.findall("h:recordTarget/h:patientRole/h:id", {"h": HL7})
            if i.get("root")
        }  # an id with a nullFlavor says nothing to compare
        if ids and (ident, oid) not in ids:
            source = cx_id(entry.source_patient_id) if entry.source_patient_id else None
            has_ins = any(oid in INS_OIDS for _, oid in ids)
            if source in ids and not has_ins:  # XDS affinity-domain id (not France: ECO.2.1.2)
                out.append(
                    Finding(
                        "patientId-not-in-cda",
                        Severity.WARNING,
                        name,
                        "patientId is not an id of the CDA recordTarget (sourcePatientId is)",
                    )
                )
            else:
                mismatch("patientId", Severity.ERROR)
    eff = _h(root, "h:effectiveTime")
    if entry.creation_time and eff is not None and eff.get("value"):
        declared = parse_dtm(entry.creation_time)
        cda_utc = _utc_digits(eff.get("value", ""))
        if declared is None:
            out.append(
                Finding(
                    "metadata-bad-time",
                    Severity.WARNING,
                    name,
                    "creationTime is not a valid UTC time",
                )
            )
        elif cda_utc is not None:
            precision = min(len(entry.creation_time.strip()), 14)
            if declared.strftime("%Y%m%d%H%M%S")[:precision] != cda_utc[:precision]:
                mismatch("creationTime")
    return out


# --- the reader ----------------------------------------------------------------------------


class _Reader:
    def __init__(
        self,
        archive: SafeArchive,
        *,
        strict: bool,
        keep_bytes: bool,
        schema: etree.XMLSchema | None,
    ) -> None:
        self.archive = archive
        self.schema = schema
        self.strict = strict
        self.keep_bytes = keep_bytes
        self.findings: list[Finding] = []
        self.keys = {name.upper(): name for name in archive.names()}

    def note(self, code: str, severity: Severity, entry: str | None, message: str) -> None:
        self.findings.append(Finding(code, severity, entry, message))

    def run(self) -> tuple[Subset, ...]:
        keys = self.keys
        if "README.TXT" not in keys:
            self.note("missing-readme", Severity.WARNING, None, "no README.TXT at the root")
        if "INDEX.HTM" not in keys:
            self.note("missing-index", Severity.WARNING, None, "no INDEX.HTM at the root")
        for key, name in keys.items():
            if key.startswith("IHE_XDM/") and not all(
                _ISO9660.match(p) for p in name.split("/")[1:]
            ):
                self.note(
                    "name-not-iso9660",
                    Severity.INFO,
                    name,
                    "file name is not ISO-9660 level 1 (upper-case 8.3)",
                )
        if not any(k.startswith("IHE_XDM/") for k in keys):
            self.note("no-ihe-xdm", Severity.ERROR, None, "the archive has no IHE_XDM directory")
            return ()
        subsets: list[tuple[str, str, bool]] = []
        for key, name in sorted(keys.items()):
            if m := _METADATA.match(key):
                subsets.append((name[: len(m.group(1))], name, False))
            elif m := _MISPLACED_METADATA.match(key):
                self.note(
                    "metadata-misplaced",
                    Severity.WARNING,
                    name,
                    "METADATA.XML is not inside a subset directory",
                )
                subsets.append((name[: len(m.group(1))], name, True))
        if not subsets:
            self.note("no-metadata", Severity.ERROR, None, "no IHE_XDM/<subset>/METADATA.XML")
        elif len(subsets) > 1:
            self.note(
                "several-subsets",
                Severity.INFO,
                None,
                f"{len(subsets)} submission sets in one archive",
            )
        return tuple(self._subset(*subset) for subset in subsets)

    def _subset(self, directory: str, meta_name: str, misplaced: bool) -> Subset:
        raw = self.archive.read(meta_name)
        metadata = parse_metadata(raw, findings=self.findings, entry=meta_name)
        if self.schema is not None and not self.schema.validate(safe_parse(raw)):
            self.note(
                "metadata-schema-invalid",
                Severity.WARNING,
                meta_name,
                "METADATA.XML does not validate against the ebRS 3.0 schema",
            )
        docs = tuple(self._document(directory, e, misplaced) for e in metadata.documents)
        return Subset(directory, metadata, docs)

    def _resolve(self, directory: str, entry: DocumentEntry, misplaced: bool) -> str | None:
        uri = entry.uri.strip()
        label = entry.entry_id or uri
        if not uri:
            self.note("uri-missing", Severity.ERROR, label, "document entry without URI")
            return None
        if uri.startswith("/") or "\\" in uri or ".." in uri.split("/"):
            self.note("uri-unsafe", Severity.ERROR, label, "document URI leaves the package")
            return None
        # A misplaced METADATA.XML ("IHE_XDM/SUBSET01METADATA.xml", Direct RI) prefixes names.
        first = f"{directory}{uri}" if misplaced else f"{directory}/{uri}"
        for number, candidate in enumerate((first, f"IHE_XDM/{uri}")):
            name = self.keys.get(posixpath.normpath(candidate).upper())
            if name is None:
                continue
            if number == 1:
                self.note(
                    "uri-relative-to-ihe-xdm",
                    Severity.INFO,
                    name,
                    "URI is relative to IHE_XDM/, not to the subset directory",
                )
            if not name.endswith(uri):
                self.note(
                    "uri-case-mismatch", Severity.INFO, name, "URI and file name differ in case"
                )
            return name
        self.note("uri-unresolved", Severity.ERROR, label, "no file in the archive for this URI")
        return None

    def _verify(self, entry: DocumentEntry, name: str, size: int, sha1: str) -> bool:
        ok = True
        if entry.size is None:
            self.note("missing-size", Severity.WARNING, name, "no size in METADATA.XML")
        elif entry.size != size:
            ok = False
            self._integrity("size-mismatch", name, "size differs from METADATA.XML")
        if not entry.hash:
            self.note("missing-hash", Severity.WARNING, name, "no SHA-1 hash in METADATA.XML")
        elif entry.hash.strip().lower() != sha1:
            ok = False
            self._integrity("hash-mismatch", name, "SHA-1 differs from METADATA.XML")
        return ok and entry.size is not None and bool(entry.hash)

    def _integrity(self, code: str, name: str, message: str) -> None:
        if self.strict:
            raise IntegrityError(f"{name}: {message}")
        self.note(code, Severity.ERROR, name, message)

    def _document(self, directory: str, entry: DocumentEntry, misplaced: bool) -> PackagedDocument:
        name = self._resolve(directory, entry, misplaced)
        if name is None:
            return PackagedDocument(entry, None, verified=False)
        digest = hashlib.sha1(usedforsecurity=False)
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for chunk in self.archive.iter_chunks(name):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        found = self.archive.find(name)
        looks_xml = entry.mime_type.endswith("xml") or name.upper().endswith(".XML")
        big = found is not None and found.size > STREAM_THRESHOLD
        if looks_xml and big and not self.keep_bytes:
            # Large CDA: parsed while it inflates, its payload decoded on the fly.
            parsed = _parse_streaming(counted(), f"document {name}")
            verified = self._verify(entry, name, size, digest.hexdigest())
            return PackagedDocument(entry, name, verified, self._cda(parsed, entry, name, None))
        content = b"".join(counted())
        verified = self._verify(entry, name, size, digest.hexdigest())
        document = None
        if looks_xml:
            parsed = _parse_streaming([content], f"document {name}")
            document = self._cda(parsed, entry, name, content)
        keep = document is None or self.keep_bytes
        return PackagedDocument(entry, name, verified, document, content if keep else None)

    def _cda(
        self, parsed: _Parsed, entry: DocumentEntry, name: str, source: bytes | None
    ) -> Document | None:
        root = parsed.root
        if root.tag != f"{{{HL7}}}ClinicalDocument":
            self.note("not-cda", Severity.INFO, name, "XML document that is not a CDA")
            return None
        self.findings.extend(_cross_check(root, entry, name))
        realm = _h(root, "h:realmCode")
        if realm is None or realm.get("code") != "FR":
            self.note("not-french-cda", Severity.INFO, name, "CDA without realmCode FR")
        try:
            header, body = read_cda(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        except (DocumentError, ContentError) as exc:
            self.note(
                "cda-unreadable",
                Severity.WARNING,
                name,
                f"CDA header not readable as a French CDA ({type(exc).__name__})",
            )
            return None
        if parsed.payload_invalid:
            self.note(
                "payload-not-base64",
                Severity.ERROR,
                name,
                "the level-1 payload is not valid base64",
            )
            return None
        payload = parsed.payload
        if payload is not None:
            body = Body(
                level=1,
                media_type=sniff_media_type(payload),
                declared_media_type=parsed.declared_media_type,
                payload=payload,
            )
        return Document(header, body, source=source)


@dataclass(frozen=True, slots=True)
class XDMPackage:
    """An IHE XDM package as read: subsets, documents and findings.

    ``XDMPackage.read(data)`` reads an archive; ``XDMPackage.build(documents)`` makes one.
    """

    subsets: tuple[Subset, ...]
    findings: tuple[Finding, ...] = ()

    DEFAULT_LIMITS: ClassVar[ReadLimits] = ReadLimits()

    @classmethod
    def read(
        cls,
        source: bytes | IO[bytes] | Path | str,
        *,
        limits: ReadLimits | None = None,
        strict: bool = False,
        keep_bytes: bool = False,
        metadata_schema: etree.XMLSchema | None = None,
    ) -> XDMPackage:
        """Read and verify an archive (bytes, binary file or path). See the module docstring.

        ``strict`` turns size/hash mismatches into :class:`IntegrityError`; ``keep_bytes``
        keeps each document's raw bytes; ``metadata_schema`` (ebRS 3.0 ``lcm.xsd`` loaded by
        the caller, e.g. from the validation kit) adds a ``metadata-schema-invalid`` finding.
        """
        with SafeArchive(source, limits or cls.DEFAULT_LIMITS) as archive:
            reader = _Reader(archive, strict=strict, keep_bytes=keep_bytes, schema=metadata_schema)
            subsets = reader.run()
        _log.debug(
            "XDM package read: %d subset(s), %d finding(s)", len(subsets), len(reader.findings)
        )
        return cls(subsets, tuple(reader.findings))

    @staticmethod
    def build(documents: Sequence[Document], **options: Any) -> bytes:
        """The ``IHE_XDM.ZIP`` bytes for documents of one patient (see :func:`.xdm.build_xdm`)."""
        from .xdm import build_xdm

        return build_xdm(documents, **options)

    @property
    def documents(self) -> list[Document]:
        """Every CDA the SDK could read, in package order."""
        return [d.document for s in self.subsets for d in s.documents if d.document is not None]

    @property
    def entries(self) -> list[PackagedDocument]:
        return [d for s in self.subsets for d in s.documents]

    @property
    def metadata(self) -> Metadata | None:
        """The metadata of the first (usually only) subset."""
        return self.subsets[0].metadata if self.subsets else None

    def codes(self) -> set[str]:
        """Finding codes, handy for tests and triage."""
        return {f.code for f in self.findings}

    @property
    def ok(self) -> bool:
        """No ERROR finding and every listed document found and verified."""
        return (
            bool(self.subsets)
            and all(f.severity is not Severity.ERROR for f in self.findings)
            and all(d.verified for d in self.entries)
        )


def read_xdm(source: bytes | IO[bytes] | Path | str, **options: Any) -> XDMPackage:
    """Shortcut for :meth:`XDMPackage.read`."""
    return XDMPackage.read(source, **options)
