"""The SQLite schema of the extraction index and the SQL of a search, as pure functions.

Why a separate module: the SQL is the part with rules (what a criterion means, which index serves
it, how a prefix becomes an FTS5 query) and it can be checked without a file; the importer and the
backend in :mod:`.extraction` only run it.

Layout: ``mailbox`` holds one row per distinct MSSanté address (the extraction repeats an address
on one line per activity, rules §5.2), ``activity`` one row per distinct place of activity of a
mailbox, and ``name_index`` is a contentless FTS5 table over the activity rows (family name, given
name, organisation, city) with the ``unicode61 remove_diacritics 2`` tokenizer and prefix indexes
of 2 and 3 characters, so that accent- and case-insensitive name prefixes are answered from the
index alone.
"""

# SQL is assembled from constant fragments only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._text import fold, fold_words
from .extraction_format import EXTRACTION_MAILBOX_TYPES
from .query import DirectoryQuery

__all__ = [
    "ACTIVITY_COLUMNS",
    "APPEND_HAYSTACK",
    "CREATE_INDEXES",
    "CREATE_TABLES",
    "HAYSTACK_SEPARATOR",
    "INSERT_ACTIVITY",
    "INSERT_MAILBOX",
    "INSERT_NAMES",
    "INSERT_TEXT",
    "MAILBOX_COLUMNS",
    "ORGANISATION_SEPARATOR",
    "SCHEMA_VERSION",
    "TEXT_COLUMNS",
    "SearchSQL",
    "compile_search",
    "name_prefix_match",
    "place_match",
    "place_tokens",
]

SCHEMA_VERSION: Final = "1"

#: One row per distinct address. The entry of a mailbox is described by the first line that
#: published it (structure, profession, service); later lines only add places of activity.
MAILBOX_COLUMNS: Final = (
    "address",
    "mailbox_type",
    "pp_identifier_type",
    "pp_identifier",
    "id_nat_ps",
    "civility",
    "family_name",
    "given_name",
    "dematerialisation",
    "service",
    "structure_identifier_type",
    "structure_identifier",
    "profession_category_code",
    "profession_category_label",
    "profession_code",
    "profession_label",
    "specialty_code",
    "specialty_label",
    "organisation_name",
    "trade_name",
)

#: Pre-folded text for the substring criteria, in a narrow table so that a scan reads little.
TEXT_COLUMNS: Final = ("organisation_key", "haystack")

#: One row per distinct place of activity of a mailbox.
ACTIVITY_COLUMNS: Final = (
    "mailbox_id",
    "address_l2",
    "address_l3",
    "address_l4_number",
    "address_l4_number_complement",
    "address_l4_street_type",
    "address_l4_street",
    "address_l5",
    "address_l6_routing",
    "postal_code",
    "department",
    "country",
    "city",
    "city_key",
    "department_code",
)

CREATE_TABLES: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE mailbox (id INTEGER PRIMARY KEY, "
    + ", ".join(f"{name} TEXT NOT NULL" for name in MAILBOX_COLUMNS)
    + ")",
    "CREATE TABLE search_text (id INTEGER PRIMARY KEY, "
    "organisation_key TEXT NOT NULL, haystack TEXT NOT NULL)",
    "CREATE TABLE activity (id INTEGER PRIMARY KEY, mailbox_id INTEGER NOT NULL, "
    + ", ".join(f"{name} TEXT NOT NULL" for name in ACTIVITY_COLUMNS[1:])
    + ")",
    # rowid = mailbox.id; the folded names are indexed, not stored (contentless).
    # place: folded city words, postal code and "d" + department of every place of activity, so
    # that a name and a place intersect inside FTS5 (the exact place check follows).
    "CREATE VIRTUAL TABLE name_index USING fts5(family, given, place, content='', columnsize=0, "
    "prefix='2 3', tokenize='unicode61 remove_diacritics 2')",
)

#: Created after the bulk insert: building a B-tree once is much cheaper than maintaining it.
CREATE_INDEXES: Final = (
    "CREATE INDEX mailbox_id_nat_ps ON mailbox (id_nat_ps)",
    "CREATE INDEX mailbox_type ON mailbox (mailbox_type)",
    "CREATE INDEX mailbox_profession ON mailbox (profession_code, specialty_code)",
    "CREATE INDEX mailbox_specialty ON mailbox (specialty_code)",
    "CREATE INDEX mailbox_structure ON mailbox (structure_identifier)",
    # Covering indexes: a place criterion is answered without reading the activity rows,
    # either from a mailbox (probe) or from the place (list of mailboxes).
    "CREATE INDEX activity_mailbox ON activity "
    "(mailbox_id, city_key, postal_code, department_code)",
    "CREATE INDEX activity_city ON activity (city_key, mailbox_id)",
    "CREATE INDEX activity_postal_code ON activity (postal_code, mailbox_id)",
    "CREATE INDEX activity_department ON activity (department_code, mailbox_id)",
    "PRAGMA analysis_limit = 1000",
    "ANALYZE",
)

INSERT_MAILBOX: Final = (
    "INSERT INTO mailbox (id, "
    + ", ".join(MAILBOX_COLUMNS)
    + ") VALUES (?, "
    + ", ".join("?" * len(MAILBOX_COLUMNS))
    + ")"
)
INSERT_ACTIVITY: Final = (
    "INSERT INTO activity (id, "
    + ", ".join(ACTIVITY_COLUMNS)
    + ") VALUES (?, "
    + ", ".join("?" * len(ACTIVITY_COLUMNS))
    + ")"
)
INSERT_TEXT: Final = "INSERT INTO search_text (id, organisation_key, haystack) VALUES (?, ?, ?)"
INSERT_NAMES: Final = "INSERT INTO name_index (rowid, family, given, place) VALUES (?, ?, ?, ?)"
APPEND_HAYSTACK: Final = "UPDATE search_text SET haystack = haystack || ? WHERE id = ?"

#: Joins the parts of ``haystack`` as :mod:`.query` does, so free text matches the same way.
HAYSTACK_SEPARATOR: Final = " | "
#: Joins the structure name and the trade name in ``organisation_key``: never in a folded query.
ORGANISATION_SEPARATOR: Final = "\n"


@dataclass(frozen=True, slots=True)
class SearchSQL:
    """The statements of one search page: matching mailbox ids, and their total count."""

    page: str
    page_params: tuple[object, ...]
    count: str
    count_params: tuple[object, ...]
    #: False when counting means scanning every mailbox (substring criteria alone).
    cheap_count: bool = True


def place_tokens(city_key: str, postal_code: str, department_code: str) -> str:
    """What the ``place`` column of the name index holds for one place of activity."""
    parts = [city_key]
    if postal_code.isalnum():
        parts.append(postal_code)
    if department_code.isalnum():
        parts.append("d" + department_code.lower())
    return " ".join(part for part in parts if part)


def place_match(query: DirectoryQuery) -> str | None:
    """FTS5 terms narrowing a name search to mailboxes with the wanted place (or None).

    Only a pre-filter: the tokens of several places share one column, so the exact check (one
    place holding every criterion, city equality) is still made on the activity table.
    """
    terms: list[str] = []
    if query.city is not None:
        words = fold(query.city).split()
        if words and all(word.isalnum() for word in words):
            terms.append(f'{{place}} : "{" ".join(words)}"')
    if query.postal_code is not None:
        terms.append(f'{{place}} : "{query.postal_code}"')
    if query.department is not None:
        terms.append(f'{{place}} : "d{query.department.lower()}"')
    return " AND ".join(terms) or None


def name_prefix_match(column: str, name: str) -> str | None:
    """The FTS5 expression for "the folded ``column`` starts with the folded ``name``".

    ``^"jean mar"*`` anchors the phrase on the first token of the column and lets the last word
    be a prefix: exactly :func:`~._text.folded_prefix` on the whole name (``"jean mar"`` finds
    ``JEAN-MARIE`` but ``"marie"`` does not). Returns ``None`` when a word holds a character the
    tokenizer never indexes (``*``, ``(``...): such a name matches nobody, as the shared folding
    rule says, instead of being silently widened.
    """
    words = fold(name).split()
    if not words or not all(word.isalnum() for word in words):
        return None
    return f'{{{column}}} : ^"{" ".join(words)}"*'


def _side_filter(table: str, column: str, key: str, conditions: list[str], *, probe: bool) -> str:
    """A filter of the driving rows (mailbox ids in ``key``) by conditions on a side table.

    ``probe`` (another criterion already narrows the candidates): check each candidate through
    the side table's index on its mailbox column. Otherwise: let the side table list the ids.
    """
    where = " AND ".join(conditions)
    if probe:
        return f"EXISTS (SELECT 1 FROM {table} WHERE {column} = {key} AND {where})"
    return f"{key} IN (SELECT {column} FROM {table} WHERE {where})"


def compile_search(query: DirectoryQuery, *, after: int | None, limit: int) -> SearchSQL | None:
    """The SQL of one page of a search, or ``None`` if the query can match nothing here.

    The semantics are those of :meth:`DirectoryQuery.matches` on the entries this index
    produces: names are prefixes (FTS5), organisation and free text are folded substrings
    (``instr`` on pre-folded columns), places must hold together on one activity, everything else
    is exact through a B-tree index. APP and CAB mailboxes are never in the extraction (rules §4).

    Pages follow the mailbox id (the order of the file): the FTS index and the mailbox table both
    yield ids in that order, so a page stops after ``limit`` rows without sorting the matches,
    and the keyset cursor (``after``) is stable.
    """
    mailbox: list[str] = []
    mailbox_params: list[object] = []

    def on_mailbox(clause: str, *values: object) -> None:
        mailbox.append(clause)
        mailbox_params.extend(values)

    if query.mailbox_type is not None:
        if query.mailbox_type.value not in EXTRACTION_MAILBOX_TYPES:
            return None
        on_mailbox("m.mailbox_type = ?", query.mailbox_type.value)
    wanted = {
        str(identifier)
        for identifier in (
            query.id_nat_ps,
            query.rpps.id_nat_ps if query.rpps else None,
            query.adeli.id_nat_ps if query.adeli else None,
        )
        if identifier is not None
    }
    for identifier in sorted(wanted):
        on_mailbox("m.id_nat_ps = ?", identifier)
    for structure in (query.finess, query.siret):
        if structure is not None:
            on_mailbox(
                "m.structure_identifier IN (?, ?)", str(structure), str(structure.id_nat_struct)
            )
    if query.profession is not None:
        on_mailbox("m.profession_code = ?", query.profession)
    if query.specialty is not None:
        on_mailbox("m.specialty_code = ?", query.specialty)

    names: list[str] = []
    for column, name in (("family", query.family_name), ("given", query.given_name)):
        if name is not None:
            expression = name_prefix_match(column, name)
            if expression is None:
                return None
            names.append(expression)

    text: list[str] = []
    text_params: list[object] = []
    if query.organisation is not None:
        text.append("instr(x.organisation_key, ?) > 0")
        text_params.append(fold(query.organisation))
    if query.text is not None:
        for word in fold_words(query.text):
            text.append("instr(x.haystack, ?) > 0")
            text_params.append(word)

    where: list[str] = []
    params: list[object] = []
    if names:
        # The name index drives: it yields few ids, in order; the mailbox row is read only
        # when a mailbox-level criterion needs it.
        key = "n.rowid"
        source = "name_index n"
        where.append("name_index MATCH ?")
        narrowing = place_match(query)
        params.append(" AND ".join([*names, narrowing] if narrowing else names))
        if mailbox:
            source += " JOIN mailbox m ON m.id = n.rowid"
    elif text and not mailbox:
        # Substrings have no index: scan the narrow text table in id order, so that a page
        # stops as soon as it is full.
        key = "x.id"
        source = "search_text x"
        where += text
        params += text_params
        text = []
    else:
        key = "m.id"
        source = "mailbox m"
    where += mailbox
    params += mailbox_params
    selective = bool(names) or len(mailbox) > (1 if query.mailbox_type is not None else 0)

    place: list[str] = []
    place_params: list[object] = []
    if query.city is not None:
        place.append("p.city_key = ?")
        place_params.append(fold(query.city))
    if query.postal_code is not None:
        place.append("p.postal_code = ?")
        place_params.append(query.postal_code)
    if query.department is not None:
        place.append("p.department_code = ?")
        place_params.append(query.department)
    if place:
        probe = selective or source.startswith("search_text")
        where.append(_side_filter("activity p", "p.mailbox_id", key, place, probe=probe))
        params += place_params

    if text:
        where.append(_side_filter("search_text x", "x.id", key, text, probe=True))
        params += text_params
    #: A count is cheap when an index narrows the candidates; a pure substring scan is not.
    cheap_count = bool(names or mailbox or place) and (selective or not text_params)

    condition = " AND ".join(where) if where else "1"
    page_condition = condition
    page_params = list(params)
    if after is not None:
        page_condition += f" AND {key} > ?"
        page_params.append(after)
    page_params.append(limit)
    return SearchSQL(
        page=f"SELECT {key} FROM {source} WHERE {page_condition} ORDER BY {key} LIMIT ?",
        page_params=tuple(page_params),
        count=f"SELECT count(*) FROM {source} WHERE {condition}",
        count_params=tuple(params),
        cheap_count=cheap_count,
    )
