"""The directory query: every criterion a professional may combine, validated once.

MSSanté promises to find a colleague "with multiple criteria, anywhere in the country" (Ségur
SC.MSS/UX.41; ECO.3.1.4 search an address in the Annuaire Santé). One query model serves every
backend; :meth:`DirectoryQuery.matches` is the reference semantics, evaluated in pure Python, that
backends use to post-filter what their server cannot express (accent folding in LDAP, the
mailbox type in FHIR) and that tests compare against.

Semantics (all criteria are ANDed):

- ``family_name`` / ``given_name``: prefix, accent- and case-insensitive (:func:`._text.fold`);
- ``organisation``: substring of the structure name, folded;
- ``city``: equality, folded (``saint etienne`` = ``SAINT-ÉTIENNE``);
- ``text``: every word must occur (folded substring) in a name, the structure, the city, a
  mailbox address or service, the profession or specialty label;
- identifiers, codes, postal code, department and mailbox type: exact.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import QueryError
from ..identity import ADELI, FINESS, RPPS, SIRET, IdNatPS, MailboxType
from ._text import fold, fold_words, folded_contains, folded_equals, folded_prefix
from .models import DirectoryEntry, Organisation, Professional, department_of

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "DirectoryQuery"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_MAX_TEXT = 200

_DEPARTMENT = re.compile(r"(?:0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-8]|98[4-9])")
_POSTAL_CODE = re.compile(r"[0-9]{5}")
_CODE = re.compile(r"[A-Za-z0-9_]{1,20}")


class DirectoryQuery(BaseModel):
    """A directory search. Invalid criteria raise :class:`~mssante_client.errors.QueryError`.

    An empty query (no criterion) matches every published mailbox: backends page through it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    family_name: str | None = None
    given_name: str | None = None
    rpps: RPPS | None = None
    id_nat_ps: IdNatPS | None = None
    adeli: ADELI | None = None
    #: TRE_G15 profession code (``"10"`` médecin; ``"G15_10"`` is accepted).
    profession: str | None = None
    #: TRE_R38 savoir-faire code (``"SM26"``).
    specialty: str | None = None
    #: Part of the structure's name.
    organisation: str | None = None
    finess: FINESS | None = None
    siret: SIRET | None = None
    city: str | None = None
    postal_code: str | None = None
    #: INSEE department (``"75"``, ``"2A"``, ``"974"``).
    department: str | None = None
    mailbox_type: MailboxType | None = None
    text: str | None = None
    #: Maximum number of results over all pages (None: no limit).
    limit: int | None = Field(default=None, ge=1)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    #: Opaque cursor from a previous :class:`~.models.SearchPage` (None: first page).
    cursor: str | None = Field(default=None, max_length=8192)

    #: Fields that are search criteria (the rest is paging).
    CRITERIA: ClassVar[tuple[str, ...]] = (
        "family_name",
        "given_name",
        "rpps",
        "id_nat_ps",
        "adeli",
        "profession",
        "specialty",
        "organisation",
        "finess",
        "siret",
        "city",
        "postal_code",
        "department",
        "mailbox_type",
        "text",
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _query_error(exc) from None

    # --- validation ------------------------------------------------------------------------

    @field_validator("family_name", "given_name", "organisation", "city", "text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > _MAX_TEXT:
            raise ValueError(f"must be at most {_MAX_TEXT} characters")
        return value

    @field_validator("rpps", "id_nat_ps", "adeli", "finess", "siret", mode="before")
    @classmethod
    def _identifier(cls, value: Any, info: Any) -> Any:
        if value is None:
            return None
        kind = {"rpps": RPPS, "id_nat_ps": IdNatPS, "adeli": ADELI, "finess": FINESS}.get(
            info.field_name, SIRET
        )
        if isinstance(value, kind):
            return value
        return kind(value)  # raises IdentifierError (a ValueError) naming the reason

    @field_validator("profession", "specialty", mode="before")
    @classmethod
    def _code(cls, value: Any, info: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not _CODE.fullmatch(value.strip()):
            raise ValueError("must be a code of letters, digits or '_' (e.g. 10, SM26)")
        code = value.strip().upper()
        if info.field_name == "profession":
            code = code.removeprefix("G15_")
        return code

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal_code(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not _POSTAL_CODE.fullmatch(value.strip()):
            raise ValueError("must be 5 digits")
        return value.strip()

    @field_validator("department", mode="before")
    @classmethod
    def _department(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int):
            value = f"{value:02d}"
        if not isinstance(value, str) or not _DEPARTMENT.fullmatch(value.strip().upper()):
            raise ValueError("must be a French department code (01-95, 2A, 2B, 971-978, 984-989)")
        return value.strip().upper()

    @field_validator("mailbox_type", mode="before")
    @classmethod
    def _mailbox_type(cls, value: Any) -> Any:
        if value is None:
            return None
        return MailboxType.parse(value)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def criteria(self) -> dict[str, Any]:
        """The criteria that are set, by name (paging fields excluded)."""
        return {name: getattr(self, name) for name in self.CRITERIA if getattr(self, name)}

    @property
    def is_empty(self) -> bool:
        return not self.criteria

    def fingerprint(self) -> str:
        """A short digest of the criteria: a cursor is only valid for the query it came from."""
        items = sorted((k, str(v)) for k, v in self.criteria.items())
        blob = json.dumps([items, self.limit], ensure_ascii=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def matches(self, entry: DirectoryEntry) -> bool:
        """Whether ``entry`` satisfies every criterion (the reference semantics)."""
        return all(check(self, entry) for check in _CHECKS)

    def filter(self, entries: Iterable[DirectoryEntry]) -> list[DirectoryEntry]:
        return [e for e in entries if self.matches(e)]


# --- matching, one function per criterion --------------------------------------------------


def _professional_only(entry: DirectoryEntry) -> Professional | None:
    return entry if isinstance(entry, Professional) else None


def _family_name(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.family_name is None:
        return True
    p = _professional_only(e)
    return p is not None and folded_prefix(p.family_name, q.family_name)


def _given_name(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.given_name is None:
        return True
    p = _professional_only(e)
    return p is not None and folded_prefix(p.given_name, q.given_name)


def _ps_identifiers(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    wanted = [
        x
        for x in (
            q.id_nat_ps,
            q.rpps.id_nat_ps if q.rpps else None,
            q.adeli.id_nat_ps if q.adeli else None,
        )
        if x is not None
    ]
    if not wanted:
        return True
    p = _professional_only(e)
    if p is None:
        return False
    own = {
        x
        for x in (
            p.id_nat_ps,
            p.rpps.id_nat_ps if p.rpps else None,
            p.adeli.id_nat_ps if p.adeli else None,
        )
        if x is not None
    }
    return all(w in own for w in wanted)


def _codes(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.profession is None and q.specialty is None:
        return True
    p = _professional_only(e)
    if p is None:
        return False
    if q.profession is not None and (p.profession is None or p.profession.code != q.profession):
        return False
    return q.specialty is None or (p.specialty is not None and p.specialty.code == q.specialty)


def _organisation(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.organisation is None:
        return True
    return folded_contains(e.organisation_name, q.organisation) or (
        isinstance(e, Organisation) and folded_contains(e.name, q.organisation)
    )


def _structure_identifiers(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.finess is not None and not (
        e.finess == q.finess or e.id_nat_struct == q.finess.id_nat_struct
    ):
        return False
    return q.siret is None or e.siret == q.siret or e.id_nat_struct == q.siret.id_nat_struct


def _place(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.city is None and q.postal_code is None and q.department is None:
        return True
    for a in e.addresses:
        if q.city is not None and not folded_equals(a.city, q.city):
            continue
        if q.postal_code is not None and a.postal_code != q.postal_code:
            continue
        if q.department is not None and (a.department or department_of(a.postal_code)) != (
            q.department
        ):
            continue
        return True
    return False


def _mailbox_type(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    return q.mailbox_type is None or any(m.type == q.mailbox_type for m in e.mailboxes)


def _haystack(e: DirectoryEntry) -> str:
    parts: list[str | None] = [e.organisation_name]
    if isinstance(e, Professional):
        parts += [e.family_name, e.given_name]
        parts += [c.label for c in (e.profession, e.specialty) if c is not None]
    else:
        parts.append(e.name)
    parts += [a.city for a in e.addresses]
    for m in e.mailboxes:
        parts += [str(m.address), m.service, m.description]
    return " | ".join(fold(p) for p in parts if p)


def _text(q: DirectoryQuery, e: DirectoryEntry) -> bool:
    if q.text is None:
        return True
    hay = _haystack(e)
    return all(word in hay for word in fold_words(q.text))


_CHECKS = (
    _family_name,
    _given_name,
    _ps_identifiers,
    _codes,
    _organisation,
    _structure_identifiers,
    _place,
    _mailbox_type,
    _text,
)


def _query_error(exc: ValidationError) -> QueryError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "query"
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "unknown criterion"
    return QueryError(field, reason)
