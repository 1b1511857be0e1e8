"""The public extraction as a directory backend: download, safe import into SQLite, search.

Why: the Annuaire Santé FHIR API needs a key, answers 17 requests/s and only has production data;
the daily "Extraction Correspondance MSSanté" (rules §5.2) is public and lets a client search
every PER/ORG mailbox offline in milliseconds. APP mailboxes are NOT in it (rules §4): use the
FHIR backend to find applicative mailboxes.

Edges only live here (HTTP download, zip archive, files, sqlite3); the line format is in
:mod:`.extraction_format` and the SQL in :mod:`.extraction_index`.

A refresh never changes the index in place: it builds a new SQLite file next to it and swaps it
in with :func:`os.replace`. Every search runs on one read-only, ``immutable`` connection bound to
one file (each thread keeps its own and reopens it when the path points to a new file), so it
sees the old index or the new one, never a mix. (POSIX semantics: on Windows a file open by a
reader cannot be replaced.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import stat
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote

import httpx

from ..errors import (
    ArchiveError,
    ConfigurationError,
    ContentError,
    HTTPStatusError,
    IntegrityError,
    QueryError,
    UnsafeArchiveError,
)
from ..identity import ADELI, RPPS, IdNatPS, IdNatStruct, MailboxType, MSSanteAddress
from ._http import Verify, require_secure_url, tls_context, translate
from .backend import BackendPage, BackendState
from .codes import PROFESSIONS, SPECIALTIES
from .extraction_format import (
    MalformedRowError,
    city_from_routing_line,
    fast_fold,
    parse_header,
    split_row,
)
from .extraction_index import (
    APPEND_HAYSTACK,
    CREATE_INDEXES,
    CREATE_TABLES,
    HAYSTACK_SEPARATOR,
    INSERT_ACTIVITY,
    INSERT_MAILBOX,
    INSERT_NAMES,
    INSERT_TEXT,
    ORGANISATION_SEPARATOR,
    SCHEMA_VERSION,
    compile_search,
    place_tokens,
)
from .models import (
    CodedConcept,
    DirectoryEntry,
    DirectoryMailbox,
    Organisation,
    PostalAddress,
    Professional,
    department_of,
)
from .query import DirectoryQuery

__all__ = [
    "DEFAULT_EXTRACTION_URL",
    "ExtractionBackend",
    "ImportProgress",
    "ImportReport",
    "MalformedLine",
    "build_index",
    "download_extraction",
    "open_extraction",
]

log = logging.getLogger("mssante_client.directory")

#: The ANS endpoint of rules §5.2 (a zip, served under the IGC-Santé chain).
DEFAULT_EXTRACTION_URL: Final = (
    "https://service.annuaire.sante.fr/annuaire-sante-webservices/V300/services/extraction/"
    "Extraction_Correspondance_MSSante"
)

#: The real file is ~120 MB; anything far beyond is not an extraction.
MAX_TEXT_BYTES: Final = 2 * 1024**3
#: Text compresses ~10x; a much higher ratio is a zip bomb.
MAX_COMPRESSION_RATIO: Final = 200
MAX_DOWNLOAD_BYTES: Final = 1024**3
_CHUNK: Final = 1 << 20
_BATCH: Final = 20_000
_PROGRESS_EVERY: Final = 16_384
_FOLD_CACHE: Final = 100_000

#: ``progress(lines_read, bytes_read, total_bytes)``; total is None when unknown.
ImportProgress = Callable[[int, int, int | None], None]


@dataclass(frozen=True)
class MalformedLine:
    """A line the importer skipped: its 1-based number (the header is line 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and skipped. Malformed lines are reported, not fatal."""

    source: str
    rows_read: int
    """Data lines read (header and blank lines excluded)."""
    rows_imported: int
    """Well-formed data lines (``rows_read - malformed``)."""
    mailboxes: int
    """Distinct addresses in the index."""
    activities: int
    """Distinct (mailbox, place) pairs in the index."""
    duplicate_rows: int
    """Well-formed lines that repeated a mailbox and a place already seen (merged)."""
    malformed: int
    malformed_lines: tuple[MalformedLine, ...] = field(default=())
    """The first malformed lines (see ``max_reported`` of :func:`build_index`)."""


# --- reading the file ----------------------------------------------------------------------


def _check_entry(info: zipfile.ZipInfo, max_bytes: int) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
        raise UnsafeArchiveError(f"zip entry {name!r} has an unsafe path")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"zip entry {name!r} is encrypted")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchiveError(f"zip entry {name!r} is a symbolic link")
    if not name.lower().endswith(".txt"):
        raise ArchiveError(f"zip entry {name!r} is not a .txt extraction")
    if info.file_size > max_bytes:
        raise UnsafeArchiveError(f"zip entry {name!r} is larger than {max_bytes} bytes")
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and info.file_size > (
        1 << 20
    ):
        raise UnsafeArchiveError(f"zip entry {name!r} has a zip-bomb compression ratio")


@contextlib.contextmanager
def open_extraction(
    path: Path, *, max_bytes: int = MAX_TEXT_BYTES
) -> Iterator[tuple[IO[bytes], int | None, str]]:
    """Open an extraction, zipped (as the ANS serves it) or not: ``(stream, size, name)``.

    A zip must hold exactly one file, a ``.txt``, neither encrypted nor a link, within the size
    and compression-ratio limits; it is streamed, never extracted to disk.
    """
    path = Path(path)
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise ContentError(f"cannot read extraction {path.name!r}: {exc.strerror}") from exc
    if not is_zip:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ContentError(f"cannot read extraction {path.name!r}: {exc.strerror}") from exc
        with handle:
            yield handle, path.stat().st_size, path.name
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if len(entries) != 1:
                raise ArchiveError(f"extraction zip holds {len(entries)} files, expected 1")
            info = entries[0]
            _check_entry(info, max_bytes)
            with archive.open(info) as stream:
                yield stream, info.file_size, info.filename
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(f"extraction zip {path.name!r} is corrupt: {exc}") from exc


def _lines(stream: IO[bytes], max_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Raw lines (without end of line) and the bytes consumed so far; chunked for speed."""
    consumed = 0
    tail = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        consumed += len(chunk)
        if consumed > max_bytes:
            raise UnsafeArchiveError(f"extraction is larger than {max_bytes} bytes")
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        for part in parts:
            yield part, consumed
    if tail:
        yield tail, consumed


# --- building the index --------------------------------------------------------------------


_Batch = tuple[list[tuple[object, ...]], ...]
_INSERTS: Final = (INSERT_MAILBOX, INSERT_ACTIVITY, INSERT_TEXT)


class _IndexWriter:
    """Accumulates rows into batches and keeps what deduplication needs (ids, seen places)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.mailbox_ids: dict[str, int] = {}
        self.places: set[tuple[int, int]] = set()
        self.extra_cities: dict[int, list[str]] = {}
        self.mailboxes: list[tuple[object, ...]] = []
        self.activities: list[tuple[object, ...]] = []
        # FTS rows are written last: a mailbox's places are only all known at the end.
        self.names: dict[int, list[str]] = {}
        self.texts: list[tuple[object, ...]] = []
        self.activity_count = 0
        self.duplicates = 0
        self._city_cache: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        self._folded: dict[str, str] = {}
        self._error: sqlite3.Error | None = None
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=3)
        self._thread = threading.Thread(target=self._drain, name="extraction-writer", daemon=True)
        self._thread.start()

    def _place(self, routing: str, postal_code: str, department: str) -> tuple[str, str, str, str]:
        """City, folded city, department code and the place's tokens for the name index."""
        key = (routing, postal_code)
        cached = self._city_cache.get(key)
        if cached is None:
            city = city_from_routing_line(routing, postal_code)
            code = department_of(postal_code) or department.upper()
            city_key = fast_fold(city)
            cached = (city, city_key, code, place_tokens(city_key, postal_code, code))
            self._city_cache[key] = cached
        return cached

    def _fold(self, text: str) -> str:
        """:func:`fast_fold` memoised: names, structures and labels repeat a lot."""
        folded = self._folded.get(text)
        if folded is None:
            folded = fast_fold(text)
            if len(self._folded) < _FOLD_CACHE:
                self._folded[text] = folded
        return folded

    def add(self, v: tuple[str, ...]) -> None:
        address = v[1]
        mailbox_id = self.mailbox_ids.get(address)
        place_fields = v[20:31]
        cached = self._city_cache.get((v[27], v[28]))
        city, city_key, department_code, tokens = cached or self._place(v[27], v[28], v[29])
        if mailbox_id is None:
            mailbox_id = len(self.mailbox_ids) + 1
            self.mailbox_ids[address] = mailbox_id
            self._add_mailbox(mailbox_id, v, city_key, tokens)
            place_key = (mailbox_id, hash(place_fields))
        else:
            place_key = (mailbox_id, hash(place_fields))
            if place_key in self.places:
                self.duplicates += 1
                return
            if city:
                self.extra_cities.setdefault(mailbox_id, []).append(city)
            named = self.names.get(mailbox_id)
            if named is not None:
                named[2] += " " + tokens
        self.places.add(place_key)
        self.activity_count += 1
        self.activities.append(
            (self.activity_count, mailbox_id, *place_fields, city, city_key, department_code)
        )
        if len(self.activities) >= _BATCH:
            self.flush()

    def _add_mailbox(self, mailbox_id: int, v: tuple[str, ...], city_key: str, tokens: str) -> None:
        fold = self._fold
        mailbox_type = v[0]
        is_person = mailbox_type == "PER"
        organisation = fold(v[18])
        # Same parts, same order as the reference semantics of DirectoryQuery.text.
        if is_person:
            family, given = fold(v[9]), fold(v[10])
            parts = [
                organisation,
                family,
                given,
                fold(v[14] or PROFESSIONS.get(v[13], "")),
                fold(v[16] or SPECIALTIES.get(v[15], "")),
            ]
            if family or given:
                self.names[mailbox_id] = [family, given, tokens]
            organisation_key = organisation
        else:
            trade = fold(v[19])
            parts = [organisation, trade]
            organisation_key = (
                organisation + ORGANISATION_SEPARATOR + trade if trade else organisation
            )
        parts += [city_key, fast_fold(v[1]), fold(v[7])]
        self.mailboxes.append(
            (
                mailbox_id,
                v[1],
                mailbox_type,
                v[2],
                v[3],
                v[4],
                v[8],
                v[9],
                v[10],
                v[17].strip()[:1].upper(),
                v[7],
                v[5],
                v[6],
                *v[11:17],
                v[18],
                v[19],
            )
        )
        self.texts.append(
            (
                mailbox_id,
                organisation_key,
                HAYSTACK_SEPARATOR.join([part for part in parts if part]),
            )
        )

    def flush(self) -> None:
        """Hand the current batches to the writer thread (SQLite works while we parse on)."""
        if self._error is not None:
            raise self._error
        self._queue.put((self.mailboxes, self.activities, self.texts))
        self.mailboxes, self.activities, self.texts = [], [], []

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                for statement, rows in zip(_INSERTS, batch, strict=True):
                    self.db.executemany(statement, rows)
            except sqlite3.Error as exc:
                self._error = exc

    def stop(self) -> None:
        """End the writer thread (idempotent); re-raise what it failed with."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def finish(self) -> None:
        self.flush()
        self.stop()
        self.db.executemany(INSERT_NAMES, ((key, *values) for key, values in self.names.items()))
        # Cities of later activities join the free-text haystack (the entry lists every place).
        self.db.executemany(
            APPEND_HAYSTACK,
            (
                ("".join(HAYSTACK_SEPARATOR + fast_fold(city) for city in cities), mailbox_id)
                for mailbox_id, cities in self.extra_cities.items()
            ),
        )
        for statement in CREATE_INDEXES:
            self.db.execute(statement)
        self.db.execute("INSERT INTO name_index (name_index) VALUES ('optimize')")


def _import_into(
    db: sqlite3.Connection,
    stream: IO[bytes],
    *,
    total: int | None,
    max_bytes: int,
    progress: ImportProgress | None,
    max_reported: int,
) -> tuple[int, int, list[MalformedLine], _IndexWriter]:
    writer = _IndexWriter(db)
    try:
        return _read_rows(
            writer,
            stream,
            total=total,
            max_bytes=max_bytes,
            progress=progress,
            max_reported=max_reported,
        )
    finally:
        with contextlib.suppress(sqlite3.Error):
            writer.stop()


def _read_rows(
    writer: _IndexWriter,
    stream: IO[bytes],
    *,
    total: int | None,
    max_bytes: int,
    progress: ImportProgress | None,
    max_reported: int,
) -> tuple[int, int, list[MalformedLine], _IndexWriter]:
    rows_read = 0
    malformed = 0
    reported: list[MalformedLine] = []
    line_number = 0
    header_seen = False
    consumed = 0

    def bad(reason: str) -> None:
        nonlocal malformed
        malformed += 1
        if len(reported) < max_reported:
            reported.append(MalformedLine(line_number, reason))

    for raw, consumed in _lines(stream, max_bytes):
        line_number += 1
        if not header_seen:
            try:
                parse_header(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, MalformedRowError) as exc:
                reason = exc.reason if isinstance(exc, MalformedRowError) else "not UTF-8"
                raise ContentError(f"not an MSSanté extraction: {reason}") from None
            header_seen = True
            continue
        if not raw.strip():
            continue
        rows_read += 1
        try:
            writer.add(split_row(raw.decode("utf-8")))
        except UnicodeDecodeError:
            bad("invalid UTF-8")
        except MalformedRowError as exc:
            bad(exc.reason)
        if progress is not None and rows_read % _PROGRESS_EVERY == 0:
            progress(rows_read, consumed, total)
    if not header_seen:
        raise ContentError("not an MSSanté extraction: the file is empty")
    writer.finish()
    if progress is not None:
        progress(rows_read, consumed, total)
    return rows_read, malformed, reported, writer


def build_index(
    source: Path,
    index_path: Path,
    *,
    progress: ImportProgress | None = None,
    max_bytes: int = MAX_TEXT_BYTES,
    max_reported: int = 20,
) -> ImportReport:
    """Import the extraction at ``source`` into a new SQLite index and swap it in at ``index_path``.

    The index is built in a temporary file of the same directory (journal off, no fsync per
    statement, one transaction, B-tree indexes created after the bulk insert), flushed to disk,
    then renamed over ``index_path``: readers see the old index or the new one, never a mix, and
    a failed import leaves the old index untouched.
    """
    index_path = Path(index_path)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{index_path.name}.", suffix=".tmp", dir=index_path.parent
    )
    os.close(descriptor)
    temp = Path(temp_name)
    try:
        db = sqlite3.connect(temp, isolation_level=None, check_same_thread=False)
        try:
            for pragma in (
                "page_size = 8192",
                "journal_mode = OFF",
                "synchronous = OFF",
                "locking_mode = EXCLUSIVE",
                "temp_store = MEMORY",
                "cache_size = -65536",
                "threads = 2",
            ):
                db.execute(f"PRAGMA {pragma}")
            db.execute("BEGIN")
            for statement in CREATE_TABLES:
                db.execute(statement)
            with open_extraction(source, max_bytes=max_bytes) as (stream, total, name):
                rows_read, malformed, reported, writer = _import_into(
                    db,
                    stream,
                    total=total,
                    max_bytes=max_bytes,
                    progress=progress,
                    max_reported=max_reported,
                )
            report = ImportReport(
                source=name,
                rows_read=rows_read,
                rows_imported=rows_read - malformed,
                mailboxes=len(writer.mailbox_ids),
                activities=writer.activity_count,
                duplicate_rows=writer.duplicates,
                malformed=malformed,
                malformed_lines=tuple(reported),
            )
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("source", name),
                    ("imported_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                    ("rows_read", str(rows_read)),
                    ("malformed", str(malformed)),
                ],
            )
            db.execute("COMMIT")
        finally:
            db.close()
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, index_path)
    except sqlite3.Error as exc:
        raise ContentError(f"cannot build the extraction index: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    log.info(
        "extraction index built: %d rows, %d mailboxes, %d malformed",
        report.rows_read,
        report.mailboxes,
        report.malformed,
    )
    return report


# --- download ------------------------------------------------------------------------------


def download_extraction(
    url: str = DEFAULT_EXTRACTION_URL,
    directory: Path | None = None,
    *,
    verify: Verify = "igc-sante",
    timeout: float = 60.0,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Stream the extraction to a temporary file in ``directory`` and return its path.

    TLS is always verified (see :func:`._http.tls_context`); the default trusts the IGC-Santé
    root shipped with the SDK plus the system store, since the ANS serves the file under the
    IGC-Santé chain (rules §5.2). Plain ``http://`` is refused except on loopback (tests).
    The size is bounded while streaming. The caller deletes the file.
    """
    require_secure_url(url, "extraction server")
    context = tls_context(verify)
    directory = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    descriptor, name = tempfile.mkstemp(prefix=".extraction-", suffix=".download", dir=directory)
    target = Path(name)
    try:
        with (
            os.fdopen(descriptor, "wb") as out,
            httpx.Client(verify=context, timeout=timeout, transport=transport) as client,
            client.stream("GET", url, follow_redirects=True) as response,
        ):
            if response.status_code != 200:
                raise HTTPStatusError(
                    f"extraction download answered HTTP {response.status_code}",
                    response.status_code,
                )
            declared = response.headers.get("content-length")
            declared_size = (
                int(declared) if declared and declared.isascii() and declared.isdigit() else 0
            )
            if declared_size > max_bytes:
                raise IntegrityError(f"extraction download is larger than {max_bytes} bytes")
            received = 0
            for chunk in response.iter_bytes(_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise IntegrityError(f"extraction download is larger than {max_bytes} bytes")
                out.write(chunk)
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        raise translate(exc, "extraction server", url) from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


# --- the backend ---------------------------------------------------------------------------


def _identifier(kind: Any, value: str) -> Any:
    """A typed identifier, or None when the file holds something that is not one."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        log.debug("extraction holds an invalid %s", kind.__name__)
        return None


def _structure(type_code: str, value: str) -> IdNatStruct | None:
    found: IdNatStruct | None = _identifier(IdNatStruct, value)
    if found is None and type_code and not value.startswith(type_code):
        found = _identifier(IdNatStruct, type_code + value)
    return found


def _entry(row: sqlite3.Row, places: Sequence[sqlite3.Row]) -> DirectoryEntry | None:
    """The model of one mailbox. Identifiers are validated (typed value objects); the models
    themselves are assembled with ``model_construct``, their fields being typed already."""
    address = _identifier(MSSanteAddress, row["address"])
    if address is None:
        return None
    demat = row["dematerialisation"]
    mailbox = DirectoryMailbox.model_construct(
        address=address,
        type=MailboxType(row["mailbox_type"]),
        service=row["service"] or None,
        dematerialisation={"O": True, "Y": True, "1": True, "N": False, "0": False}.get(demat),
    )
    seen: set[PostalAddress] = set()
    addresses: list[PostalAddress] = []
    for place in places:
        street = " ".join(
            part
            for part in (
                place["address_l4_number"],
                place["address_l4_number_complement"],
                place["address_l4_street_type"],
                place["address_l4_street"],
            )
            if part
        )
        postal = PostalAddress.model_construct(
            lines=tuple(
                line
                for line in (place["address_l2"], place["address_l3"], street, place["address_l5"])
                if line
            ),
            postal_code=place["postal_code"] or None,
            city=place["city"] or None,
            department=place["department_code"] or None,
            country=place["country"] or None,
        )
        if postal not in seen:
            seen.add(postal)
            addresses.append(postal)
    structure = _structure(row["structure_identifier_type"], row["structure_identifier"])
    common: dict[str, Any] = {
        "mailboxes": (mailbox,),
        "addresses": tuple(addresses),
        "organisation_name": row["organisation_name"] or None,
        "id_nat_struct": structure,
        "finess": structure.finess if structure is not None else None,
        "siret": structure.siret if structure is not None else None,
        "source": "extraction",
        "source_id": row["address"],
    }
    if row["mailbox_type"] != "PER":
        return Organisation.model_construct(name=row["trade_name"] or None, **common)
    id_nat_ps: IdNatPS | None = _identifier(IdNatPS, row["id_nat_ps"])
    pp_type, pp_value = row["pp_identifier_type"], row["pp_identifier"]
    return Professional.model_construct(
        family_name=row["family_name"] or None,
        given_name=row["given_name"] or None,
        civility=row["civility"] or None,
        id_nat_ps=id_nat_ps,
        rpps=_identifier(RPPS, pp_value) if pp_type == "8" else None,
        adeli=_identifier(ADELI, pp_value) if pp_type == "0" else None,
        profession=CodedConcept.profession(row["profession_code"], row["profession_label"] or None)
        if row["profession_code"]
        else None,
        specialty=CodedConcept.specialty(row["specialty_code"], row["specialty_label"] or None)
        if row["specialty_code"]
        else None,
        **common,
    )


class ExtractionBackend:
    """A :class:`~.backend.DirectoryBackend` over a local index of the public extraction.

    ``index_path`` is the SQLite file; :meth:`refresh` (re)builds it from a local file or from
    the ANS download. Searching an index that does not exist yet raises
    :class:`~mssante_client.errors.ConfigurationError` naming the fix.
    """

    name = "extraction"

    def __init__(
        self,
        index_path: Path | str,
        *,
        url: str = DEFAULT_EXTRACTION_URL,
        verify: Verify = "igc-sante",
        timeout: float = 60.0,
    ) -> None:
        self.index_path = Path(index_path)
        self.url = url
        self._verify = verify
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"ExtractionBackend({str(self.index_path)!r})"

    def refresh(
        self, source: Path | str | None = None, *, progress: ImportProgress | None = None
    ) -> ImportReport:
        """Rebuild the index from ``source`` (a .txt or .zip) or, if None, from a fresh download.

        Atomic: concurrent searches keep working on the previous index until the swap.
        """
        if source is not None:
            return build_index(Path(source), self.index_path, progress=progress)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        downloaded = download_extraction(
            self.url, self.index_path.parent, verify=self._verify, timeout=self._timeout
        )
        try:
            return build_index(downloaded, self.index_path, progress=progress)
        finally:
            downloaded.unlink(missing_ok=True)

    def _open(self) -> sqlite3.Connection:
        """This thread's connection to the current index file, reopened after a swap.

        A connection stays bound to the file it opened, even once a refresh has renamed another
        file over its path (POSIX): a search sees one index from start to end. Reusing it keeps
        SQLite's page cache warm; the file's identity (inode, size, mtime) says when to reopen.
        """
        try:
            info = self.index_path.stat()
        except FileNotFoundError:
            raise ConfigurationError(
                f"no extraction index at {self.index_path}; build it with refresh()"
            ) from None
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        cached = getattr(self._local, "connection", None)
        if cached is not None and cached[0] == identity:
            connection: sqlite3.Connection = cached[1]
            return connection
        if cached is not None:
            cached[1].close()
        uri = "file:" + quote(str(self.index_path.resolve())) + "?mode=ro&immutable=1"
        try:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ContentError(f"cannot open the extraction index: {exc}") from exc
        connection.row_factory = sqlite3.Row
        self._local.connection = (identity, connection)
        with self._lock:
            self._connections.append(connection)
        return connection

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = self._open()
        try:
            yield db
        except sqlite3.Error as exc:
            raise ContentError(f"extraction index is unusable: {exc}") from exc

    def metadata(self) -> dict[str, str]:
        """What the index was built from (source file name, import time, counts)."""
        with self._connect() as db:
            return {key: value for key, value in db.execute("SELECT key, value FROM meta")}

    def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        after: int | None = None
        total: int | None = None
        if state is not None:
            after_value, total_value = state.get("after"), state.get("total")
            if not isinstance(after_value, int) or not isinstance(total_value, int | None):
                raise QueryError("cursor", "not a cursor of the extraction backend")
            after, total = after_value, total_value
        sql = compile_search(query, after=after, limit=page_size + 1)
        if sql is None:
            return BackendPage(results=(), next_state=None, total=0)
        with self._connect() as db:
            found = db.execute(sql.page, sql.page_params).fetchall()
            more = len(found) > page_size
            if total is None:
                # A first page that holds everything is its own count.
                if not more and after is None:
                    total = len(found)
                elif sql.cheap_count:
                    total = int(db.execute(sql.count, sql.count_params).fetchone()[0])
            found = found[:page_size]
            results = self._load(db, [row[0] for row in found])
        next_state: BackendState | None = None
        if more and found:
            next_state = {"after": found[-1][0], "total": total}
        return BackendPage(results=results, next_state=next_state, total=total)

    @staticmethod
    def _load(db: sqlite3.Connection, ids: Sequence[int]) -> list[DirectoryEntry]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = db.execute(
            f"SELECT * FROM mailbox WHERE id IN ({marks}) ORDER BY id",  # noqa: S608
            ids,
        ).fetchall()
        places: dict[int, list[sqlite3.Row]] = {}
        for place in db.execute(
            f"SELECT * FROM activity WHERE mailbox_id IN ({marks}) ORDER BY id",  # noqa: S608
            ids,
        ):
            places.setdefault(place["mailbox_id"], []).append(place)
        entries = (_entry(row, places.get(row["id"], ())) for row in rows)
        return [entry for entry in entries if entry is not None]

    def close(self) -> None:
        """Close the connections of every thread (call when no search is running)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
