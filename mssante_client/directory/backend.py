"""The contract between the :class:`~.directory.Directory` facade and its backends.

A backend answers one page at a time from a small JSON-able *state* it chose itself (an offset,
an LDAP paging position, a FHIR ``next`` link...). The facade owns everything common: the
opaque cursor handed to callers (which wraps that state with the query's fingerprint and the
count already returned, so a cursor cannot be replayed against another query or backend), the
result limit, and iteration over pages. Backends never see a cursor or a limit.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import QueryError
from .models import DirectoryEntry
from .query import DirectoryQuery

__all__ = [
    "BackendPage",
    "BackendState",
    "Cursor",
    "DirectoryBackend",
    "decode_cursor",
    "encode_cursor",
    "offset_of",
    "slice_page",
]

#: What a backend keeps between pages: JSON-serialisable (str/int/float/bool/None/list/dict).
BackendState = Mapping[str, Any]


@dataclass(frozen=True)
class BackendPage:
    """One page as a backend returns it. ``next_state`` None means: no more results."""

    results: Sequence[DirectoryEntry]
    next_state: BackendState | None = None
    total: int | None = None
    truncated: bool = False


@runtime_checkable
class DirectoryBackend(Protocol):
    """A source of directory entries (LDAP, FHIR Annuaire Santé, extraction index)."""

    #: Short name used in cursors and in ``source`` fields: ``"ldap"``, ``"fhir"``, ...
    name: str

    def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        """Up to ``page_size`` entries matching ``query`` (:meth:`DirectoryQuery.matches`),
        starting at ``state`` (None: from the start). Must not return more than ``page_size``.
        """
        ...

    def close(self) -> None:
        """Release connections / files. Idempotent."""
        ...


# --- cursors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The decoded content of an opaque cursor."""

    backend: str
    fingerprint: str
    returned: int
    state: BackendState = field(default_factory=dict)


def encode_cursor(cursor: Cursor) -> str:
    """URL-safe text; opaque to callers (they must not build or edit one)."""
    blob = json.dumps(
        {"b": cursor.backend, "f": cursor.fingerprint, "n": cursor.returned, "s": cursor.state},
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")


def decode_cursor(text: str, *, backend: str, query: DirectoryQuery) -> Cursor:
    """Decode and check a cursor against the backend and query it is used with."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        cursor = Cursor(
            backend=str(data["b"]),
            fingerprint=str(data["f"]),
            returned=int(data["n"]),
            state=dict(data["s"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise QueryError("cursor", "not a cursor returned by this library") from exc
    if cursor.backend != backend:
        raise QueryError("cursor", f"comes from the {cursor.backend!r} backend, not {backend!r}")
    if cursor.fingerprint != query.fingerprint():
        raise QueryError("cursor", "belongs to a different query")
    if cursor.returned < 0:
        raise QueryError("cursor", "not a cursor returned by this library")
    return cursor


# --- helpers for backends ------------------------------------------------------------------


def offset_of(state: BackendState | None) -> int:
    """The ``offset`` of an offset-based state (0 for the first page)."""
    if state is None:
        return 0
    value = state.get("offset", 0)
    if not isinstance(value, int) or value < 0:
        raise QueryError("cursor", "invalid offset")
    return value


def slice_page(
    matches: Sequence[DirectoryEntry], *, page_size: int, state: BackendState | None
) -> BackendPage:
    """A page of an already computed list of matches, with an offset state.

    For backends that filter in memory or in a local index (e.g. the extraction file).
    """
    start = offset_of(state)
    end = start + page_size
    page = matches[start:end]
    return BackendPage(
        results=page,
        next_state={"offset": end} if end < len(matches) else None,
        total=len(matches),
    )
