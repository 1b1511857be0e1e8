"""Write a French CDA R2 document from the models (pure: models in, bytes out).

The header follows the CI-SIS "Structuration minimale" template ``1.2.250.1.213.1.1.1.1``
(every mandatory element, digest §1), in the element order of the CDA R2 schema. Bodies are
level 1 (``nonXMLBody``, base64 payload, IHE XDS-SD ``1.3.6.1.4.1.19376.1.2.20``): the SDK does
not author structured clinical content.

:func:`prepare_header` applies the builder's rules (strict identifiers, defaults that keep the
header complete) before :func:`to_xml` serialises; reading is :mod:`.cda_read`.
"""

from __future__ import annotations

import base64
from datetime import date, datetime

from lxml import etree

from ..errors import DocumentError
from ..identity import INS, IdNatPS, IdNatStruct
from .catalogue import LEVEL1_TEMPLATE_ID
from .models import (
    GENDER_SYSTEM,
    Body,
    CdaHeader,
    Code,
    Encounter,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    ServiceEvent,
    TemplateId,
)
from .value_sets import VALUE_SET_NAMES, lookup

__all__ = [
    "FR_HEADER_TEMPLATE_IDS",
    "HL7_NS",
    "format_ts",
    "prepare_header",
    "to_xml",
]

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_H = f"{{{HL7_NS}}}"
#: HL7 France header + CI-SIS header templates: present in every French CDA.
FR_HEADER_TEMPLATE_IDS = (
    TemplateId(root="2.16.840.1.113883.2.8.2.1"),
    TemplateId(root="1.2.250.1.213.1.1.1.1"),
)
#: JDV_J245_Civilite_CISIS and JDV_J246_Titre_CISIS, checked by the header schematron.
CIVILITIES = ("M", "MME")
TITLES = ("DR", "MC", "MG", "PC", "PG", "PR")
LEVEL1_TEMPLATE_IDS = (*FR_HEADER_TEMPLATE_IDS, TemplateId(root=LEVEL1_TEMPLATE_ID))


def format_ts(value: datetime | date) -> str:
    """HL7 TS: ``YYYYMMDDhhmmss+zzzz`` for an aware datetime, ``YYYYMMDD`` for a date."""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S%z")
    return value.strftime("%Y%m%d")


# --- builder rules --------------------------------------------------------------------------


def _require_aware(field: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise DocumentError(field, "needs a UTC offset (timezone-aware datetime)")


def _in_value_set(field: str, code: Code | None, jdv: str) -> None:
    """The header schematrons check membership (J01/J02/J04) and require ``displayName``."""
    if code is None:
        return
    if lookup(jdv, code.code, code.code_system) is None:
        raise DocumentError(
            field, f"code {code.code!r} is not in {jdv} {VALUE_SET_NAMES[jdv]} (CI-SIS)"
        )
    if not code.display_name:
        raise DocumentError(f"{field}.display_name", "is required")


def _strict_ps(field: str, person: HealthProfessional) -> None:
    if person.id.root != IdNatPS.OID or not person.id.extension:
        raise DocumentError(f"{field}.id", f"must be an IdNatPS (root {IdNatPS.OID})")
    IdNatPS(person.id.extension)  # raises IdentifierError naming IdNatPS
    if not person.family_name:
        raise DocumentError(f"{field}.family_name", "is required")
    if person.specialty is None:
        raise DocumentError(f"{field}.specialty", "is required (J01 XdsAuthorSpecialty)")
    _in_value_set(f"{field}.specialty", person.specialty, "J01")
    if person.prefix is not None and person.prefix not in CIVILITIES:
        raise DocumentError(f"{field}.prefix", "must be a J245 civility: M or MME")
    if person.suffix is not None and person.suffix not in TITLES:
        raise DocumentError(f"{field}.suffix", f"must be a J246 title: {', '.join(TITLES)}")
    _in_value_set(f"{field}.practice_setting", person.practice_setting, "J04")


def _strict_struct(field: str, org: Organization) -> None:
    if org.id.root == IdNatStruct.OID and org.id.extension:
        IdNatStruct(org.id.extension)
    if not org.name:
        raise DocumentError(f"{field}.name", "is required")


def prepare_header(header: CdaHeader) -> CdaHeader:
    """Check a header for building and fill the derived parts, returning the final header.

    Strict where reading is lenient: IdNatPS/IdNatStruct keys are verified, times carry an
    offset, an INS is required with all its traits (the header schematron asks for them as soon
    as the patient id is an INS), and the mandatory blocks get their defaults: legal
    authenticator = author, performer = author (organisation = custodian), encounter start =
    service start.
    """
    patient = header.patient
    _check_patient(patient)
    for i, author in enumerate(header.authors):
        _strict_ps(f"authors[{i}]", author)
    _strict_struct("custodian", header.custodian)
    _require_aware("effective_time", header.effective_time)
    author = header.author
    legal = header.legal_authenticator or author
    _strict_ps("legal_authenticator", legal)
    if not header.service_events:
        raise DocumentError("service_event", "is required (documentationOf/serviceEvent)")
    if header.encounter is None:
        raise DocumentError("encounter", "is required (componentOf/encompassingEncounter)")
    events = []
    for i, event in enumerate(header.service_events):
        events.append(_prepare_event(f"service_events[{i}]", event, author, header.custodian))
    encounter = header.encounter
    _in_value_set("encounter.facility_type", encounter.facility_type, "J02")
    _require_aware("encounter.start", encounter.start)
    _require_aware("encounter.end", encounter.end)
    if encounter.start is None:
        encounter = encounter.model_copy(update={"start": events[0].start})
    if not header.title.strip():
        raise DocumentError("title", "must not be empty")
    return header.model_copy(
        update={
            "legal_authenticator": legal,
            "service_events": tuple(events),
            "encounter": encounter,
            "template_ids": header.template_ids or LEVEL1_TEMPLATE_IDS,
        }
    )


def _check_patient(patient: Patient) -> None:
    if patient.ins is None:
        raise DocumentError("patient.ins", "is required")
    if not patient.ins.qualified:
        # Ségur INS rules: an INS is only transmitted once the identity is qualified.
        raise DocumentError("patient.ins", "must be qualified to be written in a document")
    if patient.birth_date is None:
        raise DocumentError("patient.birth_date", "is required with an INS")
    if patient.birthplace_insee is None:
        raise DocumentError("patient.birthplace_insee", "is required with an INS (INSEE code)")


def _prepare_event(
    field: str, event: ServiceEvent, author: HealthProfessional, custodian: Organization
) -> ServiceEvent:
    _require_aware(f"{field}.start", event.start)
    _require_aware(f"{field}.end", event.end)
    performer = event.performer or author
    _strict_ps(f"{field}.performer", performer)
    setting = event.practice_setting or performer.practice_setting
    if setting is None:
        raise DocumentError(f"{field}.practice_setting", "is required (J04 practice setting)")
    _in_value_set(f"{field}.practice_setting", setting, "J04")
    if performer.organization is None:
        performer = performer.model_copy(update={"organization": custodian})
    performer = performer.model_copy(update={"practice_setting": None})
    return event.model_copy(update={"performer": performer, "practice_setting": setting})


# --- serialisation ----------------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, _H + tag, {k: v for k, v in attrs.items()})
    if text is not None:
        node.text = text
    return node


def _code(parent: etree._Element, tag: str, code: Code, **extra: str) -> etree._Element:
    attrs = {"code": code.code, "codeSystem": code.code_system, **extra}
    if code.display_name:
        attrs["displayName"] = code.display_name
    return _el(parent, tag, **attrs)


def _ii(parent: etree._Element, ident: InstanceId, tag: str = "id") -> etree._Element:
    attrs = {"root": ident.root}
    if ident.extension:
        attrs["extension"] = ident.extension
    return _el(parent, tag, **attrs)


def _ts(parent: etree._Element, tag: str, value: datetime | date) -> etree._Element:
    return _el(parent, tag, value=format_ts(value))


def _organization(
    parent: etree._Element, tag: str, org: Organization, setting: Code | None
) -> None:
    node = _el(parent, tag)
    _ii(node, org.id)
    if org.name:
        _el(node, "name", org.name)
    if setting is not None:
        _code(node, "standardIndustryClassCode", setting)


def _person_name(parent: etree._Element, tag: str, person: HealthProfessional) -> None:
    holder = _el(parent, tag)
    name = _el(holder, "name")
    if person.prefix:
        _el(name, "prefix", person.prefix)
    if person.given_name:
        _el(name, "given", person.given_name)
    _el(name, "family", person.family_name)
    if person.suffix:
        _el(name, "suffix", person.suffix)


def _professional(
    parent: etree._Element, tag: str, person: HealthProfessional, setting: Code | None
) -> None:
    """assignedAuthor / assignedEntity content, in CDA schema order."""
    node = _el(parent, tag)
    _ii(node, person.id)
    if person.specialty is not None:
        _code(node, "code", person.specialty)
    _person_name(node, "assignedPerson", person)
    if person.organization is not None:
        _organization(node, "representedOrganization", person.organization, setting)


def _record_target(root: etree._Element, patient: Patient) -> None:
    role = _el(_el(root, "recordTarget"), "patientRole")
    ins = patient.ins
    assert isinstance(ins, INS)  # checked by prepare_header
    _el(role, "id", root=ins.oid, extension=ins.value)
    if patient.ipp is not None:
        _ii(role, patient.ipp)
    person = _el(role, "patient", classCode="PSN")
    name = _el(person, "name")
    _el(name, "family", patient.birth_family_name, qualifier="BR")
    _el(name, "given", " ".join(patient.given_names))
    _el(name, "given", patient.first_given_name, qualifier="BR")
    if patient.used_family_name:
        _el(name, "family", patient.used_family_name, qualifier="CL")
    if patient.used_given_name:
        _el(name, "given", patient.used_given_name, qualifier="CL")
    _el(
        person,
        "administrativeGenderCode",
        code=patient.sex.cda_code,
        codeSystem=GENDER_SYSTEM,
        displayName=patient.sex.display_name,
    )
    assert patient.birth_date is not None
    _ts(person, "birthTime", patient.birth_date)
    place = _el(_el(person, "birthplace"), "place")
    _el(_el(place, "addr"), "county", patient.birthplace_insee)


def _service_event(root: etree._Element, event: ServiceEvent) -> None:
    node = _el(_el(root, "documentationOf"), "serviceEvent", classCode="ACT")
    if event.code is not None:
        _code(node, "code", event.code)
    times = _el(node, "effectiveTime")
    _ts(times, "low", event.start)
    if event.end is not None:
        _ts(times, "high", event.end)
    assert event.performer is not None
    _professional(
        _el(node, "performer", typeCode="PRF"),
        "assignedEntity",
        event.performer,
        event.practice_setting,
    )


def _encounter(root: etree._Element, encounter: Encounter) -> None:
    node = _el(_el(root, "componentOf"), "encompassingEncounter")
    if encounter.code is not None:
        _code(node, "code", encounter.code)
    times = _el(node, "effectiveTime")
    assert encounter.start is not None
    _ts(times, "low", encounter.start)
    if encounter.end is not None:
        _ts(times, "high", encounter.end)
    facility = _el(_el(node, "location"), "healthCareFacility")
    if encounter.facility_id is not None:
        _ii(facility, encounter.facility_id)
    _code(facility, "code", encounter.facility_type)
    if encounter.facility_name:
        _el(_el(facility, "location"), "name", encounter.facility_name)


def to_xml(header: CdaHeader, body: Body) -> bytes:
    """Serialise a prepared header (see :func:`prepare_header`) and a level-1 body."""
    if body.level != 1 or body.payload is None or body.media_type is None:
        raise DocumentError("body", "only level-1 bodies (a payload) can be written")
    root = etree.Element(
        _H + "ClinicalDocument",
        nsmap={None: HL7_NS, "xsi": XSI_NS},  # type: ignore[dict-item]
    )
    _el(root, "realmCode", code=CdaHeader.REALM)
    _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for tid in header.template_ids:
        attrs = {"root": tid.root}
        if tid.extension:
            attrs["extension"] = tid.extension
        _el(root, "templateId", **attrs)
    _ii(root, header.id)
    _code(root, "code", header.code)
    _el(root, "title", header.title)
    _ts(root, "effectiveTime", header.effective_time)
    conf = header.confidentiality
    _el(
        root,
        "confidentialityCode",
        code=conf.value,
        codeSystem="2.16.840.1.113883.5.25",
        displayName=conf.display_name,
    )
    _el(root, "languageCode", code=header.language)
    _ii(root, header.set_id, "setId")
    _el(root, "versionNumber", value=str(header.version))
    _record_target(root, header.patient)
    for author in header.authors:
        node = _el(root, "author")
        _ts(node, "time", header.effective_time)
        _professional(node, "assignedAuthor", author, author.practice_setting)
    custodian = _el(_el(root, "custodian"), "assignedCustodian")
    _organization(custodian, "representedCustodianOrganization", header.custodian, None)
    legal = header.legal_authenticator
    assert legal is not None
    node = _el(root, "legalAuthenticator")
    _ts(node, "time", header.effective_time)
    _el(node, "signatureCode", code="S")
    _professional(node, "assignedEntity", legal, legal.practice_setting)
    for event in header.service_events:
        _service_event(root, event)
    if header.replaces is not None:
        parent = _el(_el(root, "relatedDocument", typeCode="RPLC"), "parentDocument")
        _ii(parent, header.replaces)
    assert header.encounter is not None
    _encounter(root, header.encounter)
    text = _el(
        _el(_el(root, "component"), "nonXMLBody"),
        "text",
        mediaType=body.media_type,
        representation="B64",
    )
    text.text = base64.b64encode(body.payload).decode("ascii")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
