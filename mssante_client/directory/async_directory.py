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
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any, Protocol, Self, TypeGuard, cast, runtime_checkable

from .._offload import SerialOffloader
from .backend import (
    BackendPage,
    BackendState,
    DirectoryBackend,
)
from .directory import finish_page, plan_page, query_of
from .models import DirectoryEntry, SearchPage
from .query import DirectoryQuery

__all__ = ["AsyncDirectory", "AsyncDirectoryBackend"]


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
        name = self.backend.name
        plan = plan_page(query_of(query, criteria), name)
        if plan is None:
            return SearchPage(results=(), next_cursor=None)
        page = await self._page(plan.query, plan.page_size, plan.state)
        return finish_page(plan, page, name)

    async def iter_pages(
        self, query: DirectoryQuery | None = None, /, **criteria: Any
    ) -> AsyncGenerator[SearchPage, None]:
        """Every page, up to the query's limit (``async for page in ...``)."""
        q = query_of(query, criteria)
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
