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
from .models import (
    construct_trusted as _make,
)

__all__ = ["SANDBOX_MAPPING", "LDAPMapping", "entry_to_model", "fast_address"]

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


def fast_address(value: str) -> MSSanteAddress:
    """An :class:`MSSanteAddress` for a directory value.

    Kept as the mapping's single entry point for addresses; the fast path for the common
    simple shape now lives in :class:`MSSanteAddress` itself, so every backend benefits.
    """
    return MSSanteAddress(value)


def _identifier(kind: Any, value: str | None, dn: str, *, shared: bool = False) -> Any:
    """A typed identifier, or None (logged, without the value) if the directory's is invalid.

    ``shared``: the value repeats across entries (a structure's), so validations are cached.
    """
    if value is None:
        return None
    try:
        return _cached_identifier(kind, value) if shared else kind(value)
    except IdentifierError as exc:
        _log.warning("directory entry %s: ignoring an invalid %s (%s)", dn, exc.field, exc.reason)
        return None


@functools.lru_cache(maxsize=4096)
def _cached_identifier(kind: Any, value: str) -> Any:
    # structures' identifiers repeat on every mailbox of the structure
    return kind(value)


@functools.lru_cache(maxsize=4096)
def _place(
    street: str | None, postal_code: str | None, city: str | None, department: str | None
) -> PostalAddress:
    # frozen, so one instance serves every mailbox at the same place
    return _make(
        PostalAddress,
        lines=(street,) if street else (),
        postal_code=postal_code,
        city=city,
        department=department or department_of(postal_code),
        country=None,
    )


@functools.lru_cache(maxsize=1024)
def _concept(kind: str, code: str, label: str | None) -> CodedConcept:
    if kind == "profession":
        return CodedConcept.profession(code, label)
    return CodedConcept.specialty(code, label)


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
    values: list[str | None] = [None] * _FIELD_COUNT
    for name, raw in entry.items():
        i = where(name)
        if i is None and (i := where(name.lower())) is None:
            continue  # an attribute the mapping does not use
        if raw:
            values[i] = raw[0].decode("utf-8", "replace")
    for i, first in slots.copies:
        values[i] = values[first]
    (
        mail,
        raw_type,
        family_name,
        given_name,
        common_name,
        display_name,
        civility,
        description,
        raw_ps,
        raw_rpps,
        raw_adeli,
        profession_code,
        profession_label,
        specialty_code,
        specialty_label,
        organisation,
        service,
        raw_finess,
        raw_siret,
        raw_struct,
        street,
        city,
        postal_code,
        department,
        demat,
    ) = values
    if mail is None:
        _log.warning("directory entry %s has no %s attribute; skipped", dn, m.mail)
        return None
    try:
        address = MSSanteAddress(mail)  # the simple shape's fast path is in the class
    except InvalidInputError:
        _log.warning("directory entry %s has an invalid mailbox address; skipped", dn)
        return None
    mailbox_type = None if raw_type is None else _type_table(m).get(raw_type.strip().upper())
    mailbox = _build(
        DirectoryMailbox,
        {
            "address": address,
            "type": mailbox_type,
            "description": description,
            "service": service,
            "dematerialisation": None if demat is None else demat.upper() == "TRUE",
        },
    )
    places = (
        (_place(street, postal_code, city, department),) if (postal_code or city or street) else ()
    )
    finess = None if raw_finess is None else _identifier(FINESS, raw_finess, dn, shared=True)
    siret = None if raw_siret is None else _identifier(SIRET, raw_siret, dn, shared=True)
    struct = None if raw_struct is None else _identifier(IdNatStruct, raw_struct, dn, shared=True)
    rpps = None if raw_rpps is None else _identifier(RPPS, raw_rpps, dn)
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
        "organisation_name": organisation,
        "finess": finess,
        "siret": siret,
        "id_nat_struct": struct,
        "source": "ldap",
        "source_id": dn,
    }
    if not is_person:
        data |= {"kind": "organisation", "name": display_name or common_name}
        return _build(Organisation, data)
    adeli = None if raw_adeli is None else _identifier(ADELI, raw_adeli, dn)
    if id_nat_ps is None and rpps is not None:
        id_nat_ps = _unchecked(IdNatPS, f"8{rpps}")
    elif id_nat_ps is None and adeli is not None:
        id_nat_ps = _unchecked(IdNatPS, f"0{adeli}")
    if rpps is None and id_nat_ps is not None:
        rpps = id_nat_ps.rpps
    data |= {
        "kind": "professional",
        "family_name": family_name,
        "given_name": given_name,
        "civility": civility,
        "id_nat_ps": id_nat_ps,
        "rpps": rpps,
        "adeli": adeli,
        "profession": None
        if not profession_code
        else _concept("profession", profession_code, profession_label),
        "specialty": None
        if not specialty_code
        else _concept("specialty", specialty_code, specialty_label),
    }
    return _build(Professional, data)
