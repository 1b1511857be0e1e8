"""The Directory facade: cursors, limits and iteration, over an in-memory backend."""

from __future__ import annotations

import pytest

from mssante_client.directory import (
    BackendPage,
    Directory,
    DirectoryBackend,
    DirectoryMailbox,
    DirectoryQuery,
    Professional,
)
from mssante_client.directory.backend import (
    BackendState,
    Cursor,
    encode_cursor,
    slice_page,
)
from mssante_client.errors import QueryError


def _entry(i: int) -> Professional:
    return Professional(
        family_name=f"NOM{i:03d}",
        given_name="Anne" if i % 2 else "Luc",
        mailboxes=[DirectoryMailbox(address=f"p{i}@medecin.mssante.fr", type="PER")],
    )


class MemoryBackend:
    """The simplest conforming backend: filter a list with the reference semantics."""

    name = "memory"

    def __init__(self, n: int) -> None:
        self.entries = [_entry(i) for i in range(n)]
        self.closed = False

    def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        return slice_page(query.filter(self.entries), page_size=page_size, state=state)

    def close(self) -> None:
        self.closed = True


def test_backend_is_a_directory_backend() -> None:
    assert isinstance(MemoryBackend(1), DirectoryBackend)


def test_pages_follow_the_cursor_until_exhausted() -> None:
    directory = Directory(MemoryBackend(25))
    first = directory.search(page_size=10)
    assert len(first.results) == 10 and first.total == 25
    assert first.next_cursor is not None
    second = directory.search(page_size=10, cursor=first.next_cursor)
    assert second.results[0].display_name.endswith("NOM010")
    names = [e.family_name for e in directory.iter_search(DirectoryQuery(page_size=7))]
    assert names == [f"NOM{i:03d}" for i in range(25)]
    assert len(list(directory.iter_pages(page_size=7))) == 4


def test_limit_caps_results_across_pages() -> None:
    directory = Directory(MemoryBackend(25))
    got = list(directory.iter_search(given_name="anne", limit=8, page_size=3))
    assert len(got) == 8
    assert all(e.given_name == "Anne" for e in got if isinstance(e, Professional))
    page = directory.search(limit=4, page_size=10)
    assert len(page.results) == 4 and page.next_cursor is None


def test_cursor_is_bound_to_its_query_and_backend() -> None:
    directory = Directory(MemoryBackend(25))
    cursor = directory.search(given_name="anne", page_size=2).next_cursor
    assert cursor is not None
    with pytest.raises(QueryError, match="different query"):
        directory.search(given_name="luc", cursor=cursor)
    foreign = encode_cursor(Cursor("ldap", DirectoryQuery().fingerprint(), 0, {}))
    with pytest.raises(QueryError, match="ldap"):
        directory.search(cursor=foreign)
    with pytest.raises(QueryError, match="cursor"):
        directory.search(cursor="not-a-cursor!")


def test_context_manager_closes_backend() -> None:
    backend = MemoryBackend(1)
    with Directory(backend) as directory:
        assert directory.search(family_name="nom000").results
    assert backend.closed
