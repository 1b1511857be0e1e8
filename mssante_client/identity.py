"""Health identifiers and MSSanté addresses: pure, typed, immutable value objects.

Each class validates on construction and raises :class:`~mssante_client.errors.IdentifierError`
(or :class:`~mssante_client.errors.AddressError`) naming the field and the reason. They can be
used directly as pydantic fields: they validate from strings and serialise back to strings (the
INS, which carries its OID and qualification, serialises to a small object).

The INS is patient data: its ``repr`` is masked so that it never reaches a log line by accident.
``str(ins)`` and ``ins.value`` still give the full matricule, which building a document needs.
"""

from __future__ import annotations

import enum
import functools
import random
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from .errors import AddressError, IdentifierError

__all__ = [
    "ADELI",
    "FINESS",
    "INS",
    "PATIENT_DOMAIN",
    "PATIENT_DOMAINS",
    "RPPS",
    "SANDBOX_PATIENT_DOMAIN",
    "SIRET",
    "IdNatPS",
    "IdNatStruct",
    "InsKind",
    "MSSanteAddress",
    "MailboxType",
    "generate_finess",
    "generate_rpps",
    "luhn_check_digit",
    "luhn_is_valid",
]

#: Domain of Mon espace santé patient mailboxes (ECO.2.2.6).
PATIENT_DOMAIN = "patient.mssante.fr"
#: The sandbox's stand-in for :data:`PATIENT_DOMAIN` (``.test`` is reserved, RFC 2606).
SANDBOX_PATIENT_DOMAIN = "patient.mssante.test"
PATIENT_DOMAINS = frozenset({PATIENT_DOMAIN, SANDBOX_PATIENT_DOMAIN})


# --- check digits --------------------------------------------------------------------------


#: Each digit replaced by 2·d with its digits summed (the doubled positions of Luhn).
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _is_digits(value: str) -> bool:
    # str.isdigit() alone admits "²" or "١": int() then fails or a foreign digit passes
    return value.isascii() and value.isdigit()


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that completes ``digits`` (used by RPPS, FINESS, SIRET)."""
    if not _is_digits(digits):
        raise IdentifierError("digits", "Luhn applies to ASCII digits only")
    return (10 - _luhn_sum(digits + "0") % 10) % 10


def luhn_is_valid(digits: str) -> bool:
    """Whether a digit string ends with a correct Luhn key."""
    return len(digits) >= 2 and _is_digits(digits) and _luhn_ok(digits)


def _luhn_ok(digits: str) -> bool:
    # ASCII digits only (checked by the caller)
    return _luhn_sum(digits) % 10 == 0


def _luhn_sum(digits: str) -> int:
    """Luhn's sum of ASCII digits whose rightmost one is the key: from the right, the 2nd,
    4th, ... digits are doubled (digits of the product summed)."""
    rev = digits[::-1]
    # summing ASCII codes and removing 48 ("0") per digit is 4x faster than map(int, ...):
    # this runs for every RPPS/FINESS of every directory result
    total = sum(rev[1::2].translate(_LUHN_DOUBLED).encode()) + sum(rev[::2].encode())
    return total - 48 * len(rev)


# --- base ----------------------------------------------------------------------------------


class _StringIdentifier:
    """An immutable identifier that is a validated string."""

    __slots__ = ("_value",)
    _field: ClassVar[str] = "identifier"
    _value: str

    def __init__(self, value: str | Self) -> None:
        if type(value) is str:  # the common case first: this runs for every directory result
            raw = value.strip()
        elif isinstance(value, type(self)):
            raw = value.value
        elif isinstance(value, str):
            raw = value.strip()
        else:
            raise IdentifierError(self._field, f"expected a string, got {type(value).__name__}")
        _set_value(self, self._validate(raw))

    @classmethod
    def _validate(cls, value: str) -> str:
        return value

    @property
    def value(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __str__(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._value!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            json_schema_input_schema=core_schema.str_schema(),
        )

    @classmethod
    def _coerce(cls, value: Any) -> Self:
        if isinstance(value, cls):
            return value
        return cls(value)


#: Sets the slot of an immutable identifier (a third faster than ``object.__setattr__``).
_set_value = _StringIdentifier.__dict__["_value"].__set__
_S = TypeVar("_S", bound=_StringIdentifier)


def _unchecked(kind: type[_S], value: str) -> _S:
    """An identifier built without validation, for a value derived from one just validated.

    Package-internal, for hot paths only (``8`` + a valid RPPS is a valid IdNatPS); never
    for raw input.
    """
    obj = object.__new__(kind)
    _set_value(obj, value)
    return obj


def _digits(field: str, value: str, length: int) -> str:
    if len(value) == length and value.isascii() and value.isdigit():
        return value
    if len(value) != length:
        raise IdentifierError(field, f"must be {length} characters long, got {len(value)}")
    raise IdentifierError(field, "must contain digits only")


# --- professionals -------------------------------------------------------------------------


class RPPS(_StringIdentifier):
    """RPPS number of a health professional: 11 digits, the last one a Luhn key."""

    __slots__ = ()
    _field = "RPPS"

    @classmethod
    def _validate(cls, value: str) -> str:
        if not _luhn_ok(_digits(cls._field, value, 11)):
            raise IdentifierError(cls._field, "Luhn check digit is wrong")
        return value

    @property
    def id_nat_ps(self) -> IdNatPS:
        """The national PS identifier: ``8`` followed by the RPPS."""
        return IdNatPS("8" + self._value)


class ADELI(_StringIdentifier):
    """ADELI number (professions not yet in RPPS): 9 characters."""

    __slots__ = ()
    _field = "ADELI"

    @classmethod
    def _validate(cls, value: str) -> str:
        if len(value) != 9:
            raise IdentifierError(cls._field, f"must be 9 characters long, got {len(value)}")
        if not re.fullmatch(r"(?:[0-9]{2}|2[AB])[0-9]{7}", value):
            raise IdentifierError(cls._field, "must be a department code followed by 7 digits")
        return value

    @property
    def id_nat_ps(self) -> IdNatPS:
        """The national PS identifier: ``0`` followed by the ADELI number."""
        return IdNatPS("0" + self._value)


class IdNatPS(_StringIdentifier):
    """National identifier of a health professional (IdNatPS): ``8``+RPPS or ``0``+ADELI."""

    __slots__ = ()
    _field = "IdNatPS"
    #: OID of the national PS identifiers (ASIP-SANTE-PS).
    OID: ClassVar[str] = "1.2.250.1.71.4.2.1"

    @classmethod
    def _validate(cls, value: str) -> str:
        return _prefixed(cls._field, value, {"8": ("RPPS", RPPS), "0": ("ADELI", ADELI)})

    @classmethod
    def from_rpps(cls, rpps: str | RPPS) -> IdNatPS:
        return RPPS(rpps).id_nat_ps

    @property
    def rpps(self) -> RPPS | None:
        return RPPS(self._value[1:]) if self._value.startswith("8") else None

    @property
    def adeli(self) -> ADELI | None:
        return ADELI(self._value[1:]) if self._value.startswith("0") else None


# --- structures ----------------------------------------------------------------------------


class FINESS(_StringIdentifier):
    """FINESS number of a health facility: 9 characters, the last one a Luhn key.

    Corsican numbers start with ``2A``/``2B``; the key rule for them is not published in the
    sources we have, so their key is not checked (``key_verified`` is then False).
    """

    __slots__ = ()
    _field = "FINESS"

    @classmethod
    def _validate(cls, value: str) -> str:
        if len(value) != 9:
            raise IdentifierError(cls._field, f"must be 9 characters long, got {len(value)}")
        if re.fullmatch(r"2[AB][0-9]{7}", value):
            return value
        if not _is_digits(value):
            raise IdentifierError(cls._field, "must contain digits only (or start with 2A/2B)")
        if not _luhn_ok(value):
            raise IdentifierError(cls._field, "Luhn check digit is wrong")
        return value

    @property
    def key_verified(self) -> bool:
        return _is_digits(self._value)

    @property
    def id_nat_struct(self) -> IdNatStruct:
        return IdNatStruct("1" + self._value)


class SIRET(_StringIdentifier):
    """SIRET number of an establishment: 14 digits with a Luhn key."""

    __slots__ = ()
    _field = "SIRET"

    @classmethod
    def _validate(cls, value: str) -> str:
        value = value.replace(" ", "")
        _digits(cls._field, value, 14)
        # La Poste's establishments (SIREN 356000000) use a different rule; accept them.
        if not (
            _luhn_ok(value) or (value.startswith("356000000") and sum(map(int, value)) % 5 == 0)
        ):
            raise IdentifierError(cls._field, "Luhn check digit is wrong")
        return value

    @property
    def id_nat_struct(self) -> IdNatStruct:
        return IdNatStruct("3" + self._value)


class IdNatStruct(_StringIdentifier):
    """National identifier of a structure: ``1``+FINESS, ``3``+SIRET, or ``4``+RPPS (practice)."""

    __slots__ = ()
    _field = "IdNatStruct"
    #: OID of the national structure identifiers (ASIP-SANTE-ST).
    OID: ClassVar[str] = "1.2.250.1.71.4.2.2"

    @classmethod
    def _validate(cls, value: str) -> str:
        kinds = {"1": ("FINESS", FINESS), "3": ("SIRET", SIRET), "4": ("RPPS", _rpps_rank)}
        return _prefixed(cls._field, value, kinds)

    @property
    def finess(self) -> FINESS | None:
        return FINESS(self._value[1:]) if self._value.startswith("1") else None

    @property
    def siret(self) -> SIRET | None:
        return SIRET(self._value[1:]) if self._value.startswith("3") else None


def _prefixed(
    field: str, value: str, kinds: Mapping[str, tuple[str, Callable[[str], object]]]
) -> str:
    """Validate a national identifier: a one-character kind prefix, then the inner identifier."""
    kind, rest = value[:1], value[1:]
    if kind not in kinds:
        choices = ", ".join(f"{k} ({name})" for k, (name, _) in kinds.items())
        raise IdentifierError(field, f"must start with {choices}")
    name, inner = kinds[kind]
    try:
        inner(rest)
    except IdentifierError as exc:
        raise IdentifierError(field, f"'{kind}' prefix ({name}): {exc.reason}") from None
    return value


def _rpps_rank(value: str) -> str:
    """A practice identified by the RPPS of a professional, optionally followed by a rank."""
    RPPS(value[:11])
    if value[11:] and not _is_digits(value[11:]):
        raise IdentifierError("RPPS", "rank after the RPPS must be digits")
    return value


# --- patients ------------------------------------------------------------------------------


class InsKind(enum.StrEnum):
    """Which register the INS matricule comes from."""

    NIR = "NIR"  # the social security number of the person
    NIA = "NIA"  # a waiting number given while a NIR is attributed


class INS:
    """Identifiant National de Santé: the 15-character matricule and its OID.

    The matricule is 13 characters (sex, year, month, department (``2A``/``2B`` for Corsica),
    commune, order) and a 2-digit key = 97 − (number mod 97), where for Corsica ``2A`` counts
    as ``19`` and ``2B`` as ``18``. The OID tells NIR from NIA and production from test.
    ``qualified`` records that the identity was verified against the INSi teleservice and
    an identity document: only a qualified INS may be transmitted or used to write to the
    patient (ECO.2.2.6).
    """

    __slots__ = ("_oid", "_qualified", "_value")

    OID_NIR: ClassVar[str] = "1.2.250.1.213.1.4.8"
    OID_NIA: ClassVar[str] = "1.2.250.1.213.1.4.9"
    OID_TEST_NIR: ClassVar[str] = "1.2.250.1.213.1.4.10"
    OID_TEST_NIA: ClassVar[str] = "1.2.250.1.213.1.4.11"
    _KINDS: ClassVar[dict[str, tuple[InsKind, bool]]] = {
        OID_NIR: (InsKind.NIR, False),
        OID_NIA: (InsKind.NIA, False),
        OID_TEST_NIR: (InsKind.NIR, True),
        OID_TEST_NIA: (InsKind.NIA, True),
    }

    _value: str
    _oid: str
    _qualified: bool

    def __init__(self, value: str, *, oid: str = OID_NIR, qualified: bool = False) -> None:
        if not isinstance(value, str):
            raise IdentifierError("INS", f"expected a string, got {type(value).__name__}")
        raw = value.replace(" ", "").upper()
        if len(raw) != 15:
            raise IdentifierError("INS", f"must be 15 characters long, got {len(raw)}")
        if not re.fullmatch(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}", raw):
            raise IdentifierError("INS", "must be 15 digits (department 2A/2B allowed)")
        if raw[0] not in "12345678":
            raise IdentifierError("INS", "first character (sex / kind) must be 1 to 8")
        key = int(raw[13:])
        if key != self.compute_key(raw[:13]):
            raise IdentifierError("INS", "control key does not match the matricule")
        if oid not in self._KINDS:
            raise IdentifierError("INS.oid", "not an INS OID (expected 1.2.250.1.213.1.4.8 to .11)")
        object.__setattr__(self, "_value", raw)
        object.__setattr__(self, "_oid", oid)
        object.__setattr__(self, "_qualified", bool(qualified))

    @staticmethod
    def compute_key(matricule: str) -> int:
        """The 2-digit key of a 13-character matricule (Corsica: 2A → 19, 2B → 18)."""
        m = matricule.upper()
        if len(m) != 13:
            raise IdentifierError("INS", "the matricule without key must be 13 characters")
        m = m[:5] + {"2A": "19", "2B": "18"}.get(m[5:7], m[5:7]) + m[7:]
        if not _is_digits(m):
            raise IdentifierError("INS", "the matricule must be digits (department 2A/2B allowed)")
        return 97 - int(m) % 97

    @classmethod
    def from_matricule(cls, matricule: str, *, oid: str = OID_NIR, qualified: bool = False) -> INS:
        """Build an INS from the 13-character matricule, computing its key."""
        return cls(f"{matricule}{cls.compute_key(matricule):02d}", oid=oid, qualified=qualified)

    @property
    def value(self) -> str:
        return self._value

    @property
    def oid(self) -> str:
        return self._oid

    @property
    def kind(self) -> InsKind:
        return self._KINDS[self._oid][0]

    @property
    def is_test(self) -> bool:
        return self._KINDS[self._oid][1]

    @property
    def qualified(self) -> bool:
        return self._qualified

    def with_qualified(self, qualified: bool = True) -> INS:
        return INS(self._value, oid=self._oid, qualified=qualified)

    def patient_address(self, domain: str = PATIENT_DOMAIN) -> MSSanteAddress:
        """The patient's Mon espace santé mailbox ``<INS>@patient.mssante.fr``.

        ECO.2.2.6: a patient address may only be built from a qualified INS.
        """
        if not self._qualified:
            raise IdentifierError("INS", "a patient address needs a qualified INS (ECO.2.2.6)")
        return MSSanteAddress(f"{self._value}@{domain}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("INS is immutable")

    def __str__(self) -> str:
        return self._value

    def __repr__(self) -> str:
        state = "qualified" if self._qualified else "not qualified"
        test = ", test" if self.is_test else ""
        return f"INS(<{self.kind.value} {self._value[0]}{'*' * 14}>, {state}{test})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, INS):
            return (self._value, self._oid, self._qualified) == (
                other._value,
                other._oid,
                other._qualified,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("INS", self._value, self._oid, self._qualified))

    def to_dict(self) -> dict[str, Any]:
        return {"value": self._value, "oid": self._oid, "qualified": self._qualified}

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.to_dict()),
        )

    @classmethod
    def _coerce(cls, value: Any) -> INS:
        if isinstance(value, INS):
            return value
        if isinstance(value, dict):
            extra = set(value) - {"value", "oid", "qualified"}
            if extra:
                raise IdentifierError("INS", f"unknown keys {sorted(extra)}")
            return cls(
                value.get("value", ""),
                oid=value.get("oid", cls.OID_NIR),
                qualified=bool(value.get("qualified", False)),
            )
        if isinstance(value, str):
            return cls(value)
        raise IdentifierError("INS", f"expected a string or an object, got {type(value).__name__}")


# --- mailboxes -----------------------------------------------------------------------------


class MailboxType(enum.StrEnum):
    """Kind of MSSanté mailbox (TRE_R257-TypeBAL)."""

    PER = "PER"  # personnelle / nominative: one professional
    ORG = "ORG"  # organisationnelle: a structure or a service, shared by a team
    APP = "APP"  # applicative: software (DPI, LIS), unattended
    CAB = "CAB"  # cabinet: a private practice

    @property
    def label(self) -> str:
        return _MAILBOX_LABELS[self]

    @classmethod
    def parse(cls, value: str | MailboxType) -> MailboxType:
        """Accept the codes and the long names used by directories (NOMINATIVE, ...)."""
        if isinstance(value, MailboxType):
            return value
        key = value.strip().upper()
        found = _MAILBOX_ALIASES.get(key)
        if found is None:
            raise IdentifierError("mailbox_type", f"unknown mailbox type {value!r}")
        return found


_MAILBOX_LABELS = {
    MailboxType.PER: "Personnelle",
    MailboxType.ORG: "Organisationnelle",
    MailboxType.APP: "Applicative",
    MailboxType.CAB: "Cabinet",
}
_MAILBOX_ALIASES: dict[str, MailboxType] = {
    **{t.value: t for t in MailboxType},
    "NOMINATIVE": MailboxType.PER,
    "PERSONNELLE": MailboxType.PER,
    "ORGANISATIONNELLE": MailboxType.ORG,
    "ORGANIZATIONAL": MailboxType.ORG,
    "APPLICATIVE": MailboxType.APP,
    "CABINET": MailboxType.CAB,
}


#: A strict subset of RFC 5321 addresses (ASCII dot-atom local part, LDH domain labels, an
#: alphabetic TLD) that email-validator accepts unchanged but for the domain's case.
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_SIMPLE_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63})")
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion"})


def _simple_address(value: str) -> str | None:
    """The normalised address when ``value`` has the common simple shape, else None.

    Why: email-validator costs ~60-150 µs per address, which dominates directory searches
    returning thousands of mailboxes. An address of this shape is valid as is, so only the
    domain's case is normalised; anything else (IDN, quoted local parts, ``xn--`` labels,
    special-use names) goes through the full check.
    """
    if len(value) > 254:
        return None
    local, at, domain = value.partition("@")
    if not at or len(local) > 64 or not _SIMPLE_LOCAL.fullmatch(local):
        return None
    normal = _simple_domain(domain)
    if normal is None:
        return None
    return value if normal == domain else f"{local}@{normal}"


@functools.lru_cache(maxsize=1024)
def _simple_domain(domain: str) -> str | None:
    # domains repeat across a directory's thousands of addresses: checked once each
    m = _SIMPLE_DOMAIN.fullmatch(domain)
    if m is None or "--" in domain or m.group(1).lower() in _SPECIAL_USE_TLDS:
        return None
    return domain.lower()


class MSSanteAddress(_StringIdentifier):
    """An MSSanté mailbox address, validated offline with email-validator.

    The domain is lower-cased; the local part is kept as given (patient addresses are the
    15-character INS).
    """

    __slots__ = ()
    _field = "address"

    @classmethod
    def _validate(cls, value: str) -> str:
        simple = _simple_address(value)  # its pattern admits no control character
        if simple is not None:
            return simple
        if "\r" in value or "\n" in value or "\0" in value:
            raise AddressError(cls._field, "must not contain line breaks or NUL")
        try:
            result = validate_email(
                value, check_deliverability=False, allow_smtputf8=False, test_environment=True
            )
        except EmailNotValidError as exc:
            raise AddressError(cls._field, f"not a valid e-mail address ({exc})") from None
        normalized: str = result.normalized
        local, _, domain = normalized.rpartition("@")
        return f"{local}@{domain.lower()}"

    @property
    def local_part(self) -> str:
        return self._value.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self._value.rpartition("@")[2]

    @property
    def is_patient(self) -> bool:
        """Whether this is a Mon espace santé patient mailbox (ECO.3.1.1)."""
        return self.domain in PATIENT_DOMAINS

    @property
    def ins(self) -> INS | None:
        """The INS of a patient address (qualified: it was built from a qualified INS)."""
        if not self.is_patient:
            return None
        try:
            return INS(self.local_part, qualified=True)
        except IdentifierError:
            return None

    def __repr__(self) -> str:
        if self.is_patient:
            return f"MSSanteAddress('<patient>@{self.domain}')"
        return f"MSSanteAddress({self._value!r})"


# --- test data -----------------------------------------------------------------------------


def generate_rpps(count: int, *, seed: int = 0) -> Iterator[RPPS]:
    """Deterministic, valid RPPS numbers for test data (prefix 1000, like fictitious ones)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    seen: set[str] = set()
    while len(seen) < count:
        body = "1" + "".join(str(rng.randrange(10)) for _ in range(9))
        if body in seen:
            continue
        seen.add(body)
        yield RPPS(body + str(luhn_check_digit(body)))


def generate_finess(count: int, *, seed: int = 0, department: str = "99") -> Iterator[FINESS]:
    """Deterministic, valid FINESS numbers for test data (department 99 by default)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    seen: set[str] = set()
    while len(seen) < count:
        body = department + "".join(str(rng.randrange(10)) for _ in range(6))
        if body in seen:
            continue
        seen.add(body)
        yield FINESS(body + str(luhn_check_digit(body)))
