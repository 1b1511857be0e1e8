"""The :class:`Directory` facade: one API over the LDAP, FHIR and extraction backends.

Why a facade: callers build a :class:`~.query.DirectoryQuery` (or pass criteria as keywords) and
get :class:`~.models.SearchPage` objects whatever the backend; the cursor, the result limit and
iteration are handled here once (ECO.3.1.4: find a correspondent's MSSanté address).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from ..errors import QueryError
from .backend import (
    BackendPage,
    BackendState,
    Cursor,
    DirectoryBackend,
    decode_cursor,
    encode_cursor,
)
from .models import DirectoryEntry, SearchPage
from .query import DirectoryQuery

__all__ = ["Directory", "PagePlan", "finish_page", "plan_page", "query_of"]

_log = logging.getLogger("mssante_client.directory")


# --- the paging rules, pure: shared by Directory and AsyncDirectory -------------------------


def query_of(query: DirectoryQuery | None, criteria: dict[str, Any]) -> DirectoryQuery:
    """The query: given, built from keywords, or given and refined by keywords."""
    if query is None:
        return DirectoryQuery(**criteria)
    if criteria:
        # keywords refine a given query (e.g. cursor=..., page_size=...)
        return DirectoryQuery(**{**query.model_dump(exclude_unset=True), **criteria})
    return query


@dataclass(frozen=True)
class PagePlan:
    """What to ask the backend for: the page size left under the limit and the resume state."""

    query: DirectoryQuery
    cursor: Cursor
    page_size: int
    state: BackendState | None


def plan_page(query: DirectoryQuery, backend_name: str) -> PagePlan | None:
    """The next request for ``query``, or None when its limit is already reached."""
    if query.cursor is not None:
        cursor = decode_cursor(query.cursor, backend=backend_name, query=query)
    else:
        cursor = Cursor(backend=backend_name, fingerprint=query.fingerprint(), returned=0, state={})
    page_size = query.page_size
    if query.limit is not None:
        page_size = min(page_size, query.limit - cursor.returned)
        if page_size <= 0:
            return None
    state = cursor.state if query.cursor is not None else None
    return PagePlan(query=query, cursor=cursor, page_size=page_size, state=state)


def finish_page(plan: PagePlan, page: BackendPage, backend_name: str) -> SearchPage:
    """The caller's page from the backend's answer: limit enforced, next cursor encoded."""
    if len(page.results) > plan.page_size:  # a backend bug must not break the limit
        raise QueryError("page_size", f"backend {backend_name!r} returned more than asked")
    returned = plan.cursor.returned + len(page.results)
    limit = plan.query.limit
    more = page.next_state is not None and (limit is None or returned < limit)
    next_cursor = (
        encode_cursor(
            Cursor(
                backend=backend_name,
                fingerprint=plan.cursor.fingerprint,
                returned=returned,
                state=dict(page.next_state or {}),
            )
        )
        if more
        else None
    )
    _log.debug("directory search on %s: %d results, more=%s", backend_name, len(page.results), more)
    return SearchPage.model_construct(
        results=tuple(page.results),
        next_cursor=next_cursor,
        total=page.total,
        truncated=page.truncated,
    )


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

    def search(self, query: DirectoryQuery | None = None, /, **criteria: Any) -> SearchPage:
        """One page of results; pass ``cursor=page.next_cursor`` to get the next one."""
        name = self.backend.name
        plan = plan_page(query_of(query, criteria), name)
        if plan is None:
            return SearchPage(results=(), next_cursor=None)
        page = self.backend.search_page(plan.query, page_size=plan.page_size, state=plan.state)
        return finish_page(plan, page, name)

    def iter_pages(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> Iterator[SearchPage]:
        """Every page, up to the query's limit."""
        q = query_of(query, criteria)
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
