"""The :class:`Directory` facade: one API over the LDAP, FHIR and extraction backends.

Why a facade: callers build a :class:`~.query.DirectoryQuery` (or pass criteria as keywords) and
get :class:`~.models.SearchPage` objects whatever the backend; the cursor, the result limit and
iteration are handled here once (ECO.3.1.4: find a correspondent's MSSanté address).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from ..errors import QueryError
from .backend import Cursor, DirectoryBackend, decode_cursor, encode_cursor
from .models import DirectoryEntry, SearchPage
from .query import DirectoryQuery

__all__ = ["Directory"]

_log = logging.getLogger("mssante_client.directory")


class Directory:
    """Search a directory backend.

    Example (not run)::

        with Directory(LDAPDirectory("ldaps://annuaire.example")) as directory:
            page = directory.search(family_name="dupont", city="paris")
    """

    def __init__(self, backend: DirectoryBackend) -> None:
        self.backend = backend

    # --- context management ----------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- search ----------------------------------------------------------------------------

    @staticmethod
    def _query(query: DirectoryQuery | None, criteria: dict[str, Any]) -> DirectoryQuery:
        if query is None:
            return DirectoryQuery(**criteria)
        if criteria:
            # keywords refine a given query (e.g. cursor=..., page_size=...)
            return DirectoryQuery(**{**query.model_dump(exclude_unset=True), **criteria})
        return query

    def search(self, query: DirectoryQuery | None = None, /, **criteria: Any) -> SearchPage:
        """One page of results; pass ``cursor=page.next_cursor`` to get the next one."""
        q = self._query(query, criteria)
        name = self.backend.name
        if q.cursor is not None:
            cursor = decode_cursor(q.cursor, backend=name, query=q)
        else:
            cursor = Cursor(backend=name, fingerprint=q.fingerprint(), returned=0, state={})
        page_size = q.page_size
        if q.limit is not None:
            page_size = min(page_size, q.limit - cursor.returned)
            if page_size <= 0:
                return SearchPage(results=(), next_cursor=None)
        page = self.backend.search_page(
            q, page_size=page_size, state=cursor.state if q.cursor is not None else None
        )
        if len(page.results) > page_size:  # a backend bug must not break the limit
            raise QueryError("page_size", f"backend {name!r} returned more than asked")
        returned = cursor.returned + len(page.results)
        more = page.next_state is not None and (q.limit is None or returned < q.limit)
        next_cursor = (
            encode_cursor(
                Cursor(
                    backend=name,
                    fingerprint=cursor.fingerprint,
                    returned=returned,
                    state=dict(page.next_state or {}),
                )
            )
            if more
            else None
        )
        _log.debug("directory search on %s: %d results, more=%s", name, len(page.results), more)
        return SearchPage.model_construct(
            results=tuple(page.results),
            next_cursor=next_cursor,
            total=page.total,
            truncated=page.truncated,
        )

    def iter_pages(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> Iterator[SearchPage]:
        """Every page, up to the query's limit."""
        q = self._query(query, criteria)
        while True:
            page = self.search(q)
            yield page
            if page.next_cursor is None:
                return
            q = q.model_copy(update={"cursor": page.next_cursor})

    def iter_search(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> Iterator[DirectoryEntry]:
        """Every result of every page, up to the query's limit."""
        for page in self.iter_pages(query, **criteria):
            yield from page.results
