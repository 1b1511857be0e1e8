"""Read a zip archive received from someone else without trusting it.

An ``IHE_XDM.ZIP`` arrives attached to an e-mail: its sender controls every byte. This module is
the only place that opens such archives, and it refuses what a receiver must never act on (digest
``cda-xdm.md`` §3 "Safe parsing", step 1):

* path traversal ("zip slip"): absolute names, ``..`` components, backslashes, drive letters;
* zip bombs: too many entries, too much declared uncompressed data, an entry whose declared
  compression ratio is absurd — and the same limits are enforced again while streaming, because
  the declared sizes are written by the attacker too;
* encrypted entries (we could not verify them) and symbolic links (they point elsewhere);
* duplicate names (case-insensitively), which would let one entry shadow another.

Nothing is ever extracted to disk: entries are streamed or read into memory. Junk that Mac and
Subversion tools add (``__MACOSX/``, dot files, ``.svn/``) and directory entries are set aside,
and names are matched case-insensitively because real archives disagree on case.

Errors: a malformed archive raises :class:`~mssante_client.errors.ArchiveError`; a hostile one
raises :class:`~mssante_client.errors.UnsafeArchiveError` naming the entry.
"""

from __future__ import annotations

import io
import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ArchiveError, UnsafeArchiveError

__all__ = ["ArchiveEntry", "ReadLimits", "SafeArchive"]

_log = logging.getLogger("mssante_client.document")

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Ceilings applied to an untrusted archive (all sizes in bytes).

    The defaults fit MSSanté: operators cap a whole message near 25 MB (ENS rule quoted in the
    client rules digest §2.2), so 256 MiB of uncompressed content is already generous.
    """

    max_entries: int = 1_000
    max_total_size: int = 256 * 1024 * 1024
    max_entry_size: int = 128 * 1024 * 1024
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024
    """Entries smaller than this are not ratio-checked: tiny files legitimately compress well."""


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One regular file of the archive, as declared by its central directory."""

    name: str
    size: int
    compressed_size: int


def check_entry_name(name: str) -> None:
    """Raise :class:`UnsafeArchiveError` if extracting ``name`` could escape a directory."""
    if not name:
        raise UnsafeArchiveError("archive entry with an empty name")
    if "\x00" in name:
        raise UnsafeArchiveError(f"archive entry {name!r}: NUL byte in the name")
    if "\\" in name:
        raise UnsafeArchiveError(f"archive entry {name!r}: backslash in the name")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"archive entry {name!r}: absolute path")
    if _DRIVE.match(name):
        raise UnsafeArchiveError(f"archive entry {name!r}: drive letter")
    if ".." in name.split("/"):
        raise UnsafeArchiveError(f"archive entry {name!r}: '..' path component")


def is_junk(name: str) -> bool:
    """True for directory entries and the metadata that macOS / Subversion tools add."""
    if name.endswith("/"):
        return True
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


class SafeArchive:
    """A zip archive opened defensively; every entry was checked before any is read.

    ``source`` is the archive's bytes, a binary file object (seekable) or a path.
    """

    def __init__(
        self, source: bytes | bytearray | IO[bytes] | Path | str, limits: ReadLimits | None = None
    ) -> None:
        self.limits = limits or ReadLimits()
        fileobj: IO[bytes] | str | Path
        fileobj = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
        try:
            self._zip = zipfile.ZipFile(fileobj)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(f"not a readable zip archive: {exc}") from exc
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self.entries: list[ArchiveEntry] = []
        self.junk: list[str] = []
        self._check_all(infos)

    # -- checks on the central directory ------------------------------------------------------

    def _check_all(self, infos: list[zipfile.ZipInfo]) -> None:
        limits = self.limits
        if len(infos) > limits.max_entries:
            raise UnsafeArchiveError(
                f"archive has {len(infos)} entries, more than the limit of {limits.max_entries}"
            )
        total = 0
        for info in infos:
            name = info.filename
            check_entry_name(name)
            if info.flag_bits & _ENCRYPTED_FLAG:
                raise UnsafeArchiveError(f"archive entry {name!r}: encrypted")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(f"archive entry {name!r}: symbolic link")
            if info.file_size > limits.max_entry_size:
                raise UnsafeArchiveError(
                    f"archive entry {name!r}: {info.file_size} bytes uncompressed, "
                    f"more than the limit of {limits.max_entry_size}"
                )
            self._check_ratio(name, info.file_size, info.compress_size)
            total += info.file_size
            if total > limits.max_total_size:
                raise UnsafeArchiveError(
                    f"archive entry {name!r}: total uncompressed size exceeds "
                    f"the limit of {limits.max_total_size} bytes"
                )
            if is_junk(name):
                self.junk.append(name)
                continue
            key = name.upper()
            if key in self._infos:
                raise UnsafeArchiveError(f"archive entry {name!r}: duplicate name")
            self._infos[key] = info
            self.entries.append(ArchiveEntry(name, info.file_size, info.compress_size))
        if self.junk:
            _log.debug("ignored %d junk archive entries", len(self.junk))

    def _check_ratio(self, name: str, size: int, compressed: int) -> None:
        limits = self.limits
        if size >= limits.ratio_floor and size > limits.max_ratio * max(compressed, 1):
            raise UnsafeArchiveError(
                f"archive entry {name!r}: compression ratio above {limits.max_ratio:g}"
            )

    # -- lookup ------------------------------------------------------------------------------

    def find(self, name: str) -> ArchiveEntry | None:
        """The entry called ``name``, compared case-insensitively, or None."""
        info = self._infos.get(name.upper())
        return (
            None
            if info is None
            else ArchiveEntry(info.filename, info.file_size, info.compress_size)
        )

    def names(self) -> list[str]:
        """Names of the regular, non-junk entries in archive order."""
        return [e.name for e in self.entries]

    # -- reading -----------------------------------------------------------------------------

    def iter_chunks(self, name: str, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Stream one entry, enforcing the size and ratio limits on the bytes really inflated."""
        info = self._infos.get(name.upper())
        if info is None:
            raise ArchiveError(f"archive has no entry {name!r}")
        limit = min(info.file_size, self.limits.max_entry_size)
        produced = 0
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(chunk_size):
                    produced += len(chunk)
                    if produced > limit:
                        raise UnsafeArchiveError(
                            f"archive entry {info.filename!r}: inflates beyond its declared size"
                        )
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise ArchiveError(f"archive entry {info.filename!r} is corrupt: {exc}") from exc
        if produced != info.file_size:
            raise ArchiveError(f"archive entry {info.filename!r} is truncated")

    def read(self, name: str) -> bytes:
        """One entry's bytes (checked like :meth:`iter_chunks`)."""
        return b"".join(self.iter_chunks(name))

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SafeArchive(entries={len(self.entries)}, junk={len(self.junk)})"
