"""AsyncDirectory: over the sandbox's real slapd (offloaded to a thread) and over the local FHIR
server with AsyncFhirBackend (awaited natively). Coroutines are driven with ``asyncio.run``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from directory_support import Oracle, mails
from fhir_server import API_KEY, FhirTestServer, load_examples, practitioners

from mssante_client import AsyncDirectory
from mssante_client._offload import SerialOffloader
from mssante_client.directory import Directory, DirectoryQuery, SearchPage
from mssante_client.directory.fhir import AsyncFhirBackend, FhirBackend
from mssante_client.directory.ldap import LDAPDirectory
from mssante_client.errors import QueryError
from mssante_client.sandbox import SandboxInfo


def _ldap(sandbox: SandboxInfo, bal_base: str) -> LDAPDirectory:
    return LDAPDirectory(sandbox.ldap_uri, base_dn=bal_base, ca_file=sandbox.ca_file)


def _same(page: SearchPage, other: SearchPage) -> bool:
    """Equal pages; LDAP cursors carry a random token of the live search, so only their presence
    is compared."""
    return (page.results, page.total, page.truncated, page.next_cursor is None) == (
        other.results,
        other.total,
        other.truncated,
        other.next_cursor is None,
    )


# --- over LDAP (sync backend, offloaded) ---------------------------------------------------------


@pytest.mark.sandbox
def test_search_by_name_and_city_equals_the_sync_directory(
    sandbox: SandboxInfo, bal_base: str, oracle: Oracle
) -> None:
    criteria = {"family_name": "dup", "city": "paris", "page_size": 20}
    with Directory(_ldap(sandbox, bal_base)) as directory:
        sync_first = directory.search(**criteria)
        assert sync_first.next_cursor is not None, "pick criteria with more than one page"
        sync_second = directory.search(**criteria, cursor=sync_first.next_cursor)
        sync_all = mails(directory.iter_search(**criteria))

    async def run() -> tuple[SearchPage, SearchPage, SearchPage, list[str], bool]:
        async with AsyncDirectory(_ldap(sandbox, bal_base)) as directory:
            first = await directory.search(**criteria)
            second = await directory.search(**criteria, cursor=first.next_cursor)
            # a cursor of the sync facade resumes here: same cursor format, same backend name
            resumed = await directory.search(**criteria, cursor=sync_first.next_cursor)
            every = [e async for e in directory.iter_search(**criteria)]
            return first, second, resumed, mails(every), directory.native

    first, second, resumed, every, native = asyncio.run(run())
    assert native is False
    assert _same(first, sync_first)
    assert _same(second, sync_second)
    assert _same(resumed, sync_second)
    assert every == sync_all
    assert set(every) == oracle.expected(family_name="dup", city="paris")


@pytest.mark.sandbox
def test_iter_search_pages_past_the_server_size_limit(
    sandbox: SandboxInfo, bal_base: str, oracle: Oracle
) -> None:
    expected = oracle.expected(mailbox_type="PER")
    assert len(expected) > 5 * 500  # slapd: sizelimit 500 per search

    async def run() -> tuple[list[str], list[int], list[str]]:
        async with AsyncDirectory(_ldap(sandbox, bal_base)) as directory:
            every = [e async for e in directory.iter_search(mailbox_type="PER", page_size=1000)]
            sizes = [
                len(p.results)
                async for p in directory.iter_pages(mailbox_type="PER", page_size=300, limit=1300)
            ]
            limited = [
                e async for e in directory.iter_search(mailbox_type="PER", page_size=300, limit=700)
            ]
            return mails(every), sizes, mails(limited)

    every, sizes, limited = asyncio.run(run())
    assert len(every) == len(set(every)) == len(expected)
    assert set(every) == expected
    assert sizes == [300, 300, 300, 300, 100]  # the limit cuts the last page
    assert len(limited) == len(set(limited)) == 700
    assert limited == every[:700]  # same server order, cursors chained across pages


@pytest.mark.sandbox
def test_concurrent_searches_on_one_ldap_backend_are_serialised(
    sandbox: SandboxInfo, bal_base: str, oracle: Oracle
) -> None:
    cities = ["paris", "lyon", "marseille", "saint etienne"]

    async def run() -> list[list[str]]:
        async with AsyncDirectory(_ldap(sandbox, bal_base)) as directory:

            async def collect(city: str) -> list[str]:
                return mails([e async for e in directory.iter_search(city=city, page_size=100)])

            return await asyncio.gather(*(collect(c) for c in cities))

    for city, got in zip(cities, asyncio.run(run()), strict=True):
        assert len(got) == len(set(got))
        assert set(got) == oracle.expected(city=city)


@pytest.mark.sandbox
def test_errors_are_the_same(sandbox: SandboxInfo, bal_base: str) -> None:
    async def run() -> None:
        async with AsyncDirectory(_ldap(sandbox, bal_base)) as directory:
            with pytest.raises(QueryError):
                await directory.search(rpps="12345")  # wrong check digit: before any I/O
            page = await directory.search(family_name="dup", page_size=5)
            with pytest.raises(QueryError):  # a cursor belongs to its query
                await directory.search(family_name="martin", cursor=page.next_cursor)

    asyncio.run(run())


# --- over FHIR (native async backend) ------------------------------------------------------------


@pytest.fixture
def fhir_server() -> Iterator[FhirTestServer]:
    with FhirTestServer([*load_examples(), *practitioners(120)]) as running:
        yield running


def _addresses(entries: Any) -> list[str]:
    return [str(m.address) for e in entries for m in e.mailboxes]


def test_async_fhir_backend_is_awaited_natively(
    fhir_server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Directory(FhirBackend(API_KEY, base_url=fhir_server.base_url, rate=1000)) as directory:
        sync_found = _addresses(directory.iter_search(family_name="pagine", page_size=50))
        sync_first = directory.search(family_name="pagine", page_size=50)

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a native async backend must not be offloaded to a thread")

    # the worker-thread path is disabled: only a native await can answer
    monkeypatch.setattr(SerialOffloader, "run", no_thread)
    fhir_server.requests.clear()

    async def run() -> tuple[list[str], SearchPage, bool]:
        backend = AsyncFhirBackend(API_KEY, base_url=fhir_server.base_url, rate=1000)
        async with AsyncDirectory(backend) as directory:
            found = [e async for e in directory.iter_search(family_name="pagine", page_size=50)]
            resumed = await directory.search(
                family_name="pagine", page_size=50, cursor=sync_first.next_cursor
            )
            return _addresses(found), resumed, directory.native

    found, resumed, native = asyncio.run(run())
    assert native is True
    assert len(found) == len(set(found)) == 120
    assert found == sync_found
    assert _addresses(resumed.results) == sync_found[50:100]  # a sync cursor resumes natively
    assert len([r for r in fhir_server.requests if r.resource == "Practitioner"]) == 3 + 1


def test_native_searches_run_concurrently_and_the_client_is_closed(
    fhir_server: FhirTestServer,
) -> None:
    async def run() -> tuple[list[list[str]], bool]:
        backend = AsyncFhirBackend(API_KEY, base_url=fhir_server.base_url, rate=1000)
        async with AsyncDirectory(backend) as directory:
            pages = await asyncio.gather(
                directory.search(family_name="pagine", page_size=10),
                directory.search(DirectoryQuery(family_name="pagine", page_size=10, limit=5)),
            )
        return [_addresses(p.results) for p in pages], backend._client.is_closed

    (ten, five), closed = asyncio.run(run())
    assert len(ten) == 10 and five == ten[:5]
    assert closed  # aclose() of the AsyncDirectory closed the AsyncClient


def test_sync_fhir_backend_is_offloaded(fhir_server: FhirTestServer) -> None:
    async def run() -> tuple[list[str], bool]:
        backend = FhirBackend(API_KEY, base_url=fhir_server.base_url, rate=1000)
        async with AsyncDirectory(backend) as directory:
            found = [e async for e in directory.iter_search(family_name="pagine")]
            return _addresses(found), directory.native

    found, native = asyncio.run(run())
    assert native is False
    assert len(found) == len(set(found)) == 120
