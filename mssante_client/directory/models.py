"""What a directory search returns: professionals and organisations with their mailboxes.

Every backend (LDAP, FHIR Annuaire Santé, extraction file) maps its own records onto these
models, so that callers never see a backend's shape. Identifiers are the typed value objects of
:mod:`mssante_client.identity`; codes carry their label (rules §5: profession TRE_G15,
savoir-faire TRE_R38). Models are frozen: a result is a snapshot of the directory.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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
from .codes import PROFESSION_SYSTEM, PROFESSIONS, SPECIALTIES, SPECIALTY_SYSTEM

__all__ = [
    "CodedConcept",
    "DirectoryEntry",
    "DirectoryMailbox",
    "Organisation",
    "PostalAddress",
    "Professional",
    "SearchPage",
    "build_trusted",
    "department_of",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: info.get_default(call_default_factory=True)
        for name, info in model.model_fields.items()
    }


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)


@functools.cache
def _every_field_set(model: type[BaseModel]) -> set[str]:
    """One ``fields_set`` shared by the models built with every field, as pydantic's own
    ``model_construct(_fields_set=...)`` allows: these models are frozen, so pydantic never
    adds to it, and ``model_copy`` copies it first. One set less per model matters: the
    garbage collector traverses every set of a 10,000-entry result."""
    return set(model.model_fields)


_new = object.__new__
# BaseModel's slots, set directly: frozen models refuse ``setattr`` and this runs ~20,000 times
# for a 10,000-entry search
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def build_trusted(model: type[_M], data: dict[str, Any]) -> _M:
    """Build a model from a dict of already-typed, trusted values (the dict becomes its own).

    Why: a 10,000-entry search builds ~20,000 models; ``model_construct`` alone would cost
    about as much as the network. Only backends' mapping code calls it, with typed values
    under the model's field names (its tests compare the result with a validated model);
    missing fields take their defaults.
    """
    names = _field_names(model)
    if len(data) == len(names):  # every field given: the mapping code's usual case
        given = _every_field_set(model)
    else:
        given = set(data)
        data = {**_defaults(model), **data}
    if len(data) != len(names):
        raise TypeError(f"{model.__name__} has no field {sorted(data.keys() - names)}")
    obj = _new(model)
    _set_dict(obj, data)
    _set_fields_set(obj, given)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


_POSTAL_CODE = re.compile("[0-9]{5}")


def department_of(postal_code: str | None) -> str | None:
    """INSEE department of a French postal code (``"97411"`` → ``"974"``, ``"20200"`` → ``"2B"``).

    Corsica (20xxx) is ``2A`` below 20200 and ``2B`` from 20200, as La Poste assigns them.
    """
    if postal_code is None or len(postal_code) != 5 or not _POSTAL_CODE.fullmatch(postal_code):
        return None
    if postal_code.startswith(("97", "98")):
        return postal_code[:3]
    if postal_code.startswith("20"):
        return "2A" if int(postal_code) < 20200 else "2B"
    return postal_code[:2]


class CodedConcept(BaseModel):
    """A code with its label and code system (e.g. profession ``10`` "Médecin")."""

    model_config = _FROZEN

    code: str
    label: str | None = None
    system: str | None = None

    @classmethod
    def profession(cls, code: str, label: str | None = None) -> CodedConcept:
        """A TRE_G15 profession; the label defaults to the shipped table's."""
        return build_trusted(
            cls,
            {"code": code, "label": label or PROFESSIONS.get(code), "system": PROFESSION_SYSTEM},
        )

    @classmethod
    def specialty(cls, code: str, label: str | None = None) -> CodedConcept:
        """A TRE_R38 savoir-faire; the label defaults to the shipped table's."""
        return build_trusted(
            cls, {"code": code, "label": label or SPECIALTIES.get(code), "system": SPECIALTY_SYSTEM}
        )


class PostalAddress(BaseModel):
    """Where a professional practises or a structure is: lines, postal code, city, department."""

    model_config = _FROZEN

    lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    department: str | None = None
    country: str | None = None


class DirectoryMailbox(BaseModel):
    """One MSSanté mailbox (BAL) as published: address, type, description, service."""

    model_config = _FROZEN

    address: MSSanteAddress
    type: MailboxType | None = None
    description: str | None = None
    service: str | None = None
    #: Whether the owner accepts dematerialised documents (extraction column "Dématérialisation").
    dematerialisation: bool | None = None


class _Entry(BaseModel):
    model_config = _FROZEN

    mailboxes: tuple[DirectoryMailbox, ...] = ()
    addresses: tuple[PostalAddress, ...] = ()
    #: The structure (for a professional: where they practise).
    organisation_name: str | None = None
    finess: FINESS | None = None
    siret: SIRET | None = None
    id_nat_struct: IdNatStruct | None = None
    #: Which backend produced the entry (``"ldap"``, ``"fhir"``, ``"extraction"``).
    source: str | None = None
    #: The backend's own key for the entry (LDAP DN, FHIR resource id, extraction line).
    source_id: str | None = None


class Professional(_Entry):
    """A health professional (mailbox types PER, CAB)."""

    kind: Literal["professional"] = "professional"
    family_name: str | None = None
    given_name: str | None = None
    civility: str | None = None
    id_nat_ps: IdNatPS | None = None
    rpps: RPPS | None = None
    adeli: ADELI | None = None
    profession: CodedConcept | None = None
    specialty: CodedConcept | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


class Organisation(_Entry):
    """A structure or one of its services (mailbox types ORG, APP)."""

    kind: Literal["organisation"] = "organisation"
    #: A name for the mailbox owner when it is not the structure itself (e.g. "DPI Cardiologie").
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.organisation_name or ""


DirectoryEntry = Annotated[Professional | Organisation, Field(discriminator="kind")]


class SearchPage(BaseModel):
    """One page of results and the opaque cursor of the next page (None: no more pages)."""

    model_config = _FROZEN

    results: tuple[DirectoryEntry, ...] = ()
    next_cursor: str | None = None
    #: Total number of matches when the backend knows it cheaply, else None.
    total: int | None = None
    #: True when a server limit cut the answer short (e.g. an LDAP size limit).
    truncated: bool = False
