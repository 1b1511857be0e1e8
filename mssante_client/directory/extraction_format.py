"""The "Extraction Correspondance MSSanté" file format, as pure functions (no I/O).

The ANS publishes every published PER and ORG mailbox daily as one UTF-8, ``|``-separated text
file with a header line and 31 columns (rules §5.2). APP mailboxes are never in it (rules §4):
a directory built from the extraction alone cannot find applicative mailboxes.

This module only turns one line into one :class:`ExtractionRow` (or says why it cannot); the
importer (:mod:`.extraction`) owns files, zip archives and the SQLite index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from typing import Final

from ..errors import ContentError

__all__ = [
    "ADDRESS_COLUMNS",
    "COLUMNS",
    "COLUMN_COUNT",
    "EXTRACTION_MAILBOX_TYPES",
    "SEPARATOR",
    "ExtractionRow",
    "MalformedRowError",
    "city_from_routing_line",
    "fast_fold",
    "parse_header",
    "split_row",
]

SEPARATOR: Final = "|"

ADDRESS_COLUMNS: Final[tuple[str, ...]] = tuple(
    f"{name} structure BAL"
    for name in (
        "L2COMPLEMENTLOCALISATION",
        "L3COMPLEMENTDISTRIBUTION",
        "L4NUMEROVOIE",
        "L4COMPLEMENTNUMEROVOIE",
        "NL4TYPEVOIE",
        "L4LIBELLEVOIE",
        "L5LIEUDITMENTION",
        "L6LIGNEACHEMINEMENT",
    )
)

#: The real header of the file, in order (rules §5.2).
COLUMNS: Final[tuple[str, ...]] = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    *ADDRESS_COLUMNS,
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
)
COLUMN_COUNT: Final = len(COLUMNS)
assert COLUMN_COUNT == 31

#: Only personal and organisational mailboxes are published in the extraction (rules §4).
EXTRACTION_MAILBOX_TYPES: Final = frozenset({"PER", "ORG"})


class MalformedRowError(ContentError):
    """One line of the extraction cannot be used; the importer counts it and goes on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ExtractionRow:
    """One line of the extraction: one mailbox seen through one activity (raw strings)."""

    mailbox_type: str
    address: str
    pp_identifier_type: str
    pp_identifier: str
    id_nat_ps: str
    structure_identifier_type: str
    structure_identifier: str
    service: str
    civility: str
    family_name: str
    given_name: str
    profession_category_code: str
    profession_category_label: str
    profession_code: str
    profession_label: str
    specialty_code: str
    specialty_label: str
    dematerialisation: str
    organisation_name: str
    trade_name: str
    address_l2: str
    address_l3: str
    address_l4_number: str
    address_l4_number_complement: str
    address_l4_street_type: str
    address_l4_street: str
    address_l5: str
    address_l6_routing: str
    postal_code: str
    department: str
    country: str

    @classmethod
    def from_fields(cls, values: tuple[str, ...]) -> ExtractionRow:
        return cls(*values)

    @property
    def city(self) -> str:
        return city_from_routing_line(self.address_l6_routing, self.postal_code)

    @property
    def address_lines(self) -> tuple[str, ...]:
        """The postal address as display lines (empty parts dropped)."""
        street = " ".join(
            part
            for part in (
                self.address_l4_number,
                self.address_l4_number_complement,
                self.address_l4_street_type,
                self.address_l4_street,
            )
            if part
        )
        return tuple(
            line for line in (self.address_l2, self.address_l3, street, self.address_l5) if line
        )


assert len(fields(ExtractionRow)) == COLUMN_COUNT


def _normalise_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").replace("\u2019", "'").split()).casefold()


def parse_header(line: str) -> None:
    """Check the header line is the one of rules §5.2; raise :class:`MalformedRowError` if not.

    A byte-order mark, a trailing separator, typographic apostrophes and case are tolerated: the
    point is to refuse a file whose columns would be read in the wrong order.
    """
    names = line.rstrip("\r\n").split(SEPARATOR)
    if len(names) == COLUMN_COUNT + 1 and names[-1].strip() == "":
        names.pop()
    if len(names) != COLUMN_COUNT:
        raise MalformedRowError(f"header has {len(names)} columns, expected {COLUMN_COUNT}")
    for position, (got, expected) in enumerate(zip(names, COLUMNS, strict=True), start=1):
        if _normalise_header(got) != _normalise_header(expected):
            raise MalformedRowError(f"header column {position} is {got!r}, expected {expected!r}")


def split_row(line: str) -> tuple[str, ...]:
    """Split one data line into its 31 stripped fields, or raise :class:`MalformedRowError`.

    Checks what the index relies on: the column count (one trailing separator is tolerated, as
    ANS extractions often end lines with one), a known mailbox type (PER/ORG) and an address with
    a single ``@``. Nothing else is enforced: the national file is authoritative for its content.
    """
    values = line.rstrip("\r\n").split(SEPARATOR)
    count = len(values)
    if count != COLUMN_COUNT:
        if count == COLUMN_COUNT + 1 and values[-1].strip() == "":
            values.pop()
        else:
            raise MalformedRowError(f"{count} columns, expected {COLUMN_COUNT}")
    if " |" in line or "| " in line or "\t" in line:
        values = [value.strip() for value in values]
    else:
        values[-1] = values[-1].strip()
        values[0] = values[0].strip()
    mailbox_type = values[0].upper()
    if mailbox_type not in EXTRACTION_MAILBOX_TYPES:
        raise MalformedRowError("unknown mailbox type (column 'Type de BAL')")
    values[0] = mailbox_type
    address = values[1]
    if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
        raise MalformedRowError("invalid mailbox address (column 'Adresse BAL')")
    values[1] = address.lower()
    return tuple(values)


def city_from_routing_line(routing_line: str, postal_code: str = "") -> str:
    """The city of an L6 "ligne d'acheminement" (``"75012 PARIS"`` → ``"PARIS"``).

    The extraction has no city column: the city is the routing line without its leading postal
    code (and without a trailing ``CEDEX nn``, which is a sorting office, not a place).
    """
    text = routing_line.strip()
    head, _, rest = text.partition(" ")
    if rest and (head == postal_code or (len(head) == 5 and head.isascii() and head.isdigit())):
        text = rest.strip()
    words = text.split()
    for index, word in enumerate(words):
        if word.upper() == "CEDEX" and index > 0:
            words = words[:index]
            break
    return " ".join(words)


# NEEDS(directory A): this is _text.fold without the per-character Python loop (~20x faster);
# tests/directory/test_extraction_format.py checks both agree. _text could adopt it.
_LIGATURES: Final = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"})
_SEPARATOR_RUN: Final = re.compile(r"[\s\-\u2010\u2011\u2013'\u2019\u2018`.,_/]+")


def fast_fold(text: str) -> str:
    """Exactly :func:`._text.fold`, vectorised with ``re`` for bulk imports.

    Folding every name, structure and city of a 550,000-line extraction must take seconds, not
    minutes: the ASCII fast path skips Unicode decomposition entirely.
    """
    if not text.isascii():
        text = "".join(
            char
            for char in unicodedata.normalize("NFKD", text.translate(_LIGATURES))
            if not unicodedata.combining(char)
        )
    return _SEPARATOR_RUN.sub(" ", text.casefold()).strip()
