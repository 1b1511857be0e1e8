"""METADATA.XML of an IHE XDM submission set: typed model, ebRIM 3.0 writer and tolerant reader.

The model mirrors IHE ITI TF-3 §4 (DocumentEntry, SubmissionSet, Association) with the French
value formats used by ANS tooling (digest ``cda-xdm.md`` §3): HL7 v2 XCN / XON / CX strings,
UTC ``YYYYMMDDhhmmss`` times, SHA-1 + size of the exact file bytes, classifications identified
by the fixed IHE scheme UUIDs. The writer emits XML that validates against ebRS 3.0 ``lcm.xsd``.

The reader is tolerant on purpose: real archives (kit ``xdm-samples/``) carry missing namespace
prefixes, a ``uri`` attribute instead of a URI slot, missing hashes. Such quirks become
:class:`Finding` objects; only unsafe or unparsable XML raises (:class:`XMLError`).

Patient data (patient ids, ``sourcePatientInfo``) never appear in ``repr`` nor in findings.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from ..errors import DocumentError, XMLError
from ._xml import safe_parse

__all__ = [
    "Association",
    "Coded",
    "DocumentEntry",
    "Finding",
    "Metadata",
    "MetadataAuthor",
    "Severity",
    "SubmissionSet",
    "cx",
    "dtm",
    "hl7_escape",
    "hl7_unescape",
    "parse_dtm",
    "parse_metadata",
    "write_metadata",
    "xcn",
    "xon",
    "xtn_email",
]

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
_NSMAP = {"lcm": LCM, "rim": RIM}

# IHE ITI TF-3 §4.2.5 fixed identifiers (identical in ANS DRIM-M, NIST and CDAHeaderToXDM.xsl).
DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
CLASSIFICATION_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
EXTERNAL_ID_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"


class Scheme(enum.StrEnum):
    """Classification and identification scheme UUIDs (IHE ITI TF-3 Table 4.2.5-1)."""

    DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    DE_FACILITY_TYPE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    DE_PRACTICE_SETTING = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
    DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"


# --- findings ------------------------------------------------------------------------------


class Severity(enum.StrEnum):
    """How much a finding matters to a receiver."""

    ERROR = "error"  # the content cannot be trusted as declared (hash mismatch, ...)
    WARNING = "warning"  # not conformant but usable (missing README, no hash, ...)
    INFO = "info"  # worth knowing (non-CDA document, several subsets, ...)


@dataclass(frozen=True, slots=True)
class Finding:
    """A quirk or a defect found while reading a package; never carries patient data."""

    code: str
    severity: Severity
    entry: str | None
    message: str


# --- HL7 v2 data types ---------------------------------------------------------------------

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def hl7_escape(text: str) -> str:
    """Escape HL7 v2 delimiters inside one component value."""
    for raw, esc in _ESCAPES:
        text = text.replace(raw, esc)
    return text


def hl7_unescape(text: str) -> str:
    """Reverse :func:`hl7_escape`."""
    for raw, esc in reversed(_ESCAPES):
        text = text.replace(esc, raw)
    return text


def _join(components: Sequence[str]) -> str:
    return "^".join(components).rstrip("^")


def cx(identifier: str, oid: str, id_type: str = "") -> str:
    """CX ``id^^^&OID&ISO^type``: patientId (``NH`` for an INS) / sourcePatientId (``PI``)."""
    return _join([hl7_escape(identifier), "", "", f"&{oid}&ISO", id_type])


def xcn(
    identifier: str,
    family: str = "",
    given: str = "",
    *,
    oid: str = "1.2.250.1.71.4.2.1",
    name_type: str = "D",
    id_type: str = "IDNPS",
) -> str:
    """XCN as written by ANS: ``IdNatPS^NOM^Prénom^^^^^^&OID&ISO^D^^^IDNPS`` (authorPerson)."""
    parts = [hl7_escape(identifier), hl7_escape(family), hl7_escape(given), "", "", "", "", ""]
    authority = f"&{oid}&ISO" if identifier and oid else ""
    parts += [authority, name_type if identifier else "", "", "", id_type if authority else ""]
    return _join(parts)


def xon(
    name: str, identifier: str = "", *, oid: str = "1.2.250.1.71.4.2.2", id_type: str = "IDNST"
) -> str:
    """XON as written by ANS: ``NOM^^^^^&OID&ISO^IDNST^^^IdNatStruct`` (authorInstitution)."""
    if not identifier:
        return hl7_escape(name)
    return _join(
        [hl7_escape(name), "", "", "", "", f"&{oid}&ISO", id_type, "", "", hl7_escape(identifier)]
    )


def xtn_email(address: str) -> str:
    """intendedRecipient given only by an e-mail address: ``||^^Internet^addr`` (ITI TF-3)."""
    return f"||^^Internet^{address}"


def cx_id(value: str) -> tuple[str, str]:
    """(identifier, assigning authority OID) of a CX string; missing parts are ''."""
    comps = value.split("^")
    ident = hl7_unescape(comps[0]) if comps else ""
    oid = ""
    if len(comps) > 3:
        sub = comps[3].split("&")
        oid = sub[1] if len(sub) > 1 else ""
    return ident, oid


def dtm(moment: datetime, field: str = "time") -> str:
    """ebRIM time: UTC ``YYYYMMDDhhmmss`` without offset (ITI TF-3 §4.2.3.1.7).

    A naive datetime is refused (``DocumentError`` naming ``field``): converting it to UTC would
    be a guess. CDAs built by the SDK always carry offsets; a received CDA without one cannot be
    re-packaged faithfully.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DocumentError(field, "needs a UTC offset to be converted to UTC")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


_DTM = re.compile(r"^[0-9]{4}([0-9]{2}){0,5}$")


def parse_dtm(value: str) -> datetime | None:
    """Read a UTC ebRIM time of any precision (``YYYY`` … ``YYYYMMDDhhmmss``); None if invalid."""
    value = value.strip()
    if not _DTM.match(value):
        return None
    padded = (value + "0101000000"[len(value) - 4 :]) if len(value) < 14 else value
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


# --- model ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coded:
    """A coded classification: ``nodeRepresentation`` + ``codingScheme`` slot + display name."""

    code: str
    scheme: str
    display: str = ""


@dataclass(frozen=True, slots=True)
class MetadataAuthor:
    """An author classification: person (XCN), institutions (XON), roles, specialties, telecom."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecoms: tuple[str, ...] = ()


def _new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """One ``ExtrinsicObject``: a document of the submission set and its XDS metadata."""

    unique_id: str
    uri: str
    mime_type: str = "text/xml"
    hash: str | None = None
    size: int | None = None
    title: str | None = None
    comments: str | None = None
    creation_time: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    language_code: str | None = None
    patient_id: str | None = field(default=None, repr=False)
    source_patient_id: str | None = field(default=None, repr=False)
    source_patient_info: tuple[str, ...] = field(default=(), repr=False)
    legal_authenticator: str | None = None
    authors: tuple[MetadataAuthor, ...] = ()
    class_code: Coded | None = None
    type_code: Coded | None = None
    format_code: Coded | None = None
    healthcare_facility_type_code: Coded | None = None
    practice_setting_code: Coded | None = None
    confidentiality_codes: tuple[Coded, ...] = ()
    event_codes: tuple[Coded, ...] = ()
    reference_ids: tuple[str, ...] = ()
    entry_id: str = field(default_factory=_new_id)
    status: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionSet:
    """The ``RegistryPackage`` classified as SubmissionSet: who sent what, when, to whom."""

    unique_id: str
    source_id: str
    submission_time: str
    patient_id: str | None = field(default=None, repr=False)
    title: str | None = None
    comments: str | None = None
    authors: tuple[MetadataAuthor, ...] = ()
    content_type_code: Coded | None = None
    intended_recipients: tuple[str, ...] = ()
    entry_id: str = field(default_factory=_new_id)


@dataclass(frozen=True, slots=True)
class Association:
    """An association between two registry objects (``HasMember`` for submission set members)."""

    source: str
    target: str
    type: str = HAS_MEMBER
    submission_set_status: str | None = "Original"
    entry_id: str = field(default_factory=_new_id)


@dataclass(frozen=True, slots=True)
class Metadata:
    """The content of one METADATA.XML (one submission set)."""

    submission_set: SubmissionSet | None
    documents: tuple[DocumentEntry, ...]
    associations: tuple[Association, ...] = ()

    @classmethod
    def of(cls, submission_set: SubmissionSet, documents: Sequence[DocumentEntry]) -> Metadata:
        """A submission set with one ``HasMember`` association per document."""
        links = tuple(Association(submission_set.entry_id, d.entry_id) for d in documents)
        return cls(submission_set, tuple(documents), links)


# --- writer --------------------------------------------------------------------------------


def _r(tag: str) -> str:
    return f"{{{RIM}}}{tag}"


def _slot(parent: etree._Element, name: str, values: Iterable[str | None]) -> None:
    kept = [v for v in values if v is not None and v != ""]
    if not kept:
        return
    slot = etree.SubElement(parent, _r("Slot"), name=name)
    vlist = etree.SubElement(slot, _r("ValueList"))
    for v in kept:
        etree.SubElement(vlist, _r("Value")).text = v


def _localized(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        holder = etree.SubElement(parent, _r(tag))
        etree.SubElement(holder, _r("LocalizedString"), value=text)


def _classification(
    parent: etree._Element, scheme: str, owner: str, coded: Coded | None = None
) -> etree._Element:
    """A coded classification; its Name is the display name, or the code when there is none
    (XDS requires a display name for coded metadata)."""
    node = etree.SubElement(
        parent,
        _r("Classification"),
        id=_new_id(),
        objectType=CLASSIFICATION_TYPE,
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation=coded.code if coded else "",
    )
    if coded is not None:
        _slot(node, "codingScheme", [coded.scheme])
        _localized(node, "Name", coded.display or coded.code)
    return node


def _author(parent: etree._Element, scheme: str, owner: str, author: MetadataAuthor) -> None:
    node = _classification(parent, scheme, owner)
    _slot(node, "authorPerson", [author.person])
    _slot(node, "authorInstitution", author.institutions)
    _slot(node, "authorRole", author.roles)
    _slot(node, "authorSpecialty", author.specialties)
    _slot(node, "authorTelecommunication", author.telecoms)


def _external_id(
    parent: etree._Element, scheme: str, owner: str, value: str | None, label: str
) -> None:
    if not value:
        return
    node = etree.SubElement(
        parent,
        _r("ExternalIdentifier"),
        id=_new_id(),
        objectType=EXTERNAL_ID_TYPE,
        registryObject=owner,
        identificationScheme=scheme,
        value=value,
    )
    _localized(node, "Name", label)


def _write_document(parent: etree._Element, doc: DocumentEntry) -> None:
    attrs = {"id": doc.entry_id, "mimeType": doc.mime_type, "objectType": DOCUMENT_ENTRY_TYPE}
    if doc.status:
        attrs["status"] = doc.status
    node = etree.SubElement(parent, _r("ExtrinsicObject"), attrs)
    _slot(node, "creationTime", [doc.creation_time])
    _slot(node, "hash", [doc.hash])
    _slot(node, "languageCode", [doc.language_code])
    _slot(node, "legalAuthenticator", [doc.legal_authenticator])
    _slot(node, "serviceStartTime", [doc.service_start_time])
    _slot(node, "serviceStopTime", [doc.service_stop_time])
    _slot(node, "size", [None if doc.size is None else str(doc.size)])
    _slot(node, "sourcePatientId", [doc.source_patient_id])
    _slot(node, "sourcePatientInfo", doc.source_patient_info)
    _slot(node, "URI", [doc.uri])
    _slot(node, "urn:ihe:iti:xds:2013:referenceIdList", doc.reference_ids)
    _localized(node, "Name", doc.title)
    _localized(node, "Description", doc.comments)
    owner = doc.entry_id
    for author in doc.authors:
        _author(node, Scheme.DE_AUTHOR, owner, author)
    for scheme, coded in (
        (Scheme.DE_CLASS_CODE, doc.class_code),
        *((Scheme.DE_CONFIDENTIALITY, c) for c in doc.confidentiality_codes),
        *((Scheme.DE_EVENT_CODE, c) for c in doc.event_codes),
        (Scheme.DE_FORMAT_CODE, doc.format_code),
        (Scheme.DE_FACILITY_TYPE, doc.healthcare_facility_type_code),
        (Scheme.DE_PRACTICE_SETTING, doc.practice_setting_code),
        (Scheme.DE_TYPE_CODE, doc.type_code),
    ):
        if coded is not None:
            _classification(node, scheme, owner, coded)
    _external_id(node, Scheme.DE_PATIENT_ID, owner, doc.patient_id, "XDSDocumentEntry.patientId")
    _external_id(node, Scheme.DE_UNIQUE_ID, owner, doc.unique_id, "XDSDocumentEntry.uniqueId")


def _write_submission_set(parent: etree._Element, ss: SubmissionSet) -> None:
    node = etree.SubElement(parent, _r("RegistryPackage"), id=ss.entry_id)
    _slot(node, "submissionTime", [ss.submission_time])
    _slot(node, "intendedRecipient", ss.intended_recipients)
    _localized(node, "Name", ss.title)
    _localized(node, "Description", ss.comments)
    owner = ss.entry_id
    for author in ss.authors:
        _author(node, Scheme.SS_AUTHOR, owner, author)
    if ss.content_type_code is not None:
        _classification(node, Scheme.SS_CONTENT_TYPE, owner, ss.content_type_code)
    _external_id(node, Scheme.SS_UNIQUE_ID, owner, ss.unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(node, Scheme.SS_SOURCE_ID, owner, ss.source_id, "XDSSubmissionSet.sourceId")
    _external_id(node, Scheme.SS_PATIENT_ID, owner, ss.patient_id, "XDSSubmissionSet.patientId")


def write_metadata(metadata: Metadata) -> bytes:
    """Serialise to an ebRIM 3.0 ``lcm:SubmitObjectsRequest`` (UTF-8, with XML declaration)."""
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap=_NSMAP)
    objects = etree.SubElement(root, _r("RegistryObjectList"))
    ss = metadata.submission_set
    if ss is not None:
        _write_submission_set(objects, ss)
        etree.SubElement(
            objects,
            _r("Classification"),
            id=_new_id(),
            objectType=CLASSIFICATION_TYPE,
            classifiedObject=ss.entry_id,
            classificationNode=SUBMISSION_SET_NODE,
        )
    for doc in metadata.documents:
        _write_document(objects, doc)
    for assoc in metadata.associations:
        node = etree.SubElement(
            objects,
            _r("Association"),
            id=assoc.entry_id,
            associationType=assoc.type,
            sourceObject=assoc.source,
            targetObject=assoc.target,
        )
        _slot(node, "SubmissionSetStatus", [assoc.submission_set_status])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- reader --------------------------------------------------------------------------------


def _local(node: etree._Element) -> str:
    tag = node.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if _local(c) == name]


def _slots(node: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in _children(node, "Slot"):
        values = [v.text or "" for v in slot.iter() if _local(v) == "Value"]
        out.setdefault(slot.get("name", ""), []).extend(values)
    return out


def _first(slots: dict[str, list[str]], name: str) -> str | None:
    values = slots.get(name)
    return values[0] if values else None


def _text_of(node: etree._Element, name: str) -> str | None:
    for holder in _children(node, name):
        for ls in holder:
            if _local(ls) == "LocalizedString" and ls.get("value"):
                return ls.get("value")
    return None


def _read_author(node: etree._Element) -> MetadataAuthor:
    s = _slots(node)
    return MetadataAuthor(
        person=_first(s, "authorPerson"),
        institutions=tuple(s.get("authorInstitution", ())),
        roles=tuple(s.get("authorRole", ())),
        specialties=tuple(s.get("authorSpecialty", ())),
        telecoms=tuple(s.get("authorTelecommunication", ())),
    )


def _read_coded(node: etree._Element) -> Coded:
    return Coded(
        code=node.get("nodeRepresentation", ""),
        scheme=_first(_slots(node), "codingScheme") or "",
        display=_text_of(node, "Name") or "",
    )


def _external_ids(node: etree._Element) -> dict[str, str]:
    return {
        e.get("identificationScheme", ""): e.get("value", "")
        for e in _children(node, "ExternalIdentifier")
    }


def _read_document(node: etree._Element, findings: list[Finding]) -> DocumentEntry:
    entry_id = node.get("id", "")
    s = _slots(node)
    uri = _first(s, "URI")
    if uri is None and node.get("uri"):
        uri = node.get("uri")
        findings.append(
            Finding(
                "metadata-uri-attribute",
                Severity.WARNING,
                entry_id,
                "document URI given as an 'uri' attribute, not a URI slot",
            )
        )
    elif s.get("URI") and len(s["URI"]) > 1:
        # ITI TF-3 §4.2.3.2.24: a long URI may be split as "n|part" values.
        parts = sorted((v.split("|", 1) for v in s["URI"] if "|" in v), key=lambda p: int(p[0]))
        uri = "".join(p[1] for p in parts) or s["URI"][0]
    size_text = _first(s, "size")
    size: int | None = None
    if size_text is not None:
        try:
            size = int(size_text.strip())
        except ValueError:
            findings.append(
                Finding(
                    "metadata-bad-size", Severity.WARNING, entry_id, "size slot is not an integer"
                )
            )
    classes: dict[str, list[etree._Element]] = {}
    for c in _children(node, "Classification"):
        classes.setdefault(c.get("classificationScheme", ""), []).append(c)

    def one(scheme: str) -> Coded | None:
        found = classes.get(scheme)
        return _read_coded(found[0]) if found else None

    ids = _external_ids(node)
    return DocumentEntry(
        entry_id=entry_id,
        unique_id=ids.get(Scheme.DE_UNIQUE_ID, ""),
        uri=uri or "",
        mime_type=node.get("mimeType", ""),
        status=node.get("status"),
        hash=_first(s, "hash"),
        size=size,
        title=_text_of(node, "Name"),
        comments=_text_of(node, "Description"),
        creation_time=_first(s, "creationTime"),
        service_start_time=_first(s, "serviceStartTime"),
        service_stop_time=_first(s, "serviceStopTime"),
        language_code=_first(s, "languageCode"),
        patient_id=ids.get(Scheme.DE_PATIENT_ID) or None,
        source_patient_id=_first(s, "sourcePatientId"),
        source_patient_info=tuple(s.get("sourcePatientInfo", ())),
        legal_authenticator=_first(s, "legalAuthenticator"),
        authors=tuple(_read_author(a) for a in classes.get(Scheme.DE_AUTHOR, ())),
        class_code=one(Scheme.DE_CLASS_CODE),
        type_code=one(Scheme.DE_TYPE_CODE),
        format_code=one(Scheme.DE_FORMAT_CODE),
        healthcare_facility_type_code=one(Scheme.DE_FACILITY_TYPE),
        practice_setting_code=one(Scheme.DE_PRACTICE_SETTING),
        confidentiality_codes=tuple(
            _read_coded(c) for c in classes.get(Scheme.DE_CONFIDENTIALITY, ())
        ),
        event_codes=tuple(_read_coded(c) for c in classes.get(Scheme.DE_EVENT_CODE, ())),
        reference_ids=tuple(s.get("urn:ihe:iti:xds:2013:referenceIdList", ())),
    )


def _read_submission_set(node: etree._Element) -> SubmissionSet:
    s = _slots(node)
    ids = _external_ids(node)
    authors = []
    content: Coded | None = None
    for c in _children(node, "Classification"):
        scheme = c.get("classificationScheme")
        if scheme == Scheme.SS_AUTHOR:
            authors.append(_read_author(c))
        elif scheme == Scheme.SS_CONTENT_TYPE:
            content = _read_coded(c)
    return SubmissionSet(
        entry_id=node.get("id", ""),
        unique_id=ids.get(Scheme.SS_UNIQUE_ID, ""),
        source_id=ids.get(Scheme.SS_SOURCE_ID, ""),
        patient_id=ids.get(Scheme.SS_PATIENT_ID) or None,
        submission_time=_first(s, "submissionTime") or "",
        title=_text_of(node, "Name"),
        comments=_text_of(node, "Description"),
        authors=tuple(authors),
        content_type_code=content,
        intended_recipients=tuple(s.get("intendedRecipient", ())),
    )


def parse_metadata(
    data: bytes, *, findings: list[Finding] | None = None, entry: str | None = None
) -> Metadata:
    """Read METADATA.XML safely (no DTD, entities or network), tolerating real-world quirks.

    Elements are matched by local name so that a fragment without namespace declarations is
    still read (it yields a ``metadata-no-namespace`` finding). Quirks are appended to
    ``findings``; unsafe or malformed XML raises :class:`XMLError`.
    """
    notes: list[Finding] = [] if findings is None else findings
    root = safe_parse(data, what=f"metadata {entry or 'METADATA.XML'}")
    if _local(root) != "SubmitObjectsRequest":
        raise XMLError(f"metadata {entry or ''}: root element is not SubmitObjectsRequest")
    if etree.QName(root).namespace != LCM:
        notes.append(
            Finding(
                "metadata-namespace",
                Severity.WARNING,
                entry,
                "SubmitObjectsRequest is not in the ebRS 3.0 lcm namespace",
            )
        )
    objects: list[etree._Element] = []
    for lst in _children(root, "RegistryObjectList"):
        objects.extend(lst)
    ss_ids = {
        o.get("classifiedObject")
        for o in objects
        if _local(o) == "Classification" and o.get("classificationNode") == SUBMISSION_SET_NODE
    }
    submission: SubmissionSet | None = None
    documents: list[DocumentEntry] = []
    associations: list[Association] = []
    for o in objects:
        kind = _local(o)
        if kind == "RegistryPackage" and (o.get("id") in ss_ids or submission is None):
            submission = _read_submission_set(o)
        elif kind == "ExtrinsicObject":
            documents.append(_read_document(o, notes))
        elif kind == "Association":
            associations.append(
                Association(
                    entry_id=o.get("id", ""),
                    type=o.get("associationType", ""),
                    source=o.get("sourceObject", ""),
                    target=o.get("targetObject", ""),
                    submission_set_status=_first(_slots(o), "SubmissionSetStatus"),
                )
            )
    if submission is None:
        notes.append(
            Finding(
                "metadata-no-submission-set",
                Severity.WARNING,
                entry,
                "no RegistryPackage for the submission set",
            )
        )
    elif submission.entry_id not in ss_ids:
        notes.append(
            Finding(
                "metadata-submission-set-unclassified",
                Severity.WARNING,
                entry,
                "the RegistryPackage is not classified as a SubmissionSet",
            )
        )
    return Metadata(submission, tuple(documents), tuple(associations))
