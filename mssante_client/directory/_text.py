"""Accent- and case-insensitive text matching, shared by every directory backend.

Why: the directory stores names as written (``LEFÈBVRE``, ``Hélène``, ``SAINT-ÉTIENNE``) while
people type ``lefebvre``, ``helene`` or ``saint etienne``. Every backend compares the *folded*
forms produced here, so the same query gives the same answers whatever the backend.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["fold", "fold_words", "folded_contains", "folded_equals", "folded_prefix"]

# Ligatures that NFKD does not decompose but that French names use.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"})
_SEPARATORS = frozenset("-\u2010\u2011\u2013'\u2019\u2018`.,_/")


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """``"Éloïse-Marie  D'Arc"`` → ``"eloise marie d arc"``.

    Diacritics removed (NFKD), ligatures expanded, case folded, and every run of separators
    (white space, hyphens, apostrophes, dots, commas, underscores, slashes) turned into a single
    space: they are not significant to a person searching. Any other symbol (``*``, ``(``,
    ``\\``, NUL...) is kept as a literal character, so that it can only match itself: a name
    ``"*"`` finds nobody rather than everybody.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    out: list[str] = []
    space = True
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if char not in _SEPARATORS and not char.isspace():
            out.append(char.casefold())
            space = False
        elif not space:
            out.append(" ")
            space = True
    return "".join(out).rstrip()


def fold_words(text: str) -> tuple[str, ...]:
    """The folded words of ``text`` (free-text search terms)."""
    return tuple(fold(text).split())


def folded_prefix(value: str | None, prefix: str) -> bool:
    """Whether ``value`` starts with ``prefix`` once both are folded."""
    return value is not None and fold(value).startswith(fold(prefix))


def folded_equals(value: str | None, other: str) -> bool:
    """Whether ``value`` and ``other`` are equal once folded."""
    return value is not None and fold(value) == fold(other)


def folded_contains(value: str | None, part: str) -> bool:
    """Whether ``part`` occurs in ``value`` once both are folded."""
    return value is not None and fold(part) in fold(value)
