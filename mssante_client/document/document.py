"""The :class:`Document` facade: build a level-1 CDA, read any CDA, version it.

A ``Document`` pairs a :class:`~.models.CdaHeader` with a :class:`~.models.Body`. Built
documents are serialised by :mod:`.cda`; read documents keep their exact source bytes (so a
received CDA is forwarded or packaged byte-for-byte, its hash unchanged).

Example::

    doc = Document.from_pdf(pdf, type="LDL-SES", patient=p, author=a, custodian=c,
                            encounter=e, service_event=s)
    xml = doc.to_xml()
    again = Document.read(xml)            # == doc
    v2 = doc.replace(pdf=new_pdf)         # same setId, versionNumber 2, relatedDocument RPLC
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DocumentError, InvalidInputError
from ._media import sniff_media_type
from .catalogue import (
    CLASS_CODE_SYSTEM,
    DocumentType,
    document_type,
    find_document_type,
    level1_format_code,
)
from .cda import prepare_header, to_xml
from .cda_read import read_cda
from .models import (
    Body,
    CdaHeader,
    Code,
    Confidentiality,
    ConfidentialityFlag,
    Encounter,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    Section,
    ServiceEvent,
)

__all__ = ["Document", "new_oid"]

#: Largest payload accepted in a level-1 CDA (MSSanté messages are capped well below).
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


def new_oid() -> str:
    """A fresh, globally unique OID under ``2.25`` (UUID-derived, ISO/IEC 9834-8).

    Lets a sender identify documents without owning a registered OID root.
    """
    return f"2.25.{uuid.uuid4().int}"


class Document:
    """One CDA R2 document: header, body and (for read documents) the source bytes."""

    __slots__ = ("_source", "body", "confidentiality_flags", "header")

    header: CdaHeader
    body: Body
    confidentiality_flags: frozenset[ConfidentialityFlag]

    def __init__(
        self,
        header: CdaHeader,
        body: Body,
        *,
        confidentiality_flags: Iterable[ConfidentialityFlag | str] = (),
        source: bytes | None = None,
    ) -> None:
        self.header = header
        self.body = body
        try:
            self.confidentiality_flags = frozenset(
                ConfidentialityFlag(f) for f in confidentiality_flags
            )
        except ValueError as exc:
            raise DocumentError("confidentiality_flags", "unknown flag") from exc
        self._source = source

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_payload(
        cls,
        payload: bytes,
        *,
        type: str | DocumentType,
        patient: Patient,
        author: HealthProfessional | Iterable[HealthProfessional],
        custodian: Organization,
        encounter: Encounter,
        service_event: ServiceEvent | Iterable[ServiceEvent],
        legal_authenticator: HealthProfessional | None = None,
        title: str | None = None,
        effective_time: datetime | None = None,
        confidentiality: Confidentiality | str = Confidentiality.N,
        confidentiality_flags: Iterable[ConfidentialityFlag | str] = (),
        document_id: InstanceId | None = None,
        set_id: InstanceId | None = None,
        version: int = 1,
        replaces: InstanceId | None = None,
        language: str = "fr-FR",
        expect: frozenset[str] | None = None,
    ) -> Document:
        """Build a level-1 CDA around ``payload`` (its media type is sniffed, never given).

        ``expect`` restricts the accepted sniffed media types (``from_pdf`` passes PDF only).
        Raises :class:`DocumentError` naming the field, :class:`IdentifierError` for a bad id.
        """
        if not isinstance(payload, bytes | bytearray):
            raise DocumentError("payload", f"expected bytes, got {_type_name(payload)}")
        payload = bytes(payload)
        if not payload:
            raise DocumentError("payload", "is empty")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise DocumentError("payload", f"larger than {MAX_PAYLOAD_BYTES} bytes")
        media = sniff_media_type(payload)
        if expect is not None and media not in expect:
            raise DocumentError(
                "payload", f"content is {media}, expected {' or '.join(sorted(expect))}"
            )
        if media == "application/octet-stream":
            raise DocumentError("payload", "not a PDF, JPEG, TIFF, RTF or UTF-8 text document")
        kind = document_type(type)
        if not kind.code_system[:1].isdigit():
            # J07 lists E1762 (system "ASTM") for XDS metadata; a CDA code needs an OID.
            raise DocumentError("type", f"{kind.code} has no OID code system: not a CDA type")
        authors = (author,) if isinstance(author, HealthProfessional) else tuple(author)
        events = (
            (service_event,) if isinstance(service_event, ServiceEvent) else tuple(service_event)
        )
        now = effective_time or datetime.now(UTC).astimezone().replace(microsecond=0)
        doc_id = document_id or InstanceId(root=new_oid())
        try:
            header = CdaHeader(
                id=doc_id,
                code=kind.type_code,
                title=title or kind.display_name,
                effective_time=now,
                confidentiality=Confidentiality(confidentiality),
                language=language,
                set_id=set_id or InstanceId(root=new_oid()),
                version=version,
                replaces=replaces,
                patient=patient,
                authors=authors,
                custodian=custodian,
                legal_authenticator=legal_authenticator,
                service_events=events,
                encounter=encounter,
            )
        except ValueError as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise DocumentError("confidentiality", "must be N, R or V") from exc
        header = prepare_header(header)
        body = Body(level=1, media_type=media, declared_media_type=media, payload=payload)
        return cls(header, body, confidentiality_flags=confidentiality_flags)

    @classmethod
    def from_pdf(cls, pdf: bytes, **header: Any) -> Document:
        """Build a level-1 CDA carrying a PDF (the bytes must start with ``%PDF-``)."""
        return cls.from_payload(pdf, expect=frozenset({"application/pdf"}), **header)

    @classmethod
    def from_jpeg(cls, jpeg: bytes, **header: Any) -> Document:
        """Build a level-1 CDA carrying a JPEG image (``FF D8 FF``)."""
        return cls.from_payload(jpeg, expect=frozenset({"image/jpeg"}), **header)

    @classmethod
    def from_tiff(cls, tiff: bytes, **header: Any) -> Document:
        """Build a level-1 CDA carrying a TIFF image (``II*\\0`` or ``MM\\0*``)."""
        return cls.from_payload(tiff, expect=frozenset({"image/tiff"}), **header)

    @classmethod
    def from_text(cls, text: str, **header: Any) -> Document:
        """Build a level-1 CDA carrying plain text (stored as UTF-8)."""
        if not isinstance(text, str):
            raise DocumentError("text", f"expected str, got {_type_name(text)}")
        return cls.from_payload(text.encode("utf-8"), expect=frozenset({"text/plain"}), **header)

    def replace(
        self,
        payload: bytes | None = None,
        *,
        pdf: bytes | None = None,
        effective_time: datetime | None = None,
        title: str | None = None,
    ) -> Document:
        """A new version replacing this one: same setId, versionNumber + 1, relatedDocument RPLC.

        The new payload (``pdf`` or any ``payload``) replaces the body; without one the body is
        kept. Only level-1 documents can be re-issued.
        """
        if self.body.level != 1 or self.body.payload is None:
            raise DocumentError("body", "only a level-1 document can be replaced here")
        data = pdf if pdf is not None else payload
        if data is None:
            data = self.body.payload
        expect = frozenset({"application/pdf"}) if pdf is not None else None
        events = self.header.service_events
        return Document.from_payload(
            data,
            type=self.type,
            patient=self.header.patient,
            author=self.header.authors,
            custodian=self.header.custodian,
            encounter=self._required(self.header.encounter, "encounter"),
            service_event=events,
            legal_authenticator=self.header.legal_authenticator,
            title=title or self.header.title,
            effective_time=effective_time,
            confidentiality=self.header.confidentiality,
            confidentiality_flags=self.confidentiality_flags,
            set_id=self.header.set_id,
            version=self.header.version + 1,
            replaces=self.header.id,
            language=self.header.language,
            expect=expect,
        )

    @staticmethod
    def _required(value: Encounter | None, field: str) -> Encounter:
        if value is None:
            raise DocumentError(field, "is missing")
        return value

    # --- reading -------------------------------------------------------------------------------

    @classmethod
    def read(cls, data: bytes | str | Path) -> Document:
        """Read any CDA (level 1 or structured) from bytes or a file path.

        Raises :class:`XMLError` for unsafe or malformed XML, :class:`DocumentError` when the
        CDA lacks a mandatory part.
        """
        if isinstance(data, str | Path):
            try:
                raw = Path(data).read_bytes()
            except OSError as exc:
                raise DocumentError("path", f"cannot read file: {exc.strerror}") from exc
        elif isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
        else:
            raise DocumentError("data", f"expected bytes or a path, got {_type_name(data)}")
        header, body = read_cda(raw)
        return cls(header, body, source=raw)

    # --- output and properties ------------------------------------------------------------------

    def to_xml(self) -> bytes:
        """The CDA bytes: the exact source of a read document, else freshly serialised."""
        if self._source is None:
            self._source = to_xml(self.header, self.body)
        return self._source

    @property
    def has_xml(self) -> bool:
        """Whether the CDA bytes are already at hand (read from bytes, or serialised once).

        Packaging uses it to copy those exact bytes instead of streaming a fresh serialisation.
        """
        return self._source is not None

    @property
    def type(self) -> DocumentType:
        """Catalogue entry of ``ClinicalDocument/code`` (an ad-hoc entry if not in J07)."""
        code = self.header.code
        found = find_document_type(code.code)
        if found is not None:
            return found
        return DocumentType(
            code=code.code,
            code_system=code.code_system,
            display_name=code.display_name or code.code,
            class_code=Code(code="10", code_system=CLASS_CODE_SYSTEM, display_name="Compte rendu"),
            class_code_inferred=True,
        )

    @property
    def type_code(self) -> Code:
        """ClinicalDocument/code: the XDS typeCode and the ``X-MSS-CODECDA`` value (ECO.2.4.1)."""
        return self.header.code

    @property
    def class_code(self) -> Code:
        return self.type.class_code

    @property
    def format_code(self) -> Code:
        """XDS formatCode: from the media type at level 1 (ASS_A12), the model at level 3."""
        if self.body.level == 1 and self.body.media_type:
            return level1_format_code(self.body.media_type)
        fmt = self.type.format_code
        if fmt is None:
            return Code(
                code="urn:asipSante:modelesHorsProfils:2011",
                code_system="1.2.250.1.213.1.1.4.2.282",
            )
        return fmt

    @property
    def level(self) -> int:
        return self.body.level

    @property
    def title(self) -> str:
        return self.header.title

    @property
    def patient(self) -> Patient:
        return self.header.patient

    @property
    def author(self) -> HealthProfessional:
        return self.header.author

    @property
    def custodian(self) -> Organization:
        return self.header.custodian

    @property
    def effective_time(self) -> datetime:
        return self.header.effective_time

    @property
    def payload(self) -> bytes | None:
        return self.body.payload

    @property
    def media_type(self) -> str | None:
        """Sniffed media type of the level-1 payload."""
        return self.body.media_type

    @property
    def payload_sha1(self) -> str | None:
        if not self.body.payload:
            return None
        return hashlib.sha1(self.body.payload, usedforsecurity=False).hexdigest()

    @property
    def sections(self) -> tuple[Section, ...]:
        return self.body.sections

    @property
    def model_template_ids(self) -> tuple[str, ...]:
        """templateIds other than the two French header ones (the volet or XDS-SD)."""
        header_ids = {"2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1"}
        return tuple(t.root for t in self.header.template_ids if t.root not in header_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return (self.header, self.body) == (other.header, other.body)

    def __hash__(self) -> int:
        return hash(self.header.id)

    def __repr__(self) -> str:
        # No patient data: type, id and level only.
        return (
            f"Document(type={self.header.code.code!r}, id={str(self.header.id)!r}, "
            f"version={self.header.version}, level={self.body.level})"
        )


def _type_name(value: object) -> str:
    return type(value).__name__
