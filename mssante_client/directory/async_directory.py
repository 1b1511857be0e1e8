"""``AsyncDirectory``: the asyncio twin of :class:`~.directory.Directory` (sync API first).

Same queries, same :class:`~.models.SearchPage` and entries, same cursors (a cursor from a
``Directory`` resumes in an ``AsyncDirectory`` over the same kind of backend and vice versa),
same limits and errors.

Two ways to reach a backend:

* a **native async** backend, whose ``search_page`` is a coroutine function (such as
  :class:`~.fhir.AsyncFhirBackend`, see :class:`AsyncDirectoryBackend`), is awaited directly on
  the event loop;
* a **sync** :class:`~.backend.DirectoryBackend` (:class:`~.ldap.LDAPDirectory`,
  :class:`~.fhir.FhirBackend`, :class:`~.extraction.ExtractionBackend`) keeps its blocking
  I/O: each call runs in a worker thread (:func:`asyncio.to_thread`), one at a time under an
  :class:`asyncio.Lock` since these backends hold one connection that is not meant to be shared
  between threads. A cancelled search finishes in its thread before the next one starts.

Searches on a native backend are not serialised: ``httpx.AsyncClient`` and the FHIR rate
limiter are made for concurrent requests, so ``asyncio.gather`` of several searches overlaps.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any, Protocol, Self, TypeGuard, cast, runtime_checkable

from .._offload import SerialOffloader
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

__all__ = ["AsyncDirectory", "AsyncDirectoryBackend"]

_log = logging.getLogger("mssante_client.directory")


@runtime_checkable
class AsyncDirectoryBackend(Protocol):
    """A backend with native asyncio I/O (e.g. :class:`~.fhir.AsyncFhirBackend`).

    The same contract as :class:`~.backend.DirectoryBackend`, with coroutines:
    ``await search_page(query, page_size=..., state=...)`` returns at most ``page_size``
    entries; ``await aclose()`` releases its connections.
    """

    name: str

    async def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage: ...

    async def aclose(self) -> None: ...


def is_async_backend(backend: object) -> TypeGuard[AsyncDirectoryBackend]:
    """True when ``backend.search_page`` is a coroutine function (awaited, not offloaded)."""
    return inspect.iscoroutinefunction(getattr(backend, "search_page", None))


def _query_of(query: DirectoryQuery | None, criteria: dict[str, Any]) -> DirectoryQuery:
    """The query: given, built from keywords, or given and refined by keywords (as Directory)."""
    if query is None:
        return DirectoryQuery(**criteria)
    if criteria:
        return DirectoryQuery(**{**query.model_dump(exclude_unset=True), **criteria})
    return query


class AsyncDirectory:
    """Search a directory backend from asyncio code.

    Example (not run)::

        async with AsyncDirectory(AsyncFhirBackend(api_key)) as directory:
            page = await directory.search(family_name="dupont", city="paris")
            async for entry in directory.iter_search(family_name="dupont", limit=200):
                ...
    """

    def __init__(self, backend: DirectoryBackend | AsyncDirectoryBackend) -> None:
        self.backend = backend
        self._worker = SerialOffloader()

    @property
    def native(self) -> bool:
        """True when the backend is awaited directly (no worker thread)."""
        return is_async_backend(self.backend)

    def __repr__(self) -> str:
        return f"AsyncDirectory({self.backend!r})"

    # --- context management ----------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the backend (``aclose()`` of an async backend, else ``close()`` in a thread)."""
        aclose = getattr(self.backend, "aclose", None)
        if inspect.iscoroutinefunction(aclose):
            await aclose()
            return
        close = getattr(self.backend, "close", None)
        if callable(close):
            await self._worker.run(close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- search ----------------------------------------------------------------------------

    async def _page(
        self, query: DirectoryQuery, page_size: int, state: BackendState | None
    ) -> BackendPage:
        backend = self.backend
        if is_async_backend(backend):
            return await backend.search_page(query, page_size=page_size, state=state)
        blocking = cast(DirectoryBackend, backend)  # TypeGuard does not narrow the else branch
        return await self._worker.run(blocking.search_page, query, page_size=page_size, state=state)

    async def search(self, query: DirectoryQuery | None = None, /, **criteria: Any) -> SearchPage:
        """One page of results; pass ``cursor=page.next_cursor`` to get the next one."""
        q = _query_of(query, criteria)
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
        page = await self._page(q, page_size, cursor.state if q.cursor is not None else None)
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

    async def iter_pages(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> AsyncGenerator[SearchPage, None]:
        """Every page, up to the query's limit (``async for page in ...``)."""
        q = _query_of(query, criteria)
        while True:
            page = await self.search(q)
            yield page
            if page.next_cursor is None:
                return
            q = q.model_copy(update={"cursor": page.next_cursor})

    async def iter_search(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> AsyncGenerator[DirectoryEntry, None]:
        """Every result of every page, up to the query's limit (``async for entry in ...``)."""
        async with contextlib.aclosing(self.iter_pages(query, **criteria)) as pages:
            async for page in pages:
                for entry in page.results:
                    yield entry
