"""Build the RFC 4515 search filter of a :class:`~.query.DirectoryQuery` (pure).

Two rules:

1. **Every value is escaped** with ``ldap.filter.escape_filter_chars`` (``*``, ``(``, ``)``,
   ``\\`` and NUL become ``\\2a`` ...), so no criterion can change the filter's structure: a
   name ``*`` matches a literal star, i.e. nobody.
2. **Accents**: directories store ``LEFÈBVRE`` and slapd's ``caseIgnoreMatch`` folds case but
   not accents. Unless the mapping names an ASCII-folded attribute, a name is sent as an
   accent-*tolerant* substring filter: letters that may carry an accent in French (and the
   separators that :func:`._text.fold` ignores) become wildcards, the other characters stay,
   escaped (``lefebvre`` → ``(sn=l*f*bvr*)``). That is a superset of the wanted answers; the
   backend then keeps only the entries for which :meth:`DirectoryQuery.matches` holds.
"""

from __future__ import annotations

from ldap.filter import escape_filter_chars

from ._text import fold, fold_words
from .codes import PROFESSIONS, SPECIALTIES
from .ldap_mapping import SANDBOX_MAPPING, LDAPMapping
from .query import DirectoryQuery

__all__ = ["build_filter", "needs_post_filter", "tolerant_substring"]

# Letters whose accented / ligature forms fold to them (à â ä ç é è ê ë î ï ñ ô ö œ ù û ü ÿ),
# which on the server can only be matched by a wildcard.
_VARIABLE = frozenset("aceinouy")


def _escape(value: str) -> str:
    return str(escape_filter_chars(value))


def tolerant_substring(attr: str, folded: str, *, anchor_start: bool, anchor_end: bool) -> str:
    """An ``(attr=...)`` filter that matches every value whose fold matches ``folded``.

    ``anchor_start`` / ``anchor_end``: the value must start / end there (prefix: start only;
    equality: both; substring: neither). Without any wildcard, an equality filter is sent.
    """
    runs: list[str] = []
    current: list[str] = []
    for char in folded:
        if char in _VARIABLE or char == " ":
            runs.append("".join(current))
            current = []
        else:
            current.append(char)
    runs.append("".join(current))
    if len(runs) == 1 and anchor_start and anchor_end:
        return f"({attr}={_escape(runs[0])})"
    initial = runs[0] if anchor_start else ""
    final = runs[-1] if anchor_end and len(runs) > 1 else ""
    middle = runs[1:-1] if len(runs) > 1 else []
    if not anchor_start and runs[0]:
        middle.insert(0, runs[0])
    if not anchor_end and len(runs) > 1 and runs[-1]:
        middle.append(runs[-1])
    parts = [_escape(initial), *(_escape(p) for p in middle if p), _escape(final)]
    text = "*".join(parts)
    while "**" in text:
        text = text.replace("**", "*")
    return f"({attr}={text})"


def _name(attr: str | None, folded_attr: str | None, value: str, mode: str) -> str | None:
    """Filter for a folded text criterion; mode is ``prefix``, ``equal`` or ``contains``."""
    folded = fold(value)
    if folded_attr is not None:
        v = _escape(folded)
        pattern = {"prefix": f"{v}*", "equal": v, "contains": f"*{v}*"}[mode]
        return f"({folded_attr}={pattern})"
    if attr is None:
        return None
    return tolerant_substring(
        attr, folded, anchor_start=mode in ("prefix", "equal"), anchor_end=mode == "equal"
    )


def _equal(attr: str | None, value: str) -> str | None:
    return None if attr is None else f"({attr}={_escape(value)})"


def _any_of(parts: list[str]) -> str:
    parts = list(dict.fromkeys(parts))
    return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"


def _department(m: LDAPMapping, department: str) -> str | None:
    if m.department is not None:
        return _equal(m.department, department)
    if m.postal_code is None:
        return None
    prefixes = {"2A": ("200", "201"), "2B": ("202", "203", "204", "205", "206")}.get(
        department, (department,)
    )
    return _any_of([f"({m.postal_code}={_escape(p)}*)" for p in prefixes])


def _text_word(m: LDAPMapping, word: str) -> str:
    attrs = [
        m.family_name,
        m.given_name,
        m.common_name,
        m.display_name,
        m.organisation,
        m.service,
        m.description,
        m.city,
        m.mail,
        m.profession_label,
        m.specialty_label,
    ]
    parts = [
        tolerant_substring(a, word, anchor_start=False, anchor_end=False)
        for a in dict.fromkeys(attrs)
        if a
    ]
    # labels the entry may lack but that the result gets from the shipped code tables
    if m.profession_code:
        parts += [
            f"({m.profession_code}={_escape(code)})"
            for code, label in PROFESSIONS.items()
            if word in fold(label)
        ]
    if m.specialty_code:
        parts += [
            f"({m.specialty_code}={_escape(code)})"
            for code, label in SPECIALTIES.items()
            if word in fold(label)
        ]
    return _any_of(parts)


def build_filter(query: DirectoryQuery, mapping: LDAPMapping = SANDBOX_MAPPING) -> str:
    """The server-side filter: a superset of the query's answers (see module docstring)."""
    m, q = mapping, query
    parts: list[str | None] = [f"(objectClass={_escape(m.object_class)})"]
    if m.red_list:
        parts.append(f"(!({m.red_list}=TRUE))")
    if q.family_name:
        parts.append(_name(m.family_name, m.folded.get("family_name"), q.family_name, "prefix"))
    if q.given_name:
        parts.append(_name(m.given_name, m.folded.get("given_name"), q.given_name, "prefix"))
    if q.organisation:
        parts.append(
            _name(m.organisation, m.folded.get("organisation"), q.organisation, "contains")
        )
    if q.city:
        parts.append(_name(m.city, m.folded.get("city"), q.city, "equal"))
    ps_ids = [
        x
        for x in (
            q.id_nat_ps,
            q.rpps.id_nat_ps if q.rpps else None,
            q.adeli.id_nat_ps if q.adeli else None,
        )
        if x is not None
    ]
    for id_nat_ps in dict.fromkeys(ps_ids):
        alternatives = [_equal(m.id_nat_ps, str(id_nat_ps))]
        if id_nat_ps.rpps is not None:
            alternatives.append(_equal(m.rpps, str(id_nat_ps.rpps)))
        if id_nat_ps.adeli is not None:
            alternatives.append(_equal(m.adeli, str(id_nat_ps.adeli)))
        parts.append(_any_of([a for a in alternatives if a]))
    if q.profession:
        parts.append(_equal(m.profession_code, q.profession))
    if q.specialty:
        parts.append(_equal(m.specialty_code, q.specialty))
    if q.finess:
        alternatives = [
            _equal(m.finess, str(q.finess)),
            _equal(m.id_nat_struct, str(q.finess.id_nat_struct)),
        ]
        parts.append(_any_of([a for a in alternatives if a]))
    if q.siret:
        alternatives = [
            _equal(m.siret, str(q.siret)),
            _equal(m.id_nat_struct, str(q.siret.id_nat_struct)),
        ]
        parts.append(_any_of([a for a in alternatives if a]))
    if q.postal_code:
        parts.append(_equal(m.postal_code, q.postal_code))
    if q.department:
        parts.append(_department(m, q.department))
    if q.mailbox_type:
        values = m.type_values.get(q.mailbox_type, (q.mailbox_type.value,))
        parts.append(_any_of([f"({m.mailbox_type}={_escape(v)})" for v in values]))
    if q.text:
        parts.extend(_text_word(m, word) for word in fold_words(q.text))
    present = [p for p in parts if p]
    return present[0] if len(present) == 1 else "(&" + "".join(present) + ")"


def needs_post_filter(query: DirectoryQuery, mapping: LDAPMapping = SANDBOX_MAPPING) -> bool:
    """Whether the server filter may return entries the query does not want."""
    del mapping  # every query is checked: cheap, and the mapping's labels may differ
    return not query.is_empty
