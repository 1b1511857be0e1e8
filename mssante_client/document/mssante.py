"""Pure helpers that turn documents into what an MSSanté mail carries (Référentiel #2, ECO.2.x).

The mail layer calls these when it attaches an ``IHE_XDM.ZIP``: header values
(``X-MSS-CODECDA``, ``X-MSS-INS``), the ``XDM/1.0/DDM+`` subject, the companion PDF and its file
name. They only read documents; nothing here touches the network or the file system.

The subject and the PDF name contain the patient's name and birth date because the Référentiel
requires it; never log their results.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

from ..errors import DocumentError
from .document import Document
from .models import Patient, Sex
from .xdm_read import INS_OIDS, XDMPackage

__all__ = [
    "DDM_PREFIX",
    "companion_pdf",
    "companion_pdf_name",
    "ddm_subject",
    "strip_ddm_prefix",
    "x_mss_codecda",
    "x_mss_ins",
]

#: Subject prefix of a mail carrying health documents (ECO.2.1.3).
DDM_PREFIX = "XDM/1.0/DDM+"
_LABEL_MAX = 40
_DDM = re.compile(re.escape(DDM_PREFIX) + r"\s*", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")

Documents = XDMPackage | Document | Iterable[Document]


def _documents(source: Documents) -> list[Document]:
    if isinstance(source, XDMPackage):
        return source.documents
    if isinstance(source, Document):
        return [source]
    return list(source)


def x_mss_codecda(source: Documents) -> list[str]:
    """``X-MSS-CODECDA`` values: ``ClinicalDocument/code/@code`` of each CDA, in order (ECO.2.4.1).

    An empty list means the header must be absent (no CDA in the IHE_XDM attachment).
    """
    return [doc.header.code.code for doc in _documents(source)]


def _ins_qualified(patient: Patient) -> bool:
    """INS matricule with an INS OID plus the identity traits (ECO.2.4.2, digest §1)."""
    ins = patient.ins
    if ins is None or ins.oid not in INS_OIDS:
        return False
    if ins.qualified:
        return True
    # A read CDA does not say "qualified"; the CI-SIS only allows an INS root with the traits.
    return bool(
        patient.birth_family_name
        and patient.given_names
        and patient.birth_date
        and patient.birthplace_insee
        and patient.sex is not Sex.U
    )


def x_mss_ins(source: Documents) -> Literal["O", "N"] | None:
    """``X-MSS-INS``: ``O`` if every CDA carries a qualified INS, else ``N`` (ECO.2.4.2).

    ``None`` when there is no CDA: the header is then left out of the mail.
    """
    docs = _documents(source)
    if not docs:
        return None
    return "O" if all(_ins_qualified(d.header.patient) for d in docs) else "N"


def _one_patient(docs: Sequence[Document]) -> Patient:
    if not docs:
        raise DocumentError("documents", "no document")
    first = docs[0].header.patient
    key = (first.ins, first.birth_family_name, first.given_names, first.birth_date)
    for doc in docs[1:]:
        p = doc.header.patient
        if (p.ins, p.birth_family_name, p.given_names, p.birth_date) != key:
            raise DocumentError("documents", "documents of several patients (ECO.2.1.1)")
    return first


def _label(doc: Document) -> str:
    name = doc.header.code.display_name or doc.type.display_name
    return name[:_LABEL_MAX].rstrip()


def ddm_subject(source: Documents) -> str:
    """``XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>`` (ECO.2.1.3).

    The label is the document type's display name cut to 40 characters, or ``N documents``
    when several are attached. Raises :class:`DocumentError` for several patients or a missing
    birth date.
    """
    docs = _documents(source)
    patient = _one_patient(docs)
    if patient.birth_date is None:
        raise DocumentError("patient.birth_date", "is required in the subject (ECO.2.1.3)")
    label = _label(docs[0]) if len(docs) == 1 else f"{len(docs)} documents"
    return (
        f"{DDM_PREFIX}{label} {patient.birth_family_name.upper()} {patient.first_given_name} "
        f"{patient.birth_date:%d/%m/%Y}"
    )


def strip_ddm_prefix(subject: str) -> str:
    """The subject as shown to a user, without ``XDM/1.0/DDM+`` (ECO.3.1.3); also after ``RE:``."""
    return _DDM.sub("", subject, count=1)


def _safe(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("-", ascii_text).strip("-.")


def companion_pdf_name(document: Document, dossier: str | None = None) -> str:
    """``<AAAAMMJJ>_<type>_<NOM>_<prénom>[_<dossier>].pdf`` (ECO.2.1.6).

    The date is the act's (first service event start, else the document time); the type is the
    display name cut to 40 characters. Each part is made file-system safe (ASCII letters,
    digits, ``-`` and ``.``) so that ``_`` stays the separator.
    """
    header = document.header
    act = header.service_events[0].start if header.service_events else header.effective_time
    patient = header.patient
    parts = [
        f"{act:%Y%m%d}",
        _safe(_label(document))[:_LABEL_MAX],
        _safe(patient.birth_family_name.upper()),
        _safe(patient.first_given_name),
    ]
    if dossier:
        parts.append(_safe(dossier))
    return "_".join(p for p in parts if p) + ".pdf"


def companion_pdf(document: Document) -> bytes | None:
    """The PDF to attach next to IHE_XDM.ZIP for a level-1 PDF CDA: the embedded PDF (ECO.2.1.5).

    ``None`` for other documents (a structured CDA needs a rendered PDF/A, not produced here).
    """
    body = document.body
    if body.level == 1 and body.payload and body.payload.startswith(b"%PDF-"):
        return body.payload
    return None
