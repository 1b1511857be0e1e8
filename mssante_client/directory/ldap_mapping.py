"""Which LDAP attribute holds which directory field, and how an entry becomes a model.

Why configurable: the real MSSanté LDAP schema was never published (rules §5.3, open question
9); an operator's or a hospital's directory proxy uses its own names. The default,
:data:`SANDBOX_MAPPING`, is the sandbox's stand-in schema (docs/sandbox.md, ``mss*``
attributes on top of inetOrgPerson names); pass another :class:`LDAPMapping` for another schema.

Pure: :func:`entry_to_model` takes python-ldap's ``{attr: [bytes, ...]}`` and returns a
:class:`~.models.Professional` or :class:`~.models.Organisation`, no socket involved.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from ..errors import IdentifierError, InvalidInputError
from ..identity import (
    ADELI,
    FINESS,
    RPPS,
    SIRET,
    IdNatPS,
    IdNatStruct,
    MailboxType,
    MSSanteAddress,
    _unchecked,
)
from .models import (
    CodedConcept,
    DirectoryEntry,
    DirectoryMailbox,
    Organisation,
    PostalAddress,
    Professional,
    department_of,
)
from .models import (
    build_trusted as _build,
)

__all__ = ["SANDBOX_MAPPING", "LDAPMapping", "entry_to_model"]

_log = logging.getLogger("mssante_client.directory")

_DEFAULT_TYPE_VALUES: Final[Mapping[MailboxType, tuple[str, ...]]] = MappingProxyType(
    {
        MailboxType.PER: ("PER", "NOMINATIVE"),
        MailboxType.ORG: ("ORG", "ORGANISATIONNELLE"),
        MailboxType.APP: ("APP", "APPLICATIVE"),
        MailboxType.CAB: ("CAB", "CABINET"),
    }
)


@dataclass(frozen=True, eq=False)  # hashed by identity: mappings key small caches
class LDAPMapping:
    """LDAP attribute names for each field; ``None`` means the directory has no such attribute.

    ``folded`` names attributes that store an ASCII-folded copy of a field
    (:func:`._text.fold`), keyed by query criterion (``family_name``, ``given_name``, ``city``,
    ``organisation``): when given, the server can match accents exactly and no accent-tolerant
    filter is needed.
    """

    object_class: str = "mssBoiteAuxLettres"
    mail: str = "mail"
    mailbox_type: str = "mssTypeBAL"
    family_name: str | None = "sn"
    given_name: str | None = "givenName"
    common_name: str | None = "cn"
    display_name: str | None = "displayName"
    civility: str | None = "title"
    description: str | None = "description"
    id_nat_ps: str | None = "mssIdNatPS"
    rpps: str | None = "mssRPPS"
    adeli: str | None = "mssADELI"
    profession_code: str | None = "mssCodeProfession"
    profession_label: str | None = "mssLibelleProfession"
    specialty_code: str | None = "mssCodeSavoirFaire"
    specialty_label: str | None = "mssLibelleSavoirFaire"
    organisation: str | None = "o"
    service: str | None = "ou"
    finess: str | None = "mssFINESS"
    siret: str | None = "mssSIRET"
    id_nat_struct: str | None = "mssIdNatStruct"
    street: str | None = "street"
    city: str | None = "l"
    postal_code: str | None = "postalCode"
    department: str | None = "mssDepartement"
    dematerialisation: str | None = "mssDematerialisation"
    #: Boolean attribute of mailboxes that must not be published (liste rouge, rules §4).
    red_list: str | None = "mssListeRouge"
    #: Values of ``mailbox_type`` for each type (the first one is the canonical one).
    type_values: Mapping[MailboxType, tuple[str, ...]] = field(
        default_factory=lambda: _DEFAULT_TYPE_VALUES
    )
    folded: Mapping[str, str] = field(default_factory=dict)

    def attributes(self) -> list[str]:
        """Every attribute to request from the server."""
        return [n for n in dict.fromkeys(getattr(self, f) for f in _FIELDS) if n]

    def parse_type(self, value: str | None) -> MailboxType | None:
        if value is None:
            return None
        return _type_table(self).get(value.strip().upper())


#: The mapped fields, in the order :func:`entry_to_model` reads them.
_FIELDS: Final = (
    "mail",
    "mailbox_type",
    "family_name",
    "given_name",
    "common_name",
    "display_name",
    "civility",
    "description",
    "id_nat_ps",
    "rpps",
    "adeli",
    "profession_code",
    "profession_label",
    "specialty_code",
    "specialty_label",
    "organisation",
    "service",
    "finess",
    "siret",
    "id_nat_struct",
    "street",
    "city",
    "postal_code",
    "department",
    "dematerialisation",
)


_FIELD_COUNT: Final = len(_FIELDS)


@dataclass(frozen=True)
class _Slots:
    """Where the first value of each attribute goes in the list of :data:`_FIELDS`."""

    #: attribute name (as the mapping spells it, and lower-cased) → position in ``_FIELDS``
    position: Mapping[str, int]
    #: (position, position it copies) for fields mapped to an attribute another field uses
    copies: tuple[tuple[int, int], ...]


@functools.cache
def _slots(mapping: LDAPMapping) -> _Slots:
    position: dict[str, int] = {}
    copies: list[tuple[int, int]] = []
    for i, f in enumerate(_FIELDS):
        name = getattr(mapping, f)
        if not name:
            continue
        first = position.get(name.lower())
        if first is not None:
            copies.append((i, first))
        else:
            position[name] = position[name.lower()] = i
    return _Slots(position, tuple(copies))


@functools.cache
def _type_table(mapping: LDAPMapping) -> dict[str, MailboxType]:
    return {v.upper(): kind for kind, values in mapping.type_values.items() for v in values}


#: The sandbox's stand-in schema (docs/sandbox.md), the documented default.
SANDBOX_MAPPING: Final = LDAPMapping()

_PERSON_TYPES: Final = frozenset({MailboxType.PER, MailboxType.CAB})


def _identifier(kind: Any, value: str | bytes, dn: str, *, shared: bool = False) -> Any:
    """A typed identifier, or None (logged, without the value) if the directory's is invalid.

    ``shared``: a structure's identifier, which repeats on all its mailboxes, given as the raw
    bytes; it is validated once per value.
    """
    try:
        return _cached_identifier(kind, value) if shared else kind(value)
    except IdentifierError as exc:
        _log.warning("directory entry %s: ignoring an invalid %s (%s)", dn, exc.field, exc.reason)
        return None


@functools.lru_cache(maxsize=4096)
def _cached_identifier(kind: Any, raw: bytes) -> Any:
    return kind(raw.decode("utf-8", "replace"))  # an invalid one raises: nothing cached


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


@functools.lru_cache(maxsize=4096)
def _shared_text(raw: bytes | None) -> str | None:
    # a value many entries repeat (a civility, a structure's name): one str for all
    return None if raw is None else raw.decode("utf-8", "replace")


@functools.cache
def _type_values(mapping: LDAPMapping) -> dict[bytes, MailboxType]:
    return {v.encode(): kind for v, kind in _type_table(mapping).items()}


def _mailbox_type(mapping: LDAPMapping, raw: bytes) -> MailboxType | None:
    kind = _type_values(mapping).get(raw)  # the server's usual spelling
    if kind is None:
        kind = mapping.parse_type(raw.decode("utf-8", "replace"))
    return kind


@functools.lru_cache(maxsize=4096)
def _places(
    street: bytes | None, postal_code: bytes | None, city: bytes | None, department: bytes | None
) -> tuple[PostalAddress]:
    # frozen, so one tuple serves every mailbox at the same place (one object fewer per
    # result for the garbage collector to traverse)
    postal = _text(postal_code)
    place = _build(
        PostalAddress,
        {
            "lines": (street.decode("utf-8", "replace"),) if street else (),
            "postal_code": postal,
            "city": _text(city),
            "department": _text(department) or department_of(postal),
            "country": None,
        },
    )
    return (place,)


@functools.lru_cache(maxsize=1024)
def _concept(kind: str, code: bytes, label: bytes | None) -> CodedConcept:
    text, label_text = code.decode("utf-8", "replace"), _text(label)
    if kind == "profession":
        return CodedConcept.profession(text, label_text)
    return CodedConcept.specialty(text, label_text)


def entry_to_model(
    dn: str, entry: Mapping[str, list[bytes]], mapping: LDAPMapping = SANDBOX_MAPPING
) -> DirectoryEntry | None:
    """The model of one mailbox entry; None if it has no usable address (logged).

    Attribute names are matched case-insensitively (servers answer with the schema's case).
    Written for speed: it runs once per entry of every search.
    """
    m = mapping
    slots = _slots(m)
    where = slots.position.get
    values: list[bytes | None] = [None] * _FIELD_COUNT
    for name, raw in entry.items():
        i = where(name)
        if i is None and (i := where(name.lower())) is None:
            continue  # an attribute the mapping does not use
        if raw:
            values[i] = raw[0]
    for i, first in slots.copies:
        values[i] = values[first]
    # bytes as the server sent them: values shared by many entries (a structure's, a place,
    # a profession) are looked up in caches keyed by these bytes, and decoded once
    (
        b_mail,
        b_type,
        b_family_name,
        b_given_name,
        b_common_name,
        b_display_name,
        b_civility,
        b_description,
        b_id_nat_ps,
        b_rpps,
        b_adeli,
        b_profession,
        b_profession_label,
        b_specialty,
        b_specialty_label,
        b_organisation,
        b_service,
        b_finess,
        b_siret,
        b_id_nat_struct,
        b_street,
        b_city,
        b_postal_code,
        b_department,
        b_demat,
    ) = values
    if b_mail is None:
        _log.warning("directory entry %s has no %s attribute; skipped", dn, m.mail)
        return None
    try:
        address = MSSanteAddress(b_mail.decode("utf-8", "replace"))  # fast path in the class
    except InvalidInputError:
        _log.warning("directory entry %s has an invalid mailbox address; skipped", dn)
        return None
    mailbox_type = None if b_type is None else _mailbox_type(m, b_type)
    mailbox = _build(
        DirectoryMailbox,
        {
            "address": address,
            "type": mailbox_type,
            "description": _text(b_description),
            "service": _shared_text(b_service),
            "dematerialisation": None if b_demat is None else b_demat.upper() == b"TRUE",
        },
    )
    places = (
        _places(b_street, b_postal_code, b_city, b_department)
        if (b_postal_code or b_city or b_street)
        else ()
    )
    finess = None if b_finess is None else _identifier(FINESS, b_finess, dn, shared=True)
    siret = None if b_siret is None else _identifier(SIRET, b_siret, dn, shared=True)
    struct = (
        None
        if b_id_nat_struct is None
        else _identifier(IdNatStruct, b_id_nat_struct, dn, shared=True)
    )
    raw_ps = _text(b_id_nat_ps)
    rpps = None if b_rpps is None else _identifier(RPPS, b_rpps.decode("utf-8", "replace"), dn)
    if raw_ps is None:
        id_nat_ps = None
    elif rpps is not None and raw_ps == "8" + rpps.value:
        id_nat_ps = _unchecked(IdNatPS, raw_ps)
    else:
        id_nat_ps = _identifier(IdNatPS, raw_ps, dn)
    is_person = mailbox_type in _PERSON_TYPES or (
        mailbox_type is None and (id_nat_ps is not None or rpps is not None)
    )
    data: dict[str, Any] = {  # what every entry has, in the models' field order
        "mailboxes": (mailbox,),
        "addresses": places,
        "organisation_name": _shared_text(b_organisation),
        "finess": finess,
        "siret": siret,
        "id_nat_struct": struct,
        "source": "ldap",
        "source_id": dn,
    }
    if not is_person:
        owner = _text(b_display_name or b_common_name)
        data |= {"kind": "organisation", "name": owner}
        return _build(Organisation, data)
    adeli = None if b_adeli is None else _identifier(ADELI, b_adeli.decode("utf-8", "replace"), dn)
    if id_nat_ps is None and rpps is not None:
        id_nat_ps = _unchecked(IdNatPS, f"8{rpps}")
    elif id_nat_ps is None and adeli is not None:
        id_nat_ps = _unchecked(IdNatPS, f"0{adeli}")
    if rpps is None and id_nat_ps is not None:
        rpps = id_nat_ps.rpps
    data |= {
        "kind": "professional",
        "family_name": _text(b_family_name),
        "given_name": _text(b_given_name),
        "civility": _shared_text(b_civility),
        "id_nat_ps": id_nat_ps,
        "rpps": rpps,
        "adeli": adeli,
        "profession": _concept("profession", b_profession, b_profession_label)
        if b_profession
        else None,
        "specialty": _concept("specialty", b_specialty, b_specialty_label) if b_specialty else None,
    }
    return _build(Professional, data)
