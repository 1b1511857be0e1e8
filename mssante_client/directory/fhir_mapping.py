"""Annuaire Santé FHIR ↔ directory models, as pure functions (no I/O).

Two directions, both pure so they are tested without a server:

- :func:`plan_searches`: a :class:`DirectoryQuery` → the FHIR searches that can answer it
  (resource type and search parameters, rules §5.1);
- :func:`entries_from_bundle`: a searchset Bundle (JSON) → :class:`Professional` /
  :class:`Organisation` entries carrying their MSSanté mailboxes.

What the server cannot filter is left to :meth:`DirectoryQuery.matches`, applied by the backend
to every mapped entry: the mailbox type (``mailbox-mss-type`` is not exposed by the gateway, rules
§5.1), accents, and criteria a resource does not carry. Mailboxes flagged ``listeRouge`` are never
returned: their owner asked not to be published (rules §4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..identity import (
    ADELI,
    FINESS,
    RPPS,
    SIRET,
    IdNatPS,
    IdNatStruct,
    MailboxType,
    MSSanteAddress,
)
from ._text import fold
from .models import (
    CodedConcept,
    DirectoryEntry,
    DirectoryMailbox,
    Organisation,
    PostalAddress,
    Professional,
    department_of,
)
from .query import DirectoryQuery

__all__ = [
    "MAILBOX_METADATA_URL",
    "MAX_COUNT",
    "FhirSearch",
    "entries_from_bundle",
    "mailboxes_of",
    "next_link",
    "operation_outcome_text",
    "plan_searches",
    "server_text",
]

log = logging.getLogger("mssante_client.directory")

MAILBOX_METADATA_URL: Final = (
    "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
    "as-ext-mailbox-mss-metadata"
)
#: The ``emailType`` extension codes the messaging system (TRE_R256); MSSANTE marks a BAL.
MESSAGING_TYPE_SYSTEM: Final = "TRE_R256-TypeMessagerie"
MSSANTE_EMAIL_TYPE: Final = "MSSANTE"
ID_NAT_PS_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.1"
ID_NAT_STRUCT_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.2"
RPPS_SYSTEM: Final = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM: Final = "https://finess.esante.gouv.fr"
SIRET_SYSTEMS: Final = frozenset({"https://sirene.fr", "http://sirene.fr"})
PROFESSION_SYSTEM: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
SPECIALTY_SYSTEM: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
)
#: The gateway serves at most 50 entries per page (rules §5.1).
MAX_COUNT: Final = 50
#: ``mailbox-mss`` is a string parameter (``:contains``/``:exact``); every address holds an "@",
#: so this keeps only resources that publish at least one MSSanté mailbox.
HAS_MAILBOX: Final = ("mailbox-mss:contains", "@")

_PROFESSIONAL_TYPES: Final = frozenset({MailboxType.PER, MailboxType.CAB})
_ORGANISATION_TYPES: Final = frozenset({MailboxType.ORG, MailboxType.APP})


@dataclass(frozen=True, slots=True)
class FhirSearch:
    """One FHIR search: ``GET [base]/{resource}?{params}``."""

    resource: str
    params: tuple[tuple[str, str], ...]


# --- query → searches ----------------------------------------------------------------------


def server_text(value: str, *, longest: bool = False) -> str:
    """The part of a text criterion safe to send to the server.

    The reference semantics fold separators (``saint m`` finds ``SAINT-MARTIN``) but a FHIR
    string search compares them literally. Sending one word keeps the server's answer a
    superset of the right one, which the client-side filter then narrows: the first word for a
    prefix (name, city), the longest for a substring (organisation).
    """
    words = fold(value).split()
    if not words:
        return value
    return max(words, key=len) if longest else words[0]


def _ps_identifier(query: DirectoryQuery) -> str | None:
    ids = {
        str(x)
        for x in (
            query.id_nat_ps,
            query.rpps.id_nat_ps if query.rpps else None,
            query.adeli.id_nat_ps if query.adeli else None,
        )
        if x is not None
    }
    # Two different identifiers cannot both belong to one person: let the server find nobody.
    return "|".join(sorted(ids)) if ids else None


def _professional_params(query: DirectoryQuery, prefix: str) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    identifier = _ps_identifier(query)
    if identifier is not None:
        params.append((f"{prefix}identifier", f"{ID_NAT_PS_SYSTEM}|{identifier}"))
    if query.family_name is not None:
        params.append((f"{prefix}family", server_text(query.family_name)))
    if query.given_name is not None:
        params.append((f"{prefix}given", server_text(query.given_name)))
    if query.profession is not None:
        params.append((f"{prefix}qualification-code", f"{PROFESSION_SYSTEM}|{query.profession}"))
    if query.specialty is not None:
        params.append((f"{prefix}qualification-code", f"{SPECIALTY_SYSTEM}|{query.specialty}"))
    return params


def _place_params(query: DirectoryQuery, prefix: str) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if query.city is not None:
        params.append((f"{prefix}address-city", server_text(query.city)))
    if query.postal_code is not None:
        params.append((f"{prefix}address-postalcode", query.postal_code))
    elif query.department is not None:
        # FHIR string search is "starts with": 75 → 75xxx; Corsica's 2A/2B both start with 20.
        prefix_code = "20" if query.department in ("2A", "2B") else query.department
        params.append((f"{prefix}address-postalcode", prefix_code))
    return params


def _structure_params(query: DirectoryQuery, prefix: str) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for structure in (query.finess, query.siret):
        if structure is not None:
            value = f"{ID_NAT_STRUCT_SYSTEM}|{structure.id_nat_struct}"
            params.append((f"{prefix}identifier", value))
    if query.organisation is not None:
        params.append((f"{prefix}name:contains", server_text(query.organisation, longest=True)))
    return params


def plan_searches(query: DirectoryQuery, count: int = MAX_COUNT) -> list[FhirSearch]:
    """The searches that together return every entry the query can match, in order.

    - ``Practitioner`` (PER mailboxes published on the professional, rules §4), with its roles
      and their organisations included for the structure and the place;
    - ``PractitionerRole`` (PER mailboxes published on an activity), with practitioner and
      organisation included; professional and place criteria are chained;
    - ``Organization`` (ORG/APP mailboxes).

    A leg is skipped when the query cannot match its kind of entry (e.g. a family name never
    matches an organisation, a type ORG never a professional).
    """
    count_param = ("_count", str(max(1, min(count, MAX_COUNT))))
    professional = _professional_params(query, "")
    wants_type = query.mailbox_type
    searches: list[FhirSearch] = []
    professional_possible = wants_type is None or wants_type in _PROFESSIONAL_TYPES
    organisation_possible = (wants_type is None or wants_type in _ORGANISATION_TYPES) and not (
        professional
    )
    # Without professional criteria the Practitioner leg could only be filtered client side,
    # i.e. by paging through the whole national directory: skip it when another leg narrows
    # the search on the server (professionals are then found through their roles).
    narrowed_elsewhere = bool(_place_params(query, "") or _structure_params(query, ""))
    if professional_possible and (professional or not narrowed_elsewhere):
        searches.append(
            FhirSearch(
                "Practitioner",
                (
                    HAS_MAILBOX,
                    *professional,
                    count_param,
                    ("_revinclude", "PractitionerRole:practitioner"),
                    ("_include:iterate", "PractitionerRole:organization"),
                ),
            )
        )
    if professional_possible:
        searches.append(
            FhirSearch(
                "PractitionerRole",
                (
                    HAS_MAILBOX,
                    *_professional_params(query, "practitioner."),
                    *_place_params(query, "organization."),
                    *_structure_params(query, "organization."),
                    count_param,
                    ("_include", "PractitionerRole:practitioner"),
                    ("_include", "PractitionerRole:organization"),
                ),
            )
        )
    if organisation_possible:
        searches.append(
            FhirSearch(
                "Organization",
                (
                    HAS_MAILBOX,
                    *_structure_params(query, ""),
                    *_place_params(query, ""),
                    count_param,
                ),
            )
        )
    return searches


# --- bundle → entries ----------------------------------------------------------------------


def _extension(element: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    for extension in element.get("extension", ()) or ():
        if isinstance(extension, Mapping) and extension.get("url") == url:
            return extension
    return None


def _codes(concept: Any) -> Iterator[tuple[str | None, str, str | None]]:
    """(system, code, display) of a CodeableConcept or a Coding."""
    if not isinstance(concept, Mapping):
        return
    codings = concept.get("coding", [concept]) if "coding" in concept else [concept]
    for coding in codings:
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            yield coding.get("system"), coding["code"], coding.get("display")


def _mailbox(telecom: Mapping[str, Any]) -> DirectoryMailbox | None:
    """A telecom is an MSSanté mailbox if it is an e-mail carrying the MSS metadata extension
    or the MSSANTE e-mail type (profile ``as-mailbox-mss``, rules §5.1)."""
    if telecom.get("system") != "email" or not isinstance(telecom.get("value"), str):
        return None
    metadata = _extension(telecom, MAILBOX_METADATA_URL)
    is_mss = metadata is not None or any(
        isinstance(extension, Mapping)
        and any(
            code == MSSANTE_EMAIL_TYPE and MESSAGING_TYPE_SYSTEM in (system or "")
            for system, code, _ in _codes(extension.get("valueCoding"))
        )
        for extension in telecom.get("extension", ()) or ()
    )
    if not is_mss:
        return None
    mailbox_type: MailboxType | None = None
    description = service = None
    if metadata is not None:
        for part in metadata.get("extension", ()) or ():
            if not isinstance(part, Mapping):
                continue
            name = part.get("url")
            if name == "listeRouge" and part.get("valueBoolean") is True:
                return None  # not to be published (rules §4)
            if name == "type":
                for _, code, _ in _codes(part.get("valueCodeableConcept")):
                    try:
                        mailbox_type = MailboxType.parse(code)
                    except ValueError:
                        log.debug("unknown mailbox type code in the directory")
            elif name == "description" and isinstance(part.get("valueString"), str):
                description = part["valueString"]
            elif name == "service" and isinstance(part.get("valueString"), str):
                service = part["valueString"]
    try:
        address = MSSanteAddress(telecom["value"])
    except ValueError:
        log.debug("directory holds an invalid mailbox address")
        return None
    return DirectoryMailbox(
        address=address, type=mailbox_type, description=description, service=service
    )


def mailboxes_of(resource: Mapping[str, Any]) -> tuple[DirectoryMailbox, ...]:
    """The published MSSanté mailboxes of a resource (``listeRouge`` ones left out)."""
    found = (
        _mailbox(telecom)
        for telecom in resource.get("telecom", ()) or ()
        if isinstance(telecom, Mapping)
    )
    return tuple(mailbox for mailbox in found if mailbox is not None)


def _identifiers(resource: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for identifier in resource.get("identifier", ()) or ():
        if isinstance(identifier, Mapping):
            system, value = identifier.get("system"), identifier.get("value")
            if isinstance(system, str) and isinstance(value, str):
                out.setdefault(system, value)
    return out


def _typed(kind: Any, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        log.debug("directory holds an invalid %s", kind.__name__)
        return None


def _addresses(resource: Mapping[str, Any]) -> tuple[PostalAddress, ...]:
    out: list[PostalAddress] = []
    for address in resource.get("address", ()) or ():
        if not isinstance(address, Mapping):
            continue
        postal_code = address.get("postalCode")
        postal_code = postal_code if isinstance(postal_code, str) else None
        district = address.get("district")
        department = department_of(postal_code) or (district if isinstance(district, str) else None)
        lines = tuple(line for line in address.get("line", ()) or () if isinstance(line, str))
        city = address.get("city")
        country = address.get("country")
        out.append(
            PostalAddress(
                lines=lines,
                postal_code=postal_code,
                city=city if isinstance(city, str) else None,
                department=department,
                country=country if isinstance(country, str) else None,
            )
        )
    return tuple(out)


def _structure_fields(organisation: Mapping[str, Any] | None) -> dict[str, Any]:
    if organisation is None:
        return {}
    ids = _identifiers(organisation)
    structure: IdNatStruct | None = _typed(IdNatStruct, ids.get(ID_NAT_STRUCT_SYSTEM))
    finess: FINESS | None = _typed(FINESS, ids.get(FINESS_SYSTEM))
    siret: SIRET | None = next(
        (s for s in (_typed(SIRET, ids.get(system)) for system in SIRET_SYSTEMS) if s), None
    )
    name = organisation.get("name")
    return {
        "organisation_name": name if isinstance(name, str) else None,
        "id_nat_struct": structure,
        "finess": finess or (structure.finess if structure else None),
        "siret": siret or (structure.siret if structure else None),
        "addresses": _addresses(organisation),
    }


def _person_fields(practitioner: Mapping[str, Any] | None) -> dict[str, Any]:
    if practitioner is None:
        return {}
    names = [n for n in practitioner.get("name", ()) or () if isinstance(n, Mapping)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), None) or (
        names[0] if names else {}
    )
    given = [g for g in name.get("given", ()) or () if isinstance(g, str)]
    prefix = [p for p in name.get("prefix", ()) or () if isinstance(p, str)]
    family = name.get("family")
    ids = _identifiers(practitioner)
    id_nat_ps: IdNatPS | None = _typed(IdNatPS, ids.get(ID_NAT_PS_SYSTEM))
    rpps: RPPS | None = _typed(RPPS, ids.get(RPPS_SYSTEM))
    if rpps is None and id_nat_ps is not None:
        rpps = id_nat_ps.rpps
    adeli: ADELI | None = id_nat_ps.adeli if id_nat_ps is not None else None
    fields: dict[str, Any] = {
        "family_name": family if isinstance(family, str) else None,
        "given_name": " ".join(given) or None,
        "civility": " ".join(prefix) or None,
        "id_nat_ps": id_nat_ps,
        "rpps": rpps,
        "adeli": adeli,
    }
    for qualification in practitioner.get("qualification", ()) or ():
        if isinstance(qualification, Mapping):
            fields.update(_coded_fields(qualification.get("code"), fields))
    return fields


def _coded_fields(concept: Any, already: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system, code, display in _codes(concept):
        if system == PROFESSION_SYSTEM and already.get("profession") is None:
            out["profession"] = CodedConcept.profession(code, display)
        elif system == SPECIALTY_SYSTEM and already.get("specialty") is None:
            out["specialty"] = CodedConcept.specialty(code, display)
    return out


def _reference_key(reference: Any) -> str | None:
    """``{"reference": "Practitioner/123"}`` or an absolute URL → ``"Practitioner/123"``."""
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].rstrip("/").split("/")
    if len(parts) < 2:
        return None
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return f"{parts[-2]}/{parts[-1]}"


class _Resources:
    """The resources of a bundle by ``Type/id``, and the roles of each practitioner."""

    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.matches: list[Mapping[str, Any]] = []
        self.by_key: dict[str, Mapping[str, Any]] = {}
        self.roles_of: dict[str, list[Mapping[str, Any]]] = {}
        for entry in bundle.get("entry", ()) or ():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
                continue
            resource = entry["resource"]
            kind, ident = resource.get("resourceType"), resource.get("id")
            if isinstance(kind, str) and isinstance(ident, str):
                self.by_key[f"{kind}/{ident}"] = resource
            mode = (entry.get("search") or {}).get("mode", "match")
            if mode == "match":
                self.matches.append(resource)
            if kind == "PractitionerRole":
                key = _reference_key(resource.get("practitioner"))
                if key is not None:
                    self.roles_of.setdefault(key, []).append(resource)

    def get(self, reference: Any) -> Mapping[str, Any] | None:
        key = _reference_key(reference)
        return self.by_key.get(key) if key is not None else None


def _professional(
    mailboxes: Sequence[DirectoryMailbox],
    practitioner: Mapping[str, Any] | None,
    role: Mapping[str, Any] | None,
    organisation: Mapping[str, Any] | None,
    source_id: str | None,
) -> Professional:
    fields = _person_fields(practitioner)
    if role is not None:
        for key in ("code", "specialty"):
            for concept in role.get(key, ()) or ():
                fields.update(_coded_fields(concept, fields))
    fields.update(_structure_fields(organisation))
    return Professional(mailboxes=tuple(mailboxes), source="fhir", source_id=source_id, **fields)


def _entries(resources: _Resources) -> Iterator[DirectoryEntry]:
    for resource in resources.matches:
        kind = resource.get("resourceType")
        ident = resource.get("id")
        source_id = f"{kind}/{ident}" if isinstance(ident, str) else None
        mailboxes = mailboxes_of(resource)
        if not mailboxes:
            continue
        if kind == "Practitioner":
            roles = resources.roles_of.get(source_id or "", [])
            role = roles[0] if roles else None
            organisation = resources.get(role.get("organization")) if role else None
            yield _professional(mailboxes, resource, role, organisation, source_id)
        elif kind == "PractitionerRole":
            practitioner = resources.get(resource.get("practitioner"))
            organisation = resources.get(resource.get("organization"))
            yield _professional(mailboxes, practitioner, resource, organisation, source_id)
        elif kind == "Organization":
            fields = _structure_fields(resource)
            yield Organisation(mailboxes=mailboxes, source="fhir", source_id=source_id, **fields)


def entries_from_bundle(
    bundle: Mapping[str, Any], query: DirectoryQuery | None = None
) -> list[DirectoryEntry]:
    """The entries of a searchset Bundle that carry a published mailbox (and match ``query``).

    With a query, only the mailboxes of the wanted type are kept in each entry, and entries are
    kept only if :meth:`DirectoryQuery.matches` accepts them (the client-side part of the
    search). Entries are de-duplicated by mailbox address within the bundle.
    """
    out: list[DirectoryEntry] = []
    seen: set[str] = set()
    for entry in _entries(_Resources(bundle)):
        if query is not None and query.mailbox_type is not None:
            kept = tuple(m for m in entry.mailboxes if m.type == query.mailbox_type)
            if not kept:
                continue
            entry = entry.model_copy(update={"mailboxes": kept})
        if query is not None and not query.matches(entry):
            continue
        addresses = {str(m.address) for m in entry.mailboxes}
        if addresses <= seen:
            continue
        seen |= addresses
        out.append(entry)
    return out


def next_link(bundle: Mapping[str, Any]) -> str | None:
    """The ``next`` paging link of a Bundle, if any."""
    for link in bundle.get("link", ()) or ():
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def operation_outcome_text(body: Any, limit: int = 300) -> str:
    """The diagnostics of an OperationOutcome, for an error message (bounded in length)."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts: list[str] = []
    for issue in body.get("issue", ()) or ():
        if not isinstance(issue, Mapping):
            continue
        details = issue.get("details")
        text = issue.get("diagnostics") or (
            details.get("text") if isinstance(details, Mapping) else None
        )
        if isinstance(text, str) and text.strip():
            texts.append(" ".join(text.split()))
    joined = "; ".join(texts)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def iter_bundle_resources(bundle: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Every resource of a bundle (matches and includes), for diagnostics and tests."""
    return _Resources(bundle).by_key.values()
