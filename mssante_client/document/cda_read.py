"""Read any CDA R2 document (level 1 or structured) into the models.

Parsing goes through :func:`._xml.safe_parse` (no DTD, no entities, no network, DOCTYPE
refused). Reading is lenient about what it cannot control (identifiers with a wrong key, missing
optional parts, several authors) but refuses what is not a CDA. A level-1 payload is decoded and
its media type sniffed from the bytes; the declared ``mediaType`` is kept for information only.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, timedelta, timezone
from functools import cache

from lxml import etree

from ..errors import DocumentError, InvalidInputError, XMLError
from ..identity import INS
from ._media import sniff_media_type
from ._xml import safe_parse
from .cda import HL7_NS
from .models import (
    Body,
    CdaHeader,
    Code,
    Confidentiality,
    Encounter,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    Section,
    ServiceEvent,
    Sex,
    TemplateId,
)

__all__ = ["parse_ts", "read_cda"]

_log = logging.getLogger("mssante_client.document")
_NS = {"h": HL7_NS}
_H = f"{{{HL7_NS}}}"
_INS_ROOTS = frozenset({INS.OID_NIR, INS.OID_NIA, INS.OID_TEST_NIR, INS.OID_TEST_NIA})


def parse_ts(value: str, field: str = "effectiveTime") -> datetime:
    """Parse an HL7 TS (``YYYYMMDD[hh[mm[ss[.f]]]][+/-zzzz]``) into a datetime.

    A value without an offset gives a naive datetime (the CDA did not say which zone).
    """
    raw = value.strip()
    tz = None
    for sign in ("+", "-"):
        if sign in raw[8:]:
            pos = raw.rindex(sign)
            raw, off = raw[:pos], raw[pos + 1 :]
            if len(off) != 4 or not (off.isascii() and off.isdigit()):
                raise DocumentError(field, "bad UTC offset in HL7 timestamp")
            delta = timedelta(hours=int(off[:2]), minutes=int(off[2:]))
            tz = timezone(delta if sign == "+" else -delta)
            break
    raw = raw.split(".")[0]
    if not (raw.isascii() and raw.isdigit()) or len(raw) not in (4, 6, 8, 10, 12, 14):
        raise DocumentError(field, "not an HL7 timestamp")
    raw = raw + "0101000000"[len(raw) - 4 :] if len(raw) < 14 else raw
    return datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=tz)


@cache
def _steps(path: str) -> tuple[str, ...]:
    return tuple(_H + step.removeprefix("h:") for step in path.split("/"))


def _one(node: etree._Element, path: str) -> etree._Element | None:
    """First element at a simple child path (``h:a/h:b``); C-level walk, no ElementPath."""
    found: etree._Element | None = node
    for tag in _steps(path):
        assert found is not None
        found = next(found.iterchildren(tag), None)
        if found is None:
            return None
    return found


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    text = "".join(str(t) for t in node.itertext()).strip()
    return " ".join(text.split()) or None


def _code(node: etree._Element | None) -> Code | None:
    if node is None or not node.get("code") or not node.get("codeSystem"):
        return None
    try:
        return Code(
            code=node.get("code", ""),
            code_system=node.get("codeSystem", ""),
            display_name=node.get("displayName"),
        )
    except InvalidInputError:
        return None


def _ii(node: etree._Element | None) -> InstanceId | None:
    if node is None or not node.get("root"):
        return None
    try:
        return InstanceId(root=node.get("root", ""), extension=node.get("extension"))
    except InvalidInputError:
        return None


def _ts(node: etree._Element | None, field: str) -> datetime | None:
    if node is None or not node.get("value"):
        return None
    return parse_ts(node.get("value", ""), field)


def _organization(node: etree._Element | None) -> tuple[Organization | None, Code | None]:
    if node is None:
        return None, None
    ident = _ii(_one(node, "h:id"))
    setting = _code(_one(node, "h:standardIndustryClassCode"))
    if ident is None:
        return None, setting
    return Organization(id=ident, name=_text(_one(node, "h:name"))), setting


def _professional(
    node: etree._Element | None, *, keep_setting: bool = True
) -> tuple[HealthProfessional | None, Code | None]:
    if node is None:
        return None, None
    ident = _ii(_one(node, "h:id"))
    if ident is None:
        return None, None
    name = _one(node, "h:assignedPerson/h:name")
    org, setting = _organization(_one(node, "h:representedOrganization"))
    person = HealthProfessional(
        id=ident,
        family_name=_text(_one(name, "h:family")) if name is not None else None,
        given_name=_text(_one(name, "h:given")) if name is not None else None,
        prefix=_text(_one(name, "h:prefix")) if name is not None else None,
        suffix=_text(_one(name, "h:suffix")) if name is not None else None,
        specialty=_code(_one(node, "h:code")),
        organization=org,
        practice_setting=setting if keep_setting else None,
    )
    return person, setting


def _patient(root: etree._Element) -> Patient:
    role = _one(root, "h:recordTarget/h:patientRole")
    if role is None:
        raise DocumentError("recordTarget", "missing recordTarget/patientRole")
    ins: INS | None = None
    ipp: InstanceId | None = None
    for node in role.findall("h:id", _NS):
        root_oid, ext = node.get("root", ""), node.get("extension")
        if root_oid in _INS_ROOTS and ext and ins is None:
            try:
                # A sender may only write a qualified INS (Ségur INS rules): trust that claim.
                ins = INS(ext, oid=root_oid, qualified=True)
            except InvalidInputError:
                _log.warning("recordTarget: an INS id does not validate; ignored")
        elif ipp is None and ext:
            ipp = _ii(node)
    person = _one(role, "h:patient")
    name = _one(person, "h:name") if person is not None else None
    families: dict[str | None, str] = {}
    givens: dict[str | None, str] = {}
    if name is not None:
        for fam in name.findall("h:family", _NS):
            families.setdefault(fam.get("qualifier"), _text(fam) or "")
        for giv in name.findall("h:given", _NS):
            givens.setdefault(giv.get("qualifier"), _text(giv) or "")
    birth_family = families.get("BR") or families.get(None) or families.get("SP") or ""
    all_given = givens.get(None) or givens.get("BR") or givens.get("CL") or ""
    gender = _one(person, "h:administrativeGenderCode") if person is not None else None
    birth = _ts(_one(person, "h:birthTime"), "birthTime") if person is not None else None
    county = (
        _text(_one(person, "h:birthplace/h:place/h:addr/h:county")) if person is not None else None
    )
    try:
        sex = Sex.from_cda(gender.get("code", "UN")) if gender is not None else Sex.U
    except ValueError:
        sex = Sex.U
    return Patient(
        ins=ins,
        ipp=ipp,
        birth_family_name=birth_family or "?",
        given_names=tuple(all_given.split()) or ("?",),
        birth_date=birth.date() if birth is not None else None,
        sex=sex,
        birthplace_insee=county,
        used_family_name=families.get("CL"),
        used_given_name=givens.get("CL"),
    )


def _service_event(node: etree._Element) -> ServiceEvent | None:
    start = _ts(_one(node, "h:effectiveTime/h:low"), "serviceEvent.effectiveTime.low")
    start = start or _ts(_one(node, "h:effectiveTime"), "serviceEvent.effectiveTime")
    if start is None:
        return None
    performer, setting = _professional(
        _one(node, "h:performer/h:assignedEntity"), keep_setting=False
    )
    return ServiceEvent(
        start=start,
        end=_ts(_one(node, "h:effectiveTime/h:high"), "serviceEvent.effectiveTime.high"),
        code=_code(_one(node, "h:code")),
        practice_setting=setting,
        performer=performer,
    )


def _encounter(root: etree._Element) -> Encounter | None:
    node = _one(root, "h:componentOf/h:encompassingEncounter")
    if node is None:
        return None
    facility = _one(node, "h:location/h:healthCareFacility")
    facility_type = _code(_one(facility, "h:code")) if facility is not None else None
    if facility_type is None:
        return None
    return Encounter(
        facility_type=facility_type,
        facility_id=_ii(_one(facility, "h:id")) if facility is not None else None,
        facility_name=(
            _text(_one(facility, "h:location/h:name")) if facility is not None else None
        ),
        start=_ts(_one(node, "h:effectiveTime/h:low"), "encompassingEncounter.effectiveTime")
        or _ts(_one(node, "h:effectiveTime"), "encompassingEncounter.effectiveTime"),
        end=_ts(_one(node, "h:effectiveTime/h:high"), "encompassingEncounter.effectiveTime"),
        code=_code(_one(node, "h:code")),
    )


def _body(root: etree._Element) -> Body:
    component = _one(root, "h:component")
    if component is None:
        raise DocumentError("component", "the CDA has no body")
    text = _one(component, "h:nonXMLBody/h:text")
    if text is not None:
        declared = text.get("mediaType")
        reference = _one(text, "h:reference")
        if text.get("representation") != "B64" or reference is not None:
            raw = (text.text or "").encode("utf-8") if reference is None else b""
        else:
            compact = "".join((text.text or "").split())
            try:
                raw = base64.b64decode(compact)
            except (binascii.Error, ValueError) as exc:
                raise DocumentError("nonXMLBody.text", "payload is not valid base64") from exc
            # The lenient decoder (much faster than validate=True) skips foreign characters:
            # any such character shows as a shorter output than the input length implies.
            expected = len(compact) // 4 * 3 - (len(compact) - len(compact.rstrip("=")))
            if len(compact) % 4 or len(raw) != expected:
                raise DocumentError("nonXMLBody.text", "payload is not valid base64")
        return Body(
            level=1,
            media_type=sniff_media_type(raw),
            declared_media_type=declared,
            payload=raw,
        )
    structured = _one(component, "h:structuredBody")
    if structured is None:
        raise DocumentError("component", "neither nonXMLBody nor structuredBody")
    sections = []
    for sec in structured.findall("h:component/h:section", _NS):
        sections.append(
            Section(
                title=_text(_one(sec, "h:title")),
                code=_code(_one(sec, "h:code")),
                template_ids=tuple(t.get("root", "") for t in sec.findall("h:templateId", _NS)),
            )
        )
    return Body(level=3, sections=tuple(sections))


def read_cda(data: bytes) -> tuple[CdaHeader, Body]:
    """Parse CDA bytes into its header and body models.

    Raises :class:`XMLError` for unsafe/malformed XML or a root that is not
    ``{urn:hl7-org:v3}ClinicalDocument``, :class:`DocumentError` when a mandatory element
    (id, code, title, effectiveTime, recordTarget, author, custodian, body) is missing.
    """
    root = safe_parse(data, what="CDA document")
    if root.tag != _H + "ClinicalDocument":
        raise XMLError("CDA document: root element is not hl7:ClinicalDocument")
    doc_id = _ii(_one(root, "h:id"))
    code = _code(_one(root, "h:code"))
    title = _text(_one(root, "h:title"))
    effective = _ts(_one(root, "h:effectiveTime"), "effectiveTime")
    if doc_id is None or code is None or effective is None:
        raise DocumentError("header", "id, code and effectiveTime are required in a CDA")
    conf_node = _one(root, "h:confidentialityCode")
    try:
        conf = Confidentiality(conf_node.get("code", "N")) if conf_node is not None else None
    except ValueError:
        conf = None
    lang = _one(root, "h:languageCode")
    version = _one(root, "h:versionNumber")
    authors = []
    for node in root.findall("h:author/h:assignedAuthor", _NS):
        person, _ = _professional(node)
        if person is not None:
            authors.append(person)
    if not authors:
        raise DocumentError("author", "no author with an id")
    custodian, _ = _organization(
        _one(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
    )
    if custodian is None:
        raise DocumentError("custodian", "missing custodian organisation id")
    legal, _ = _professional(_one(root, "h:legalAuthenticator/h:assignedEntity"))
    events = [
        e
        for e in (_service_event(n) for n in root.findall("h:documentationOf/h:serviceEvent", _NS))
        if e is not None
    ]
    replaces = None
    for rel in root.findall("h:relatedDocument", _NS):
        if rel.get("typeCode") == "RPLC":
            replaces = _ii(_one(rel, "h:parentDocument/h:id"))
    try:
        version_number = int(version.get("value", "1")) if version is not None else 1
    except ValueError:
        version_number = 1
    lang_code = lang.get("code") if lang is not None else None
    header = CdaHeader(
        id=doc_id,
        code=code,
        title=title or "",
        effective_time=effective,
        confidentiality=conf or Confidentiality.N,
        language=lang_code if lang_code and len(lang_code) == 5 else "fr-FR",
        set_id=_ii(_one(root, "h:setId")) or doc_id,
        version=max(version_number, 1),
        replaces=replaces,
        template_ids=tuple(
            TemplateId(root=t.get("root", ""), extension=t.get("extension"))
            for t in root.findall("h:templateId", _NS)
        ),
        patient=_patient(root),
        authors=tuple(authors),
        custodian=custodian,
        legal_authenticator=legal,
        service_events=tuple(events),
        encounter=_encounter(root),
    )
    return header, _body(root)
