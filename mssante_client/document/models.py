"""Typed models of a French CDA R2 header (CI-SIS "Structuration minimale") and its body.

These are plain values, frozen and comparable: building a document turns them into XML
(:mod:`.cda`), reading one turns XML back into them (:mod:`.cda_read`), and both directions meet
on the same models so that build → XML → read gives back an equal value.

Identifiers on the wire are HL7 ``II`` values (root OID + extension), modelled by
:class:`InstanceId`. Callers normally pass the typed identifiers of :mod:`mssante_client.identity`
(``IdNatPS``, ``IdNatStruct``); they are validated when given and converted here. Reading stays
lenient (ANS examples carry identifiers whose Luhn key is wrong), the builder is strict.

Pydantic validation errors are re-raised as :class:`~mssante_client.errors.DocumentError` (or
the :class:`~mssante_client.errors.IdentifierError` raised by an identifier) naming the field.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..errors import DocumentError, InvalidInputError
from ..identity import INS, IdNatPS, IdNatStruct
from .value_sets import lookup

__all__ = [
    "Author",
    "Body",
    "CdaHeader",
    "Code",
    "Confidentiality",
    "ConfidentialityFlag",
    "Encounter",
    "HeaderSpec",
    "HealthProfessional",
    "InstanceId",
    "Organization",
    "Patient",
    "Section",
    "ServiceEvent",
    "Sex",
    "TemplateId",
    "facility_type",
    "practice_setting",
    "specialty",
]

#: Code systems used by the French header (digest §1).
J01_SPECIALTY_SYSTEM = "1.2.250.1.213.1.1.4.5"
J02_FACILITY_SYSTEM = "1.2.250.1.71.4.2.4"
J04_PRACTICE_SYSTEM = "1.2.250.1.213.1.1.4.9"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
MASKING_SYSTEM = "1.2.250.1.213.1.1.4.13"
GENDER_SYSTEM = "2.16.840.1.113883.5.1"

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def _reraise(exc: ValidationError, model: str) -> InvalidInputError:
    """Turn a pydantic error into our typed error, keeping an identifier's own error class.

    The field is the dotted path from ``model`` (``HeaderSpec.author.id``); an error raised by a
    nested model or identifier already names its own class first, which is replaced by the path.
    """
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err.get("loc", ())]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, InvalidInputError):
        if not loc and inner.field.split(".")[0] == model:
            return type(inner)(inner.field, inner.reason)
        head, _, rest = inner.field.partition(".")
        tail = [rest] if head[:1].isupper() and rest else [] if head[:1].isupper() else [head]
        return type(inner)(".".join([model, *loc, *tail]), inner.reason)
    return DocumentError(".".join([model, *loc]), str(err.get("msg", "invalid value")))


class _Model(BaseModel):
    """Frozen model whose validation errors are SDK errors (never pydantic's)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _reraise(exc, type(self).__name__) from None

    @classmethod
    def parse(cls, data: Any) -> Self:
        """Validate ``data`` (a dict, typically from JSON) into the model, raising SDK errors."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _reraise(exc, cls.__name__) from None


class Code(_Model):
    """A coded value (HL7 CD/CE): code, code system OID and optional display name."""

    code: str = Field(min_length=1)
    code_system: str
    display_name: str | None = None

    @field_validator("code_system")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not _OID.match(value):
            raise ValueError("must be an OID")
        return value


def _code_in(system: str, jdv: str) -> BeforeValidator:
    """Accept a bare code string (or a dict without system/display) of value set ``jdv``.

    The code system and display name come from the value set when the code is in it; an unknown
    code keeps the default system and no display name (the builder then refuses it).
    """

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            value = {"code": value}
        if isinstance(value, dict) and "code" in value:
            found = lookup(jdv, str(value["code"]), value.get("code_system"))
            if found is not None:
                return {"code_system": found[0], "display_name": found[1], **value}
            return {"code_system": system, **value}
        return value

    return BeforeValidator(convert)


def _from_value_set(jdv: str, system: str, code: str, display_name: str | None) -> Code:
    found = lookup(jdv, code)
    if found is not None:
        return Code(code=code, code_system=found[0], display_name=display_name or found[1])
    return Code(code=code, code_system=system, display_name=display_name)


def specialty(code: str, display_name: str | None = None) -> Code:
    """Author specialty / role, value set J01 XdsAuthorSpecialty (e.g. ``G15_10/SM26``)."""
    return _from_value_set("J01", J01_SPECIALTY_SYSTEM, code, display_name)


def facility_type(code: str, display_name: str | None = None) -> Code:
    """Healthcare facility type, value set J02 (e.g. ``SA01`` établissement public de santé)."""
    return _from_value_set("J02", J02_FACILITY_SYSTEM, code, display_name)


def practice_setting(code: str, display_name: str | None = None) -> Code:
    """Practice setting, value set J04 (e.g. ``ETABLISSEMENT``, ``AMBULATOIRE``)."""
    return _from_value_set("J04", J04_PRACTICE_SYSTEM, code, display_name)


SpecialtyCode = Annotated[Code, _code_in(J01_SPECIALTY_SYSTEM, "J01")]
FacilityTypeCode = Annotated[Code, _code_in(J02_FACILITY_SYSTEM, "J02")]
PracticeSettingCode = Annotated[Code, _code_in(J04_PRACTICE_SYSTEM, "J04")]


class InstanceId(_Model):
    """An HL7 instance identifier (II): ``root`` OID and optional ``extension``."""

    root: str
    extension: str | None = None

    @field_validator("root")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not _OID.match(value):
            raise ValueError("must be an OID")
        return value

    def __str__(self) -> str:
        return f"{self.root}^{self.extension}" if self.extension else self.root


def _to_instance_id(value: Any) -> Any:
    if isinstance(value, IdNatPS | IdNatStruct):
        return {"root": type(value).OID, "extension": value.value}
    return value


def _ps_id(value: Any) -> Any:
    """A bare string is an IdNatPS (validated: Luhn key of the RPPS)."""
    if isinstance(value, str):
        value = IdNatPS(value)
    return _to_instance_id(value)


def _struct_id(value: Any) -> Any:
    """A bare string is an IdNatStruct (validated: prefix and key)."""
    if isinstance(value, str):
        value = IdNatStruct(value)
    return _to_instance_id(value)


PersonId = Annotated[InstanceId, BeforeValidator(_ps_id)]
StructId = Annotated[InstanceId, BeforeValidator(_struct_id)]


class TemplateId(_Model):
    """A CDA ``templateId`` (root OID and optional version extension)."""

    root: str
    extension: str | None = None


class Sex(enum.StrEnum):
    """Administrative gender (J143). ``U`` is written ``UN`` in the CDA (HL7 code)."""

    M = "M"
    F = "F"
    U = "U"

    @property
    def cda_code(self) -> str:
        return "UN" if self is Sex.U else self.value

    @property
    def display_name(self) -> str:
        return {"M": "Masculin", "F": "Féminin", "U": "Inconnu"}[self.value]

    @classmethod
    def from_cda(cls, code: str) -> Sex:
        return cls.U if code in ("UN", "U") else cls(code)


class Confidentiality(enum.StrEnum):
    """CDA ``confidentialityCode`` (value set 2.16.840.1.113883.1.11.10228): N, R or V."""

    N = "N"
    R = "R"
    V = "V"

    @property
    def display_name(self) -> str:
        return {"N": "Normal", "R": "Restreint", "V": "Très restreint"}[self.value]


class ConfidentialityFlag(enum.StrEnum):
    """DMP/MSSanté masking flags (J08, system 1.2.250.1.213.1.1.4.13).

    They are XDS metadata only (extra ``confidentialityCode`` classifications in METADATA.XML),
    never written in the CDA itself, so they do not survive a CDA round trip.
    """

    MASQUE_PS = "MASQUE_PS"
    INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
    INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"


class Organization(_Model):
    """An organisation: IdNatStruct (or any II when read) and name."""

    id: StructId
    name: str | None = None

    if TYPE_CHECKING:  # what the validators accept, for type checkers

        def __init__(
            self, *, id: InstanceId | IdNatStruct | str, name: str | None = None
        ) -> None: ...

    @property
    def id_nat_struct(self) -> IdNatStruct | None:
        """The validated IdNatStruct, or ``None`` (other root, or invalid key in a read doc)."""
        if self.id.root != IdNatStruct.OID or not self.id.extension:
            return None
        try:
            return IdNatStruct(self.id.extension)
        except InvalidInputError:
            return None


class HealthProfessional(_Model):
    """A health professional: IdNatPS, name, J01 specialty and represented organisation.

    Used for the author, the legal authenticator and the service-event performer.
    """

    id: PersonId
    family_name: str | None = None
    given_name: str | None = None
    prefix: str | None = None
    """Civility, J245 Civilite: ``M`` or ``MME``."""
    suffix: str | None = None
    """Title, J246 Titre: ``DR``, ``PR``, ``MC``, ``MG``, ``PC``, ``PG``."""
    specialty: SpecialtyCode | None = None
    organization: Organization | None = None
    practice_setting: PracticeSettingCode | None = None
    """J04 ``standardIndustryClassCode`` of the organisation (needed for the performer)."""

    if TYPE_CHECKING:  # what the validators accept, for type checkers

        def __init__(
            self,
            *,
            id: InstanceId | IdNatPS | str,
            family_name: str | None = None,
            given_name: str | None = None,
            prefix: str | None = None,
            suffix: str | None = None,
            specialty: Code | str | None = None,
            organization: Organization | None = None,
            practice_setting: Code | str | None = None,
        ) -> None: ...

    @property
    def id_nat_ps(self) -> IdNatPS | None:
        if self.id.root != IdNatPS.OID or not self.id.extension:
            return None
        try:
            return IdNatPS(self.id.extension)
        except InvalidInputError:
            return None


Author = HealthProfessional


class Patient(_Model):
    """The patient (``recordTarget``): INS with its identity traits and a local IPP.

    The traits are those the header schematron requires with an INS root (digest §1): birth
    family name, birth given names (first one separately), birth date, sex and birthplace (INSEE
    COG code). Patient data: the repr shows no value.
    """

    ins: INS | None = None
    ipp: InstanceId | None = None
    """Local identifier; ``root`` is the OID of the facility that assigned it."""
    birth_family_name: str = Field(min_length=1)
    given_names: tuple[str, ...] = Field(min_length=1)
    """All birth given names, the first one first."""
    birth_date: date | None = None
    sex: Sex = Sex.U
    birthplace_insee: str | None = Field(default=None, pattern=r"^[0-9][0-9AB][0-9]{3}$")
    """INSEE COG code of the birth commune (``99xxx`` for a country abroad)."""
    used_family_name: str | None = None
    used_given_name: str | None = None

    @field_validator("given_names", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(value.split())
        return value

    @property
    def first_given_name(self) -> str:
        return self.given_names[0]

    def __repr__(self) -> str:
        return f"Patient(<{'INS' if self.ins else 'no INS'}, masked>)"

    __str__ = __repr__


class Encounter(_Model):
    """``componentOf/encompassingEncounter``: J02 facility type and where/when care happened."""

    facility_type: FacilityTypeCode
    facility_id: StructId | None = None
    facility_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    code: Code | None = None
    """Type of encounter (ActCode, e.g. ``IMP`` hospitalisation, ``AMB``); optional."""

    if TYPE_CHECKING:  # what the validators accept, for type checkers

        def __init__(
            self,
            *,
            facility_type: Code | str,
            facility_id: InstanceId | IdNatStruct | str | None = None,
            facility_name: str | None = None,
            start: datetime | None = None,
            end: datetime | None = None,
            code: Code | None = None,
        ) -> None: ...


class ServiceEvent(_Model):
    """``documentationOf/serviceEvent``: the main act, its dates, performer and J04 setting."""

    start: datetime
    end: datetime | None = None
    code: Code | None = None
    practice_setting: PracticeSettingCode | None = None
    """J04 code, written on the performer's organisation; defaults to the performer's own."""
    performer: HealthProfessional | None = None
    """Defaults to the author when building."""


class Section(_Model):
    """A top-level section of a structured (level 3) body."""

    title: str | None = None
    code: Code | None = None
    template_ids: tuple[str, ...] = ()


class Body(_Model):
    """The document body: level 1 (``nonXMLBody``, a base64 payload) or level 3 (sections)."""

    level: Literal[1, 3]
    media_type: str | None = None
    """For level 1: the media type SNIFFED from the decoded bytes (never the declared one)."""
    declared_media_type: str | None = None
    payload: bytes | None = Field(default=None, repr=False)
    sections: tuple[Section, ...] = ()


class CdaHeader(_Model):
    """Every header element the CI-SIS requires (Structuration minimale, digest §1)."""

    REALM: ClassVar[str] = "FR"

    id: InstanceId
    code: Code
    title: str
    effective_time: datetime
    confidentiality: Confidentiality = Confidentiality.N
    language: str = Field(default="fr-FR", pattern=r"^[a-z]{2}-[A-Z]{2}$")
    set_id: InstanceId
    version: int = Field(default=1, ge=1)
    replaces: InstanceId | None = None
    """``relatedDocument[@typeCode=RPLC]/parentDocument/id``: the version this one replaces."""
    template_ids: tuple[TemplateId, ...] = ()
    patient: Patient
    authors: tuple[HealthProfessional, ...] = Field(min_length=1)
    custodian: Organization
    legal_authenticator: HealthProfessional | None = None
    service_events: tuple[ServiceEvent, ...] = ()
    encounter: Encounter | None = None

    @property
    def author(self) -> HealthProfessional:
        return self.authors[0]


class HeaderSpec(_Model):
    """Everything a caller states to build a document header, e.g. from a JSON file.

    It is the input of ``mssante document build --header HEADER.json`` and mirrors the keyword
    arguments of :meth:`Document.from_pdf` (see ``examples/header-ldl-ses.json``). Identifiers
    given as strings are validated (IdNatPS for people, IdNatStruct for organisations); J01/J02/
    J04 codes may be bare codes, their system and display name come from the value sets.
    """

    type: str | None = None
    """Document type (short name or J07 code); the CLI's ``--type`` overrides it."""
    patient: Patient
    author: HealthProfessional
    custodian: Organization
    encounter: Encounter
    service_event: ServiceEvent
    legal_authenticator: HealthProfessional | None = None
    title: str | None = None
    effective_time: datetime | None = None
    confidentiality: Confidentiality = Confidentiality.N
    confidentiality_flags: tuple[ConfidentialityFlag, ...] = ()
    document_id: InstanceId | None = None
    set_id: InstanceId | None = None
    version: int = Field(default=1, ge=1)
    replaces: InstanceId | None = None
    language: str = "fr-FR"

    def builder_arguments(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`Document.from_payload` (without ``type``)."""
        return {name: getattr(self, name) for name in type(self).model_fields if name != "type"}
