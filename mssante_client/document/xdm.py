"""Build an ``IHE_XDM.ZIP`` package (IHE ITI-32, ZIP over e-mail) from CDA documents.

Layout (digest ``cda-xdm.md`` §3)::

    README.TXT  INDEX.HTM  IHE_XDM/SUBSET01/METADATA.XML  IHE_XDM/SUBSET01/DOC0001.XML ...

One package carries the documents of ONE patient (ECO.2.1.1): mixing patients raises
:class:`DocumentError`. METADATA.XML is derived from each CDA header (ANS mapping "Lien entre
l'en-tête CDA et les métadonnées XDS") and records the SHA-1 and size of the exact bytes stored
in the zip, so each document is written first and its metadata last.

Level-1 documents carrying a large PDF are streamed: the CDA is serialised around a small
placeholder, then the real payload is base64-encoded chunk by chunk straight into the deflate
stream while SHA-1 and size are computed, so a 20 MB PDF never exists twice in memory.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO

from .._version import __version__
from ..errors import DocumentError
from ..identity import MSSanteAddress
from .document import Document, new_oid
from .models import (
    CONFIDENTIALITY_SYSTEM,
    MASKING_SYSTEM,
    Body,
    CdaHeader,
    Code,
    ConfidentialityFlag,
    HealthProfessional,
    Patient,
)
from .xdm_metadata import (
    Coded,
    DocumentEntry,
    Metadata,
    MetadataAuthor,
    SubmissionSet,
    cx,
    dtm,
    write_metadata,
    xcn,
    xon,
    xtn_email,
)

__all__ = ["Submission", "build_xdm", "document_entry", "write_xdm"]

_log = logging.getLogger("mssante_client.document")

SUBSET_DIR = "IHE_XDM/SUBSET01"
#: Streaming threshold: payloads above it are base64-encoded straight into the zip.
STREAM_THRESHOLD = 512 * 1024
_B64_CHUNK = 3 * 256 * 1024  # a multiple of 3: chunks encode to one unbroken base64 line
_PLACEHOLDER = b"%PDF-1.4\n%MSSANTE-XDM-PAYLOAD-PLACEHOLDER\n"


@dataclass(frozen=True, slots=True)
class Submission:
    """What the submission set says about the sending: who, from which system, to whom.

    ``source_id`` is the OID of the sending system (XDSSubmissionSet.sourceId); give your own.
    ``intended_recipients`` are MSSanté addresses (written as XTN ``||^^Internet^addr``) or
    ready-made XON/XCN/XTN strings containing ``|``.
    """

    source_id: str | None = None
    unique_id: str | None = None
    submission_time: datetime | None = None
    author: HealthProfessional | None = None
    """Defaults to the first author of the first document."""
    content_type_code: Code | None = None
    title: str | None = None
    comments: str | None = None
    intended_recipients: tuple[str, ...] = field(default=())
    confidentiality_flags: tuple[ConfidentialityFlag, ...] = ()
    """DMP/MSSanté masking flags, metadata only (added to every document's confidentiality)."""


# --- CDA header -> XDS metadata ------------------------------------------------------------


def _coded(code: Code | None) -> Coded | None:
    if code is None:
        return None
    return Coded(code.code, code.code_system, code.display_name or "")


def _ii(root: str, extension: str | None) -> str:
    return f"{root}^{extension}" if extension else root


def _person(pro: HealthProfessional) -> str:
    return xcn(
        pro.id.extension or pro.id.root,
        pro.family_name or "",
        pro.given_name or "",
        oid=pro.id.root if pro.id.extension else "",
    )


def _author(pro: HealthProfessional) -> MetadataAuthor:
    org = pro.organization
    institutions: tuple[str, ...] = ()
    if org is not None:
        ident = org.id.extension or ""
        institutions = (xon(org.name or ident, ident, oid=org.id.root),)
    specialty = pro.specialty
    specialties = (
        (f"{specialty.code}^{specialty.display_name or ''}^{specialty.code_system}",)
        if specialty
        else ()
    )
    return MetadataAuthor(person=_person(pro), institutions=institutions, specialties=specialties)


def patient_ids(patient: Patient) -> tuple[str, str]:
    """(patientId, sourcePatientId) CX strings: INS with ``NH``, local IPP with ``PI``.

    ECO.2.1.2: the receiver identifies the patient from ``patientId``, so it is the INS when
    there is one; sourcePatientId is the IPP, or the INS again when there is no IPP.
    """
    ins_cx = cx(patient.ins.value, patient.ins.oid, "NH") if patient.ins else None
    ipp_cx = (
        cx(patient.ipp.extension or "", patient.ipp.root, "PI")
        if patient.ipp and patient.ipp.extension
        else None
    )
    main = ins_cx or ipp_cx
    if main is None:
        raise DocumentError("patient", "neither INS nor local identifier: no XDS patientId")
    return main, ipp_cx or main


def _patient_info(patient: Patient) -> tuple[str, ...]:
    info = [f"PID-5|{patient.birth_family_name}^{patient.first_given_name}^^^^^L"]
    if patient.birth_date:
        info.append(f"PID-7|{patient.birth_date:%Y%m%d}")
    info.append(f"PID-8|{patient.sex.value}")
    return tuple(info)


def document_entry(
    document: Document,
    *,
    uri: str,
    size: int,
    sha1: str,
    flags: Iterable[ConfidentialityFlag] = (),
) -> DocumentEntry:
    """The XDS DocumentEntry of one CDA (ANS CDA→XDS mapping; times converted to UTC).

    ``flags`` are masking flags added to the document's own (metadata only, J08).
    """
    header = document.header
    patient_id, source_patient_id = patient_ids(header.patient)
    doc_type = document.type
    type_code = Coded(
        header.code.code, header.code.code_system, header.code.display_name or doc_type.display_name
    )
    event = header.service_events[0] if header.service_events else None
    setting = None
    if event is not None:
        setting = event.practice_setting or (
            event.performer.practice_setting if event.performer else None
        )
    setting = setting or header.author.practice_setting
    confidentiality = [
        Coded(
            header.confidentiality.value,
            CONFIDENTIALITY_SYSTEM,
            header.confidentiality.display_name,
        )
    ]
    masks = sorted({*document.confidentiality_flags, *flags})
    confidentiality += [Coded(f.value, MASKING_SYSTEM, f.value) for f in masks]
    return DocumentEntry(
        unique_id=_ii(header.id.root, header.id.extension),
        uri=uri,
        mime_type="text/xml",
        hash=sha1,
        size=size,
        title=header.title,
        creation_time=dtm(header.effective_time, "effective_time"),
        service_start_time=dtm(event.start, "service_event.start") if event else None,
        service_stop_time=(dtm(event.end, "service_event.end") if event and event.end else None),
        language_code=header.language,
        patient_id=patient_id,
        source_patient_id=source_patient_id,
        source_patient_info=_patient_info(header.patient),
        legal_authenticator=(
            _person(header.legal_authenticator) if header.legal_authenticator else None
        ),
        authors=tuple(_author(a) for a in header.authors),
        class_code=_coded(doc_type.class_code),
        type_code=type_code,
        format_code=_coded(document.format_code),
        healthcare_facility_type_code=(
            _coded(header.encounter.facility_type) if header.encounter else None
        ),
        practice_setting_code=_coded(setting),
        confidentiality_codes=tuple(confidentiality),
        event_codes=tuple(
            c for c in (_coded(e.code) for e in header.service_events) if c is not None
        ),
    )


def _recipient(value: str | MSSanteAddress) -> str:
    text = str(value)
    if "|" in text:
        return text
    return xtn_email(str(MSSanteAddress(text)))


def _submission_set(
    submission: Submission, first: CdaHeader, patient_id: str, now: datetime
) -> SubmissionSet:
    author = submission.author or first.author
    return SubmissionSet(
        unique_id=submission.unique_id or new_oid(),
        source_id=submission.source_id or new_oid(),
        submission_time=dtm(submission.submission_time or now, "submission_time"),
        patient_id=patient_id,
        title=submission.title,
        comments=submission.comments,
        authors=(_author(author),),
        content_type_code=_coded(submission.content_type_code),
        intended_recipients=tuple(_recipient(r) for r in submission.intended_recipients),
    )


# --- readme / index ------------------------------------------------------------------------


def _readme(entries: Sequence[DocumentEntry]) -> bytes:
    lines = [
        "IHE XDM package (IHE ITI-32 Distribute Document Set on Media, ZIP over e-mail).",
        f"Created by mssante_client {__version__} (Python SDK for MSSanté).",
        "",
        "IHE_XDM/SUBSET01/METADATA.XML describes the documents (ebRIM 3.0 XDS metadata).",
        "Documents:",
        *(f"  {SUBSET_DIR}/{e.uri}  {e.title or ''}" for e in entries),
        "",
        "Open INDEX.HTM for a list of the documents.",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _index(entries: Sequence[DocumentEntry]) -> bytes:
    items = "\n".join(
        f'<li><a href="{SUBSET_DIR}/{html.escape(e.uri)}">{html.escape(e.title or e.uri)}</a></li>'
        for e in entries
    )
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="fr">\n'
        "<head><title>IHE XDM</title></head>\n<body>\n<h1>IHE XDM</h1>\n"
        '<p><a href="README.TXT">README.TXT</a></p>\n'
        f"<ul>\n{items}\n</ul>\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


# --- writing -------------------------------------------------------------------------------


def _cda_chunks(document: Document) -> Iterator[bytes]:
    """The CDA bytes, in chunks; a large level-1 payload is base64-encoded on the fly.

    A document read from bytes keeps them (packaged byte-for-byte); a built one is serialised
    around a placeholder payload so the real payload is never held as base64 text.
    """
    body = document.body
    payload = body.payload
    if document.has_xml or body.level != 1 or payload is None or len(payload) < STREAM_THRESHOLD:
        yield document.to_xml()
        return
    stub_body = Body(
        level=1,
        media_type=body.media_type,
        declared_media_type=body.declared_media_type,
        payload=_PLACEHOLDER,
    )
    xml = Document(document.header, stub_body).to_xml()
    marker = base64.b64encode(_PLACEHOLDER)
    if xml.count(marker) != 1:  # unexpected serialisation: fall back to the plain path
        yield document.to_xml()
        return
    head, tail = xml.split(marker)
    yield head
    view = memoryview(payload)
    for start in range(0, len(view), _B64_CHUNK):
        yield base64.b64encode(view[start : start + _B64_CHUNK])
    yield tail


def _write_entry(archive: zipfile.ZipFile, name: str, chunks: Iterator[bytes]) -> tuple[int, str]:
    digest = hashlib.sha1(usedforsecurity=False)
    size = 0
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with archive.open(info, "w", force_zip64=False) as out:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _one_patient(documents: Sequence[Document]) -> str:
    if not documents:
        raise DocumentError("documents", "an XDM package needs at least one document")
    ids = [patient_ids(d.header.patient)[0] for d in documents]
    if len(set(ids)) > 1:
        raise DocumentError(
            "documents", "all documents of a package must concern one patient (ECO.2.1.1)"
        )
    return ids[0]


def write_xdm(
    target: str | os.PathLike[str] | IO[bytes],
    documents: Sequence[Document],
    *,
    submission: Submission | None = None,
    intended_recipients: Sequence[str | MSSanteAddress] = (),
) -> Metadata:
    """Write the package to a path or a binary file object, streaming; return its metadata.

    Raises :class:`DocumentError` if there is no document or they concern several patients;
    nothing is written in that case.
    """
    patient_id = _one_patient(documents)
    sub = submission or Submission()
    if intended_recipients:
        extra = tuple(str(r) for r in intended_recipients)
        sub = replace(sub, intended_recipients=(*sub.intended_recipients, *extra))
    # Everything that can fail is checked before the first byte is written.
    now = datetime.now(UTC)
    _submission_set(sub, documents[0].header, patient_id, now)
    for document in documents:
        document_entry(document, uri="", size=0, sha1="", flags=sub.confidentiality_flags)
    entries: list[DocumentEntry] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, document in enumerate(documents, start=1):
            uri = f"DOC{number:04d}.XML"
            size, sha1 = _write_entry(archive, f"{SUBSET_DIR}/{uri}", _cda_chunks(document))
            entries.append(
                document_entry(
                    document, uri=uri, size=size, sha1=sha1, flags=sub.confidentiality_flags
                )
            )
        ss = _submission_set(sub, documents[0].header, patient_id, now)
        metadata = Metadata.of(ss, entries)
        archive.writestr(f"{SUBSET_DIR}/METADATA.XML", write_metadata(metadata))
        archive.writestr("README.TXT", _readme(entries))
        archive.writestr("INDEX.HTM", _index(entries))
    _log.debug("XDM package written: %d document(s)", len(entries))
    return metadata


def build_xdm(
    documents: Sequence[Document],
    *,
    submission: Submission | None = None,
    intended_recipients: Sequence[str | MSSanteAddress] = (),
) -> bytes:
    """The ``IHE_XDM.ZIP`` bytes for ``documents`` (one patient). See :func:`write_xdm`."""
    buffer = io.BytesIO()
    write_xdm(buffer, documents, submission=submission, intended_recipients=intended_recipients)
    return buffer.getvalue()
