"""The extraction backend on generated files: import, malformed lines, zip safety, search.

Files come from :mod:`mssante_client.directory.extraction_gen` (the exact 31-column format);
expected counts are the generator's own, never the importer's.
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mssante_client.directory.backend import BackendPage
from mssante_client.directory.directory import Directory
from mssante_client.directory.extraction import ExtractionBackend, build_index, open_extraction
from mssante_client.directory.extraction_format import COLUMNS, ExtractionRow
from mssante_client.directory.extraction_gen import write_extraction
from mssante_client.directory.models import Organisation, Professional
from mssante_client.directory.query import DirectoryQuery
from mssante_client.errors import (
    ArchiveError,
    ConfigurationError,
    ContentError,
    QueryError,
    UnsafeArchiveError,
)
from mssante_client.identity import IdNatPS, MailboxType, luhn_check_digit


def _rpps(body: str) -> str:
    return body + str(luhn_check_digit(body))


RPPS_A = _rpps("1999999999")
FINESS_A = "99000001" + str(luhn_check_digit("99000001"))


def _row(**overrides: str) -> ExtractionRow:
    values = dict.fromkeys((f.name for f in ExtractionRow.__dataclass_fields__.values()), "")
    values.update(country="FRANCE")
    values.update(overrides)
    return ExtractionRow(**values)


#: Hand-written rows with known content (names with accents, two activities, a duplicate line).
KNOWN = (
    _row(
        mailbox_type="PER",
        address="eloise.lefevre@medecin.mssante.fr",
        pp_identifier_type="8",
        pp_identifier=RPPS_A,
        id_nat_ps="8" + RPPS_A,
        structure_identifier_type="1",
        structure_identifier="1" + FINESS_A,
        civility="DR",
        family_name="LEFÈVRE-D'ARC",
        given_name="Éloïse-Marie",
        profession_category_code="C",
        profession_code="10",
        profession_label="Médecin",
        specialty_code="SM04",
        specialty_label="Cardiologie et maladies vasculaires (SM)",
        dematerialisation="O",
        organisation_name="CABINET DU CŒUR",
        address_l4_number="3",
        address_l4_street_type="R",
        address_l4_street="DE LA LIBERTÉ",
        address_l6_routing="42000 SAINT-ÉTIENNE CEDEX 1",
        postal_code="42000",
        department="42",
    ),
    _row(
        mailbox_type="PER",
        address="eloise.lefevre@medecin.mssante.fr",
        pp_identifier_type="8",
        pp_identifier=RPPS_A,
        id_nat_ps="8" + RPPS_A,
        family_name="LEFÈVRE-D'ARC",
        given_name="Éloïse-Marie",
        profession_code="10",
        specialty_code="SM04",
        organisation_name="CLINIQUE DES ALPES",
        address_l6_routing="38000 GRENOBLE",
        postal_code="38000",
        department="38",
    ),
    _row(
        mailbox_type="ORG",
        address="secretariat.cardio@chu-fictif.mssante.fr",
        structure_identifier_type="1",
        structure_identifier="1" + FINESS_A,
        service="SECRÉTARIAT CARDIOLOGIE",
        organisation_name="CENTRE HOSPITALIER UNIVERSITAIRE FICTIF",
        trade_name="HÔPITAL NORD",
        address_l6_routing="20200 BASTIA",
        postal_code="20200",
        department="2B",
    ),
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("extraction")
    info = write_extraction(
        folder / "Extraction_Correspondance_MSSante.txt",
        3000,
        seed=11,
        malformed_every=250,
        extra_rows=[*KNOWN, KNOWN[2]],  # the ORG line twice: an exact duplicate
    )
    return folder, info


@pytest.fixture(scope="module")
def backend(generated: tuple[Path, Any]) -> ExtractionBackend:
    folder, info = generated
    backend = ExtractionBackend(folder / "index.sqlite")
    backend.refresh(info.path)
    return backend


def _all(backend: ExtractionBackend, **criteria: object) -> list[Professional | Organisation]:
    with Directory(backend) as directory:
        return list(directory.iter_search(DirectoryQuery(**criteria, page_size=200)))


# --- import --------------------------------------------------------------------------------


def test_import_counts_rows_mailboxes_and_malformed_lines(tmp_path: Path) -> None:
    info = write_extraction(tmp_path / "x.txt", 2000, seed=5, malformed_every=100)
    seen: list[tuple[int, int, int | None]] = []
    report = build_index(
        info.path, tmp_path / "idx.sqlite", progress=lambda *a: seen.append(a), max_reported=5
    )
    assert report.rows_read == info.rows == 2000
    assert report.malformed == len(info.malformed_lines) == 20
    assert report.rows_imported == 2000 - 20
    assert [m.line for m in report.malformed_lines] == list(info.malformed_lines[:5])
    reasons = {m.reason for m in report.malformed_lines}
    assert reasons == {"3 columns, expected 31", "unknown mailbox type (column 'Type de BAL')",
                       "invalid UTF-8"}  # fmt: skip
    assert report.mailboxes == info.distinct_addresses
    # generator's duplicate lines and second activities are merged, never lost
    assert report.activities + report.duplicate_rows == report.rows_imported
    assert seen and seen[-1][0] == 2000 and seen[-1][2] == info.path.stat().st_size


def test_zipped_import_gives_the_same_index(tmp_path: Path) -> None:
    plain = write_extraction(tmp_path / "p.txt", 800, seed=2, malformed_every=97)
    zipped = write_extraction(tmp_path / "z.zip", 800, seed=2, malformed_every=97, zipped=True)
    a = build_index(plain.path, tmp_path / "a.sqlite")
    b = build_index(zipped.path, tmp_path / "b.sqlite")
    assert b.source == zipped.entry_name
    assert (a.rows_read, a.mailboxes, a.activities, a.malformed) == (
        b.rows_read,
        b.mailboxes,
        b.activities,
        b.malformed,
    )
    query = DirectoryQuery(family_name="mar")
    pa = ExtractionBackend(tmp_path / "a.sqlite").search_page(query, page_size=50, state=None)
    pb = ExtractionBackend(tmp_path / "b.sqlite").search_page(query, page_size=50, state=None)
    assert pa.results == pb.results and pa.total == pb.total and pa.total


def test_trailing_separator_lines_are_read(tmp_path: Path) -> None:
    info = write_extraction(tmp_path / "t.txt", 300, seed=4, trailing_separator=True)
    report = build_index(info.path, tmp_path / "t.sqlite")
    assert report.malformed == 0 and report.mailboxes == info.distinct_addresses


def test_wrong_header_is_fatal_and_keeps_the_old_index(tmp_path: Path) -> None:
    good = write_extraction(tmp_path / "g.txt", 50, seed=1)
    index = tmp_path / "i.sqlite"
    build_index(good.path, index)
    before = index.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text("|".join(reversed(COLUMNS)) + "\n", encoding="utf-8")
    with pytest.raises(ContentError, match="not an MSSanté extraction"):
        build_index(bad, index)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ContentError, match="empty"):
        build_index(empty, index)
    assert index.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def _zip(path: Path, entries: dict[str, bytes], **kwargs: object) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("entries", "error", "message"),
    [
        ({"a.txt": b"x", "b.txt": b"y"}, ArchiveError, "holds 2 files"),
        ({}, ArchiveError, "holds 0 files"),
        ({"../evil.txt": b"x"}, UnsafeArchiveError, "unsafe path"),
        ({"data.csv": b"x"}, ArchiveError, "not a .txt"),
        ({"bomb.txt": b"\0" * (8 << 20)}, UnsafeArchiveError, "zip-bomb"),
    ],
)
def test_unsafe_or_unexpected_zips_are_refused(
    tmp_path: Path, entries: dict[str, bytes], error: type[Exception], message: str
) -> None:
    path = _zip(tmp_path / "x.zip", entries)
    with pytest.raises(error, match=message), open_extraction(path):
        pass


def test_encrypted_and_symlink_entries_are_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "e.zip", {"e.txt": b"secret"})
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag bit in the local and central headers
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match="encrypted"), open_extraction(path):
        pass
    link = tmp_path / "l.zip"
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("link.txt")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"), open_extraction(link):
        pass


def test_size_limit_applies_while_reading(tmp_path: Path) -> None:
    info = write_extraction(tmp_path / "s.txt", 200, seed=9)
    with pytest.raises(UnsafeArchiveError, match="larger than"):
        build_index(info.path, tmp_path / "s.sqlite", max_bytes=10_000)


def test_searching_before_any_import_says_what_to_do(tmp_path: Path) -> None:
    backend = ExtractionBackend(tmp_path / "missing.sqlite")
    with pytest.raises(ConfigurationError, match="refresh"):
        backend.search_page(DirectoryQuery(city="Paris"), page_size=5, state=None)


# --- search by every criterion the extraction has ----------------------------------------


def test_dedup_one_mailbox_with_both_places(backend: ExtractionBackend) -> None:
    [entry] = _all(backend, rpps=RPPS_A)
    assert isinstance(entry, Professional)
    assert entry.id_nat_ps == IdNatPS("8" + RPPS_A)
    assert str(entry.rpps) == RPPS_A
    assert [str(m.address) for m in entry.mailboxes] == ["eloise.lefevre@medecin.mssante.fr"]
    assert entry.mailboxes[0].type is MailboxType.PER
    assert entry.mailboxes[0].dematerialisation is True
    assert entry.family_name == "LEFÈVRE-D'ARC" and entry.given_name == "Éloïse-Marie"
    assert entry.civility == "DR"
    assert entry.organisation_name == "CABINET DU CŒUR"  # the first line describes the entry
    assert entry.profession is not None and entry.profession.code == "10"
    assert entry.specialty is not None and entry.specialty.code == "SM04"
    assert str(entry.finess) == FINESS_A
    assert [(a.city, a.postal_code, a.department) for a in entry.addresses] == [
        ("SAINT-ÉTIENNE", "42000", "42"),
        ("GRENOBLE", "38000", "38"),
    ]
    assert entry.addresses[0].lines == ("3 R DE LA LIBERTÉ",)
    assert entry.source == "extraction"


def test_org_mailbox_maps_to_an_organisation(backend: ExtractionBackend) -> None:
    [entry] = _all(backend, organisation="hopital nord")
    assert isinstance(entry, Organisation)
    assert entry.organisation_name == "CENTRE HOSPITALIER UNIVERSITAIRE FICTIF"
    assert entry.name == "HÔPITAL NORD"
    assert entry.mailboxes[0].type is MailboxType.ORG
    assert entry.mailboxes[0].service == "SECRÉTARIAT CARDIOLOGIE"
    assert entry.addresses[0].department == "2B"


@pytest.mark.parametrize(
    "criteria",
    [
        {"family_name": "lefevre d"},
        {"family_name": "LEFÈVRE-D'A", "given_name": "eloise m"},
        {"given_name": "ÉLOÏSE"},
        {"id_nat_ps": "8" + RPPS_A},
        {"profession": "10", "specialty": "SM04", "city": "saint etienne"},
        {"city": "Grenoble", "family_name": "lef"},
        {"postal_code": "42000", "family_name": "lef"},
        {"department": "38", "given_name": "elo"},
        {"finess": FINESS_A, "mailbox_type": "PER"},
        {"organisation": "cabinet du coeur"},
        {"text": "eloise cardiologie"},
        {"text": "lefevre@medecin"},
    ],
)
def test_each_criterion_finds_the_known_professional(
    backend: ExtractionBackend, criteria: dict[str, str]
) -> None:
    found = _all(backend, **criteria)
    assert "eloise.lefevre@medecin.mssante.fr" in {str(e.mailboxes[0].address) for e in found}
    query = DirectoryQuery(**criteria)
    assert all(query.matches(entry) for entry in found)


@pytest.mark.parametrize(
    "criteria",
    [
        {"family_name": "arc"},  # a later word of the name is not a prefix of the name
        {"given_name": "marie"},
        {"city": "saint"},  # city is an equality
        {"department": "42", "city": "Grenoble", "family_name": "lef"},  # one place holds both
        {"mailbox_type": "APP"},  # never in the extraction (rules §4)
        {"mailbox_type": "CAB"},
        {"family_name": "lef*"},
        {"organisation": "clinique des alpes"},  # a later line's structure does not describe it
    ],
)
def test_non_matches(backend: ExtractionBackend, criteria: dict[str, str]) -> None:
    found = _all(backend, **criteria)
    assert "eloise.lefevre@medecin.mssante.fr" not in {str(e.mailboxes[0].address) for e in found}


def test_results_agree_with_the_reference_semantics(backend: ExtractionBackend) -> None:
    """Compare each search with DirectoryQuery.matches over the whole index."""
    everything = _all(backend)
    assert len(everything) == len({str(e.mailboxes[0].address) for e in everything})
    for criteria in (
        {"family_name": "mar"},
        {"given_name": "jean"},
        {"city": "paris"},
        {"department": "2A"},
        {"postal_code": "69003"},
        {"profession": "60"},
        {"specialty": "SM54"},
        {"mailbox_type": "ORG"},
        {"organisation": "clinique"},
        {"text": "pediatrie lyon"},
        {"family_name": "d", "city": "nice"},
    ):
        query = DirectoryQuery(**criteria)
        expected = sorted(str(e.mailboxes[0].address) for e in query.filter(everything))
        found = sorted(str(e.mailboxes[0].address) for e in _all(backend, **criteria))
        assert expected, criteria
        assert found == expected, criteria


def test_paging_is_complete_and_totals_are_given(
    backend: ExtractionBackend, generated: tuple[Path, Any]
) -> None:
    query = DirectoryQuery(mailbox_type="PER")
    seen: list[str] = []
    state = None
    pages = 0
    total = None
    while True:
        page: BackendPage = backend.search_page(query, page_size=300, state=state)
        pages += 1
        total = page.total if total is None else total
        assert page.total == total
        seen += [str(e.mailboxes[0].address) for e in page.results]
        if page.next_state is None:
            break
        state = page.next_state
    assert pages > 3
    assert len(seen) == len(set(seen)) == total
    # pages follow the order of the file (first line of each mailbox)
    in_file: dict[str, None] = {}
    for raw in generated[1].path.read_bytes().splitlines()[1:]:
        try:
            fields = raw.decode("utf-8").split("|")
        except UnicodeDecodeError:
            continue
        if len(fields) == 31 and fields[0] == "PER":
            in_file.setdefault(fields[1].lower(), None)
    assert seen == list(in_file)


def test_a_forged_state_is_refused(backend: ExtractionBackend) -> None:
    with pytest.raises(QueryError):
        backend.search_page(DirectoryQuery(), page_size=5, state={"after": "x"})


# --- atomic refresh --------------------------------------------------------------------------


def _generation(tag: str, count: int) -> list[ExtractionRow]:
    return [
        _row(
            mailbox_type="PER",
            address=f"p{i}@{tag}.mssante.fr",
            family_name="ZORGLUB",
            given_name=tag,
            address_l6_routing="75012 PARIS",
            postal_code="75012",
        )
        for i in range(count)
    ]


def test_refresh_is_atomic_for_concurrent_readers(tmp_path: Path) -> None:
    old = write_extraction(tmp_path / "old.txt", 3000, seed=1, extra_rows=_generation("old", 40))
    new = write_extraction(tmp_path / "new.txt", 3000, seed=2, extra_rows=_generation("new", 70))
    backend = ExtractionBackend(tmp_path / "live.sqlite")
    backend.refresh(old.path)
    query = DirectoryQuery(family_name="zorglub", page_size=1000)
    observed: list[tuple[int, frozenset[str]]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                page = backend.search_page(query, page_size=1000, state=None)
                domains = frozenset(str(e.mailboxes[0].address.domain) for e in page.results)
                observed.append((len(page.results), domains))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for source in (new, old, new):
            backend.refresh(source.path)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures
    assert observed
    # every answer is wholly the old index or wholly the new one
    assert set(observed) <= {
        (40, frozenset({"old.mssante.fr"})),
        (70, frozenset({"new.mssante.fr"})),
    }
    final = backend.search_page(query, page_size=1000, state=None)
    assert final.total == 70
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- download ------------------------------------------------------------------------------


class _FileServer:
    """Serves one file over HTTP on 127.0.0.1 (a stand-in for the ANS endpoint)."""

    def __init__(self, payload: bytes, status: int = 200) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.hits = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/extraction"

    def __enter__(self) -> _FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def test_refresh_downloads_the_zip_and_imports_it(tmp_path: Path) -> None:
    info = write_extraction(tmp_path / "e.zip", 500, seed=8, zipped=True, malformed_every=100)
    with _FileServer(info.path.read_bytes()) as server:
        backend = ExtractionBackend(tmp_path / "cache" / "index.sqlite", url=server.url)
        report = backend.refresh()
    assert server.hits == 1
    assert report.source == info.entry_name
    assert report.rows_read == 500 and report.malformed == 5
    assert report.mailboxes == info.distinct_addresses
    assert backend.metadata()["source"] == info.entry_name
    # the downloaded file does not stay behind
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["index.sqlite"]


def test_download_errors_are_typed_and_leave_nothing(tmp_path: Path) -> None:
    from mssante_client.directory.extraction import download_extraction
    from mssante_client.errors import ConnectError, HTTPStatusError, IntegrityError

    with _FileServer(b"x" * 5000) as server, pytest.raises(IntegrityError, match="larger than"):
        download_extraction(server.url, tmp_path, max_bytes=1000)
    with _FileServer(b"gone", status=404) as server, pytest.raises(HTTPStatusError) as caught:
        download_extraction(server.url, tmp_path)
    assert caught.value.status_code == 404
    with pytest.raises(ConnectError):
        download_extraction("http://127.0.0.1:9/extraction", tmp_path, timeout=2)
    with pytest.raises(ConfigurationError, match="http://"):
        download_extraction("http://annuaire.example.org/extraction", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_substring_only_search_pages_without_counting_everything(
    backend: ExtractionBackend,
) -> None:
    query = DirectoryQuery(organisation="cabinet")
    page = backend.search_page(query, page_size=10, state=None)
    assert len(page.results) == 10 and page.next_state is not None
    assert page.total is None  # counting would scan every mailbox: not "cheap"
    narrowed = backend.search_page(
        DirectoryQuery(organisation="cabinet", family_name="m"), page_size=10, state=None
    )
    assert narrowed.total is not None and narrowed.total > 10
