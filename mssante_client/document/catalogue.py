"""The catalogue of French document types (XDS typeCode, value set J07).

The data file ``mssante_client/data/document_types.json`` is generated from the ANS value set
``JDV_J07_XdsTypeCode_CISIS`` by ``scripts/gen_catalogue.py`` and covers the whole J07 list.
For the main CI-SIS volets it adds the short name (``LDL-SES``...), the structured model
templateIds, the XDS formatCode and the classCode (J06 / TRE_A03). ``ClinicalDocument/code`` of
a CDA, the XDS ``typeCode`` and the MSSanté header ``X-MSS-CODECDA`` (ECO.2.4.1) are that code.

Level-1 documents (PDF & co.) take their formatCode from the body media type (ANS ASS_A12),
whatever the type: see :func:`level1_format_code`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pydantic import Field

from ..errors import DocumentError
from .models import Code, TemplateId, _Model

__all__ = [
    "CLASS_CODE_SYSTEM",
    "LEVEL1_TEMPLATE_ID",
    "DocumentType",
    "all_document_types",
    "document_type",
    "level1_format_code",
]

#: TRE_A03 ClasseDocument, the code system of XDS classCode (J06).
CLASS_CODE_SYSTEM = "1.2.250.1.213.1.1.4.1"
#: IHE XDS-SD: the model templateId of every level-1 (unstructured) CDA.
LEVEL1_TEMPLATE_ID = "1.3.6.1.4.1.19376.1.2.20"
_FMT_IHE = "1.3.6.1.4.1.19376.1.2.3"
_FMT_ANS = "1.2.250.1.213.1.1.4.2.282"
_LEVEL1_FORMATS = {
    "application/pdf": ("urn:ihe:iti:xds-sd:pdf:2008", _FMT_IHE),
    "text/plain": ("urn:ihe:iti:xds-sd:text:2008", _FMT_IHE),
    "text/rtf": ("urn:ihe:iti-fr:xds-sd:rtf:2010", _FMT_ANS),
    "image/jpeg": ("urn:ihe:iti-fr:xds-sd:jpeg:2010", _FMT_ANS),
    "image/tiff": ("urn:ihe:iti-fr:xds-sd:tiff:2010", _FMT_ANS),
}


class DocumentType(_Model):
    """One document type: its J07 code plus what a sender needs to label it."""

    code: str
    code_system: str
    display_name: str
    short_names: tuple[str, ...] = ()
    class_code: Code
    class_code_inferred: bool = False
    """True when the class was inferred from the name (ASS_X04 table not in the kit)."""
    format_code: Code | None = None
    """formatCode of the type's model: the structured one, or IHE XDS-SD PDF for types that
    have no CI-SIS structured model. A level-1 document's own formatCode follows its media
    type: see :func:`level1_format_code`."""
    template_ids: tuple[TemplateId, ...] = Field(default=())
    """templateIds of the model (besides the two French header ones); XDS-SD for level-1 types."""

    @property
    def structured(self) -> bool:
        """True when the CI-SIS defines a structured (level 3) model for this type."""
        return any(t.root != LEVEL1_TEMPLATE_ID for t in self.template_ids)

    @property
    def type_code(self) -> Code:
        """The ``ClinicalDocument/code`` / XDS typeCode of this type."""
        return Code(code=self.code, code_system=self.code_system, display_name=self.display_name)

    @property
    def name(self) -> str:
        """Short volet name if any (``LDL-SES``), else the code."""
        return self.short_names[0] if self.short_names else self.code


@cache
def _load() -> tuple[DocumentType, ...]:
    raw = resources.files("mssante_client").joinpath("data/document_types.json").read_text("utf-8")
    out = []
    for t in json.loads(raw)["types"]:
        fmt = t["format_code"]
        out.append(
            DocumentType(
                code=t["code"],
                code_system=t["code_system"],
                display_name=t["display_name"],
                short_names=tuple(t["short_names"]),
                class_code=Code(
                    code=t["class_code"],
                    code_system=CLASS_CODE_SYSTEM,
                    display_name=t["class_display"],
                ),
                class_code_inferred=t["class_code_inferred"],
                format_code=(
                    Code(code=fmt["code"], code_system=fmt["code_system"]) if fmt else None
                ),
                template_ids=tuple(TemplateId(**x) for x in t["template_ids"]),
            )
        )
    return tuple(out)


@cache
def _index() -> dict[str, DocumentType]:
    index: dict[str, DocumentType] = {}
    for t in _load():
        index[t.code.upper()] = t
        for short in t.short_names:
            index[short.upper()] = t
    return index


def all_document_types() -> tuple[DocumentType, ...]:
    """Every J07 type, in value-set order."""
    return _load()


def document_type(key: str | DocumentType) -> DocumentType:
    """Look a type up by short name (``"LDL-SES"``), LOINC/ANS code (``"11490-0"``, ``"SYNTH"``).

    Raises :class:`DocumentError` (field ``type``) if the type is not in J07.
    """
    if isinstance(key, DocumentType):
        return key
    found = _index().get(str(key).strip().upper())
    if found is None:
        raise DocumentError("type", f"{key!r} is not a document type of J07 (XdsTypeCode CI-SIS)")
    return found


def find_document_type(code: str) -> DocumentType | None:
    """Like :func:`document_type` but ``None`` for an unknown code (reading foreign CDAs)."""
    return _index().get(code.strip().upper())


def level1_format_code(media_type: str) -> Code:
    """XDS formatCode of a level-1 CDA from its body media type (ANS ASS_A12)."""
    try:
        code, system = _LEVEL1_FORMATS[media_type]
    except KeyError:
        raise DocumentError("media_type", f"no level-1 formatCode for {media_type!r}") from None
    return Code(code=code, code_system=system)
