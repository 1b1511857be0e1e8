"""The FHIR backend against a local HTTP(S) server shaped like the Annuaire Santé API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir_server import API_KEY, Fault, FhirTestServer, load_examples, outcome, practitioners

from mssante_client.directory.directory import Directory
from mssante_client.directory.fhir import AsyncFhirBackend, FhirBackend, RetryPolicy
from mssante_client.directory.models import Organisation, Professional
from mssante_client.directory.query import DirectoryQuery
from mssante_client.directory.ratelimit import TokenBucket
from mssante_client.errors import (
    AuthenticationError,
    CertificateVerificationError,
    ConfigurationError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    QueryError,
    RateLimitedError,
    TimeoutError,
)
from mssante_client.identity import MailboxType


class Sleeps:
    """Records the waits the backend asks for instead of waiting (no timing in tests)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer([*load_examples(), *practitioners(120)]) as running:
        yield running


def _backend(server: FhirTestServer, sleeps: Sleeps | None = None, **kwargs: object) -> FhirBackend:
    return FhirBackend(
        API_KEY,
        base_url=server.base_url,
        sleep=sleeps or Sleeps(),
        rate=1000,
        **kwargs,  # type: ignore[arg-type]
    )


def _addresses(entries: object) -> list[str]:
    return [str(m.address) for e in entries for m in e.mailboxes]  # type: ignore[attr-defined]


def test_paging_through_next_links(server: FhirTestServer) -> None:
    with Directory(_backend(server)) as directory:
        found = list(directory.iter_search(DirectoryQuery(family_name="pagine", page_size=50)))
    assert len(found) == 120
    assert len(set(_addresses(found))) == 120
    practitioner_requests = [r for r in server.requests if r.resource == "Practitioner"]
    assert len(practitioner_requests) == 3  # 50 + 50 + 20 through two next links
    assert [r.values("_page") for r in practitioner_requests] == [[], ["1"], ["2"]]
    # every request carried the API key and asked only for resources with a mailbox
    assert all(r.headers["esante-api-key"] == API_KEY for r in server.requests)
    assert all(r.values("mailbox-mss:contains") == ["@"] for r in server.requests)
    # the role leg follows the practitioner leg
    assert server.requests[-1].resource == "PractitionerRole"


def test_criteria_are_sent_as_fhir_search_parameters(server: FhirTestServer) -> None:
    backend = _backend(server)
    page = backend.search_page(
        DirectoryQuery(family_name="Saucier", profession="10"), page_size=10, state=None
    )
    first = server.requests[0]
    assert first.resource == "Practitioner"
    assert first.values("family") == ["saucier"]
    assert first.values("qualification-code") == [
        "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante|10"
    ]
    assert first.values("_count") == ["10"]
    [entry] = page.results
    assert isinstance(entry, Professional)
    assert entry.family_name == "Saucier"
    assert entry.organisation_name == "CABINET SAINT ANTOINE"  # from the revincluded role
    assert page.next_state == {"leg": 1, "next": None}
    page = backend.search_page(
        DirectoryQuery(family_name="Saucier", profession="10"), page_size=10, state=page.next_state
    )
    role_request = server.requests[-1]
    assert role_request.resource == "PractitionerRole"
    assert role_request.values("practitioner.family") == ["saucier"]
    [entry] = page.results
    assert str(entry.mailboxes[0].address) == "arthur.saucier@cabinet-saint-antoine.mssante.fr"
    assert page.next_state is None


def test_separators_and_accents_follow_the_reference_semantics() -> None:
    resources = [*load_examples(), *practitioners(3, family="SAINT-MARTIN")]
    resources += practitioners(2, family="SAINTE")
    with FhirTestServer(resources) as server, Directory(_backend(server)) as directory:
        found = list(directory.iter_search(DirectoryQuery(family_name="saint m")))
        accented = list(directory.iter_search(DirectoryQuery(given_name="prénom1")))
    assert sorted(_addresses(found)) == [f"p{i}@saint-martin.mssante.fr" for i in range(3)]
    assert server.requests[0].values("family") == ["saint"]
    assert "p1@saint-martin.mssante.fr" in _addresses(accented)


def test_identifier_search_maps_rpps_to_id_nat_ps(server: FhirTestServer) -> None:
    target = practitioners(120)[7]
    id_nat_ps = target["identifier"][0]["value"]
    with Directory(_backend(server)) as directory:
        [entry] = list(directory.iter_search(DirectoryQuery(rpps=id_nat_ps[1:])))
    assert isinstance(entry, Professional)
    assert str(entry.id_nat_ps) == id_nat_ps and str(entry.rpps) == id_nat_ps[1:]
    assert server.requests[0].values("identifier") == [f"urn:oid:1.2.250.1.71.4.2.1|{id_nat_ps}"]


def test_organisations_type_filter_and_liste_rouge(server: FhirTestServer) -> None:
    with Directory(_backend(server)) as directory:
        app = list(directory.iter_search(DirectoryQuery(mailbox_type="APP")))
        org = list(directory.iter_search(DirectoryQuery(mailbox_type="ORG", city="bourges")))
        dupontel = list(directory.iter_search(DirectoryQuery(family_name="dupontel")))
    assert _addresses(app) == ["dpi@hopital-fictif.mssante.fr"]
    assert isinstance(app[0], Organisation) and app[0].mailboxes[0].type is MailboxType.APP
    # the liste rouge ORG mailbox of the same structure is never returned
    assert _addresses(org) == ["urgences@hopital-fictif.mssante.fr"]
    assert [r.values("address-city") for r in server.requests if r.resource == "Organization"][
        -1
    ] == ["bourges"]
    assert dupontel == []


def test_429_then_success_honours_retry_after(server: FhirTestServer) -> None:
    server.add_fault("Organization", Fault(429, {"Retry-After": "2"}))
    sleeps = Sleeps()
    page = _backend(server, sleeps).search_page(
        DirectoryQuery(mailbox_type="ORG"), page_size=50, state=None
    )
    assert _addresses(page.results)
    assert 2.0 in sleeps.calls
    assert len([r for r in server.requests if r.resource == "Organization"]) == 2


def test_500_then_success_backs_off(server: FhirTestServer) -> None:
    server.add_fault("Organization", Fault(500), Fault(502))
    sleeps = Sleeps()
    backend = _backend(server, sleeps, retry=RetryPolicy(max_retries=3, backoff=0.25))
    page = backend.search_page(DirectoryQuery(mailbox_type="ORG"), page_size=50, state=None)
    assert page.results
    assert [s for s in sleeps.calls if s > 0.01] == [0.25, 0.5]


def test_persistent_503_fails_after_bounded_retries(server: FhirTestServer) -> None:
    server.add_fault("Organization", *[Fault(503, body=outcome("maintenance"))] * 10)
    sleeps = Sleeps()
    backend = _backend(server, sleeps, retry=RetryPolicy(max_retries=2, backoff=1, max_backoff=1.5))
    with pytest.raises(HTTPStatusError, match="HTTP 503: maintenance") as caught:
        backend.search_page(DirectoryQuery(mailbox_type="ORG"), page_size=50, state=None)
    assert caught.value.status_code == 503
    assert len(server.requests) == 3
    assert [s for s in sleeps.calls if s > 0.01] == [1, 1.5]


def test_persistent_429_is_rate_limited_error(server: FhirTestServer) -> None:
    server.add_fault("*", *[Fault(429, {"Retry-After": "1"})] * 10)
    with pytest.raises(RateLimitedError) as caught:
        _backend(server, retry=RetryPolicy(max_retries=1)).search_page(
            DirectoryQuery(mailbox_type="ORG"), page_size=5, state=None
        )
    assert caught.value.status_code == 429


def test_retry_after_beyond_the_bound_is_not_waited(server: FhirTestServer) -> None:
    server.add_fault("*", Fault(429, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    with pytest.raises(RateLimitedError):
        _backend(server, sleeps).search_page(DirectoryQuery(), page_size=5, state=None)
    assert all(s < 60 for s in sleeps.calls)


def test_operation_outcome_400_is_in_the_message(server: FhirTestServer) -> None:
    server.add_fault("Organization", Fault(400, body=outcome("Invalid parameter: name")))
    with pytest.raises(HTTPStatusError, match="HTTP 400: Invalid parameter: name") as caught:
        _backend(server).search_page(DirectoryQuery(mailbox_type="ORG"), page_size=5, state=None)
    assert caught.value.status_code == 400
    assert len(server.requests) == 1  # a 400 is never retried


def test_wrong_api_key_is_an_authentication_error_without_the_key(
    server: FhirTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FhirBackend("wrong-secret-key", base_url=server.base_url, sleep=Sleeps())
    with pytest.raises(
        AuthenticationError, match=r"HTTP 401\): Invalid or missing API key"
    ) as caught:
        backend.search_page(DirectoryQuery(mailbox_type="ORG"), page_size=5, state=None)
    assert "wrong-secret-key" not in str(caught.value)
    assert "wrong-secret-key" not in repr(backend)
    assert "wrong-secret-key" not in caplog.text


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="http://"):
        FhirBackend(API_KEY, base_url="http://directory.example.org/fhir")
    with pytest.raises(ConfigurationError, match="empty"):
        FhirBackend("  ", base_url="https://directory.example.org/fhir")


def test_a_foreign_next_link_is_refused(server: FhirTestServer) -> None:
    backend = _backend(server)
    state = {"leg": 0, "next": "https://elsewhere.example.org/fhir/v2/Practitioner?_page=1"}
    with pytest.raises(ProtocolError, match=r"leaves 127\.0\.0\.1"):
        backend.search_page(DirectoryQuery(family_name="x"), page_size=5, state=state)
    with pytest.raises(QueryError):
        backend.search_page(DirectoryQuery(family_name="x"), page_size=5, state={"leg": "a"})


def test_a_silent_server_is_a_timeout(server: FhirTestServer) -> None:
    server.add_fault("*", Fault(200, delay=2.0))
    backend = _backend(server, timeout=0.3, retry=RetryPolicy(max_retries=0))
    with pytest.raises(TimeoutError, match="did not answer in time"):
        backend.search_page(DirectoryQuery(mailbox_type="ORG"), page_size=5, state=None)


def test_unreachable_server_is_connect_error() -> None:
    backend = FhirBackend(
        API_KEY, base_url="http://127.0.0.1:9/fhir", sleep=Sleeps(), retry=RetryPolicy(1)
    )
    with pytest.raises(ConnectError):
        backend.search_page(DirectoryQuery(mailbox_type="ORG"), page_size=5, state=None)


def test_https_verification_is_always_on(tmp_path: Path) -> None:
    from mssante_client.sandbox.pki import build_pki

    pki = build_pki(tmp_path / "pki", [])
    with FhirTestServer(tls=(pki.server_fullchain_file, pki.server_key_file)) as tls_server:
        assert tls_server.base_url.startswith("https://")
        trusted = FhirBackend(API_KEY, base_url=tls_server.base_url, verify=str(pki.ca_file))
        page = trusted.search_page(DirectoryQuery(mailbox_type="APP"), page_size=5, state=None)
        assert _addresses(page.results) == ["dpi@hopital-fictif.mssante.fr"]
        untrusted = FhirBackend(
            API_KEY, base_url=tls_server.base_url, retry=RetryPolicy(0), verify="igc-sante"
        )
        with pytest.raises(CertificateVerificationError):
            untrusted.search_page(DirectoryQuery(mailbox_type="APP"), page_size=5, state=None)


def test_rate_limiter_spaces_requests_through_the_backend(server: FhirTestServer) -> None:
    clock = [0.0]
    sleeps = Sleeps()
    bucket = TokenBucket(rate=17, burst=1, clock=lambda: clock[0])
    backend = _backend(server, sleeps, bucket=bucket)
    with Directory(backend) as directory:
        list(directory.iter_search(DirectoryQuery(family_name="pagine")))
    # the clock never moved: every request after the first had to wait 1/17 s more
    waits = [s for s in sleeps.calls if s > 0]
    assert len(waits) == len(server.requests) - 1
    assert waits == pytest.approx([(i + 1) / 17 for i in range(len(waits))])


def test_async_backend_pages_retries_and_maps_the_same(server: FhirTestServer) -> None:
    server.add_fault("Practitioner", Fault(429, {"Retry-After": "0"}))

    async def run() -> list[str]:
        async with AsyncFhirBackend(API_KEY, base_url=server.base_url, rate=1000) as backend:
            query = DirectoryQuery(family_name="pagine")
            state = None
            found: list[str] = []
            while True:
                page = await backend.search_page(query, page_size=50, state=state)
                found += _addresses(page.results)
                if page.next_state is None:
                    return found
                state = page.next_state

    found = asyncio.run(run())
    assert len(found) == len(set(found)) == 120
    assert len([r for r in server.requests if r.resource == "Practitioner"]) == 4  # 429 + 3 pages


def test_igc_sante_trust_is_the_pinned_root_alone() -> None:
    """ECO.1.1.10: with ``verify="igc-sante"`` no other CA (not the OS store) is trusted."""
    from mssante_client.directory._http import tls_context

    context = tls_context("igc-sante")
    cas = context.get_ca_certs()
    assert len(cas) == 1
    subject = dict(x[0] for x in cas[0]["subject"])
    assert subject["commonName"] == "AC RACINE IGC-SANTE ELEMENTAIRE"
    assert context.check_hostname
