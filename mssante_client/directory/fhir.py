"""The Annuaire Santé FHIR API as a directory backend (httpx), sync and async.

Why: the FHIR API is the current national directory (rules §5.1) and the only source of APP
mailboxes (absent from the public extraction, rules §4). It needs an API key (``ESANTE-API-KEY``
header, never logged), allows 17 requests/s per application, pages by 50 through ``next`` links,
and answers errors as OperationOutcome.

This module is the edge: HTTP, TLS, rate limit, retries, error translation. What to ask and how
to read the answers is pure and lives in :mod:`.fhir_mapping`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    HTTPStatusError,
    ProtocolError,
    QueryError,
    RateLimitedError,
)
from ._http import Verify, host_of, require_secure_url, tls_context, translate
from .backend import BackendPage, BackendState
from .fhir_mapping import (
    FhirSearch,
    entries_from_bundle,
    next_link,
    operation_outcome_text,
    plan_searches,
)
from .query import DirectoryQuery
from .ratelimit import DEFAULT_RATE, TokenBucket

__all__ = [
    "DEFAULT_FHIR_BASE_URL",
    "AsyncFhirBackend",
    "FhirBackend",
    "FhirSettings",
    "RetryPolicy",
    "parse_retry_after",
]

log = logging.getLogger("mssante_client.directory")

DEFAULT_FHIR_BASE_URL: Final = "https://gateway.api.esante.gouv.fr/fhir/v2"
API_KEY_HEADER: Final = "ESANTE-API-KEY"
#: The gateway's own timeout is 30 s (rules §5.1).
DEFAULT_TIMEOUT: Final = 30.0
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: A page whose entries are all filtered out client side is skipped; at most this many in a row
#: per call, so one call stays bounded (the caller gets an empty page and a cursor to go on).
MAX_SKIPPED_PAGES: Final = 20
_WHAT: Final = "Annuaire Santé FHIR API"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of idempotent searches on 429, 5xx and network failures.

    Exponential backoff ``backoff * 2**attempt`` capped at ``max_backoff``; a 429's
    ``Retry-After`` is honoured up to ``max_retry_after`` (beyond, we give up rather than hang).
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self, attempt: int, status: int | None, retry_after: str | None = None
    ) -> float | None:
        """Seconds to wait before retrying after failed ``attempt`` (0-based), or None: stop."""
        if attempt >= self.max_retries:
            return None
        if status is not None and status not in RETRYABLE_STATUSES:
            return None
        backoff: float = min(self.max_backoff, self.backoff * 2.0**attempt)
        if status == 429:
            asked = parse_retry_after(retry_after)
            if asked is not None:
                if asked > self.max_retry_after:
                    return None
                return asked
        return backoff


def _bundle_of(response: httpx.Response) -> Mapping[str, Any]:
    """The Bundle of a final (non-retried) response, or the SDK error it stands for."""
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError as exc:
            raise ProtocolError(f"{_WHAT} answered something that is not JSON") from exc
        if not isinstance(body, Mapping) or body.get("resourceType") != "Bundle":
            raise ProtocolError(f"{_WHAT} answered something that is not a Bundle")
        return body
    try:
        outcome = operation_outcome_text(response.json())
    except ValueError:
        outcome = ""
    detail = f": {outcome}" if outcome else ""
    if status in (401, 403):
        raise AuthenticationError(f"{_WHAT} refused the API key (HTTP {status}){detail}")
    if status == 429:
        raise RateLimitedError(f"{_WHAT} kept answering 429 Too Many Requests{detail}", status)
    raise HTTPStatusError(f"{_WHAT} answered HTTP {status}{detail}", status)


@dataclass(frozen=True)
class _Position:
    """Where a search stands: which planned search (leg) and which page of it."""

    leg: int
    next_url: str | None

    @classmethod
    def from_state(cls, state: BackendState | None) -> _Position:
        if state is None:
            return cls(0, None)
        leg, url = state.get("leg"), state.get("next")
        if not isinstance(leg, int) or leg < 0 or not (url is None or isinstance(url, str)):
            raise QueryError("cursor", "not a cursor of the FHIR backend")
        return cls(leg, url)

    def state(self) -> BackendState:
        return {"leg": self.leg, "next": self.next_url}


def _advance(
    position: _Position, searches: Sequence[FhirSearch], bundle: Mapping[str, Any]
) -> _Position | None:
    """The position after ``bundle``: its next page, else the next leg, else the end."""
    url = next_link(bundle)
    if url is not None:
        return _Position(position.leg, url)
    if position.leg + 1 < len(searches):
        return _Position(position.leg + 1, None)
    return None


class FhirSettings(TypedDict, total=False):
    """Settings shared by :class:`FhirBackend` and :class:`AsyncFhirBackend` (all optional).

    ``base_url`` (default the ANS gateway), ``api_key_header`` (``ESANTE-API-KEY``), ``verify``
    (``"system"``, ``"igc-sante"``, a CA file or an :class:`ssl.SSLContext`; never off),
    ``timeout`` (30 s), ``rate`` (17 requests/s) or a shared ``bucket``, ``retry``.
    """

    base_url: str
    api_key_header: str
    verify: Verify
    timeout: float
    rate: float
    bucket: TokenBucket | None
    retry: RetryPolicy | None


class _FhirBase:
    """What the sync and async backends share: settings, URLs, the rate limiter."""

    name = "fhir"

    def __init__(self, api_key: str | None, **settings: Unpack[FhirSettings]) -> None:
        base_url = settings.get("base_url", DEFAULT_FHIR_BASE_URL)
        require_secure_url(base_url, _WHAT)
        if api_key is not None and not api_key.strip():
            raise ConfigurationError("the Annuaire Santé API key is empty")
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self._headers = {"Accept": "application/fhir+json"}
        if api_key is not None:
            self._headers[settings.get("api_key_header", API_KEY_HEADER)] = api_key
        self._context = tls_context(settings.get("verify", "system"))
        self._timeout = settings.get("timeout", DEFAULT_TIMEOUT)
        bucket = settings.get("bucket")
        self.bucket = (
            bucket if bucket is not None else TokenBucket(settings.get("rate", DEFAULT_RATE))
        )
        self.retry = settings.get("retry") or RetryPolicy()

    def __repr__(self) -> str:  # never shows the API key
        return f"{type(self).__name__}({self.base_url!r})"

    def _request_url(self, position: _Position, searches: Sequence[FhirSearch]) -> httpx.URL:
        if position.next_url is not None:
            # A next link must stay on the directory server: the API key goes with it.
            if urlsplit(position.next_url)[:2] != self._origin:
                raise ProtocolError(f"{_WHAT} paging link leaves {host_of(self.base_url)}")
            return httpx.URL(position.next_url)
        search = searches[position.leg]
        return httpx.URL(f"{self.base_url}/{search.resource}", params=list(search.params))

    def _searches(
        self, query: DirectoryQuery, page_size: int, position: _Position
    ) -> list[FhirSearch]:
        searches = plan_searches(query, page_size)
        if position.leg >= max(1, len(searches)):
            raise QueryError("cursor", "not a cursor of the FHIR backend")
        return searches

    def _decide(
        self,
        attempt: int,
        url: httpx.URL,
        response: httpx.Response | None,
        error: httpx.HTTPError | None,
    ) -> Mapping[str, Any] | float:
        """After one attempt: the Bundle, or the seconds to wait before retrying; else raises.

        Shared by the sync and async clients, which only differ in how they send and wait.
        """
        if response is None:
            assert error is not None
            delay = self.retry.delay(attempt, None)
            if delay is None:
                raise translate(error, _WHAT, url) from error
            log.info("%s unreachable, retry %d in %.1fs", _WHAT, attempt + 1, delay)
            return delay
        if response.status_code in RETRYABLE_STATUSES:
            status = response.status_code
            delay = self.retry.delay(attempt, status, response.headers.get("retry-after"))
            if delay is not None:
                log.info("%s answered %d, retry %d in %.1fs", _WHAT, status, attempt + 1, delay)
                return float(delay)
        return _bundle_of(response)

    def _steps(
        self, query: DirectoryQuery, page_size: int, state: BackendState | None
    ) -> Generator[httpx.URL, Mapping[str, Any], BackendPage]:
        """One backend page, sans I/O: yields the URL to fetch, receives its Bundle.

        Pages whose entries are all filtered out client side are skipped (at most
        :data:`MAX_SKIPPED_PAGES` in a row, then an empty page with a cursor is returned).
        """
        position = _Position.from_state(state)
        searches = self._searches(query, page_size, position)
        if not searches:
            return BackendPage(results=(), next_state=None)
        for _ in range(MAX_SKIPPED_PAGES):
            bundle = yield self._request_url(position, searches)
            results = entries_from_bundle(bundle, query)[:page_size]
            following = _advance(position, searches, bundle)
            if results or following is None:
                return BackendPage(
                    results=results,
                    next_state=following.state() if following is not None else None,
                )
            position = following
        return BackendPage(results=(), next_state=position.state())


class FhirBackend(_FhirBase):
    """A :class:`~.backend.DirectoryBackend` over the Annuaire Santé FHIR API.

    ``verify``: ``"system"`` (default), ``"igc-sante"``, a CA file or an
    :class:`ssl.SSLContext`; verification cannot be turned off. ``rate`` requests per second are
    never exceeded (one bucket per backend, shared by its threads; pass ``bucket`` to share it
    between backends). ``transport`` and ``sleep`` are for tests and custom stacks.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Unpack[FhirSettings],
    ) -> None:
        super().__init__(api_key, **settings)
        self._sleep = sleep
        self._client = httpx.Client(
            headers=self._headers, verify=self._context, timeout=self._timeout, transport=transport
        )

    def _get(self, url: httpx.URL) -> Mapping[str, Any]:
        attempt = 0
        while True:
            self.bucket.acquire(self._sleep)
            try:
                decision = self._decide(attempt, url, self._client.get(url), None)
            except httpx.HTTPError as exc:
                decision = self._decide(attempt, url, None, exc)
            if not isinstance(decision, float):
                return decision
            self._sleep(decision)
            attempt += 1

    def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        steps = self._steps(query, page_size, state)
        try:
            url = next(steps)
            while True:
                url = steps.send(self._get(url))
        except StopIteration as done:
            page: BackendPage = done.value
            return page

    def close(self) -> None:
        self._client.close()


class AsyncFhirBackend(_FhirBase):
    """The asyncio twin of :class:`FhirBackend` (httpx.AsyncClient): same queries, mapping,
    rate limit, retries and errors; ``await backend.search_page(...)``."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: Unpack[FhirSettings],
    ) -> None:
        super().__init__(api_key, **settings)
        self._client = httpx.AsyncClient(
            headers=self._headers, verify=self._context, timeout=self._timeout, transport=transport
        )

    async def _get(self, url: httpx.URL) -> Mapping[str, Any]:
        attempt = 0
        while True:
            await self.bucket.acquire_async()
            try:
                decision = self._decide(attempt, url, await self._client.get(url), None)
            except httpx.HTTPError as exc:
                decision = self._decide(attempt, url, None, exc)
            if not isinstance(decision, float):
                return decision
            await asyncio.sleep(decision)
            attempt += 1

    async def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        steps = self._steps(query, page_size, state)
        try:
            url = next(steps)
            while True:
                url = steps.send(await self._get(url))
        except StopIteration as done:
            page: BackendPage = done.value
            return page

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncFhirBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
