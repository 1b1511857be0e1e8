"""The safe zip reader refuses hostile archives with typed errors naming the entry."""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile

import pytest

from mssante_client.document.archive import ReadLimits, SafeArchive, check_entry_name, is_junk
from mssante_client.errors import ArchiveError, UnsafeArchiveError


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose in one test
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in entries.items():
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def set_flag_bits(data: bytes, bits: int) -> bytes:
    """Set general-purpose flag bits in every local and central header (crafted bytes)."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := raw.find(signature, start)) != -1:
            (flags,) = struct.unpack_from("<H", raw, pos + offset)
            struct.pack_into("<H", raw, pos + offset, flags | bits)
            start = pos + 4
    return bytes(raw)


def test_reads_regular_entries_case_insensitively_and_sets_junk_aside() -> None:
    data = make_zip(
        {
            "README.TXT": b"hello",
            "IHE_XDM/SUBSET01/DOC0001.XML": b"<x/>",
            "__MACOSX/._README.TXT": b"junk",
            "IHE_XDM/.DS_Store": b"junk",
            ".svn/entries": b"junk",
        }
    )
    with SafeArchive(data) as archive:
        assert archive.names() == ["README.TXT", "IHE_XDM/SUBSET01/DOC0001.XML"]
        assert sorted(archive.junk) == [
            ".svn/entries",
            "IHE_XDM/.DS_Store",
            "__MACOSX/._README.TXT",
        ]
        assert archive.read("readme.txt") == b"hello"
        entry = archive.find("ihe_xdm/subset01/doc0001.xml")
        assert entry is not None and entry.size == 4
        assert archive.find("missing") is None
        with pytest.raises(ArchiveError):
            archive.read("missing")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "'..'"),
        ("IHE_XDM/../../evil.txt", "'..'"),
        ("/etc/passwd", "absolute"),
        ("IHE_XDM\\..\\evil.txt", "backslash"),
        ("C:/Windows/evil.txt", "drive letter"),
        ("__MACOSX/../../evil.txt", "'..'"),
    ],
)
def test_zip_slip_names_are_refused(name: str, reason: str) -> None:
    data = make_zip({"README.TXT": b"ok", name: b"x"})
    with pytest.raises(UnsafeArchiveError) as caught:
        SafeArchive(data)
    assert reason in str(caught.value)
    assert repr(name)[1:-1] in str(caught.value)


def test_entry_name_rules_directly() -> None:
    check_entry_name("IHE_XDM/SUBSET01/DOC0001.XML")
    for bad in ("", "a\x00b", "..", "a/../b"):
        with pytest.raises(UnsafeArchiveError):
            check_entry_name(bad)
    assert is_junk("IHE_XDM/") and is_junk("__MACOSX/x") and is_junk("a/.hidden")
    assert not is_junk("IHE_XDM/SUBSET01/METADATA.XML")


def test_bomb_by_compression_ratio() -> None:
    data = make_zip({"IHE_XDM/SUBSET01/DOC0001.XML": b"\x00" * (4 * 1024 * 1024)})
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        SafeArchive(data)
    # The same archive passes when the caller raises the ratio ceiling.
    with SafeArchive(data, ReadLimits(max_ratio=100_000)) as archive:
        assert len(archive.read("IHE_XDM/SUBSET01/DOC0001.XML")) == 4 * 1024 * 1024


def test_bomb_by_total_size() -> None:
    entries = {f"IHE_XDM/SUBSET01/DOC{i:04d}.XML": bytes(range(256)) * 400 for i in range(5)}
    data = make_zip(entries, compression=zipfile.ZIP_STORED)
    limits = ReadLimits(max_total_size=300_000)
    with pytest.raises(UnsafeArchiveError, match="total uncompressed size") as caught:
        SafeArchive(data, limits)
    assert "DOC0002.XML" in str(caught.value)


def test_bomb_by_entry_size() -> None:
    data = make_zip({"big.bin": bytes(range(256)) * 4096}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchiveError, match=r"'big\.bin'"):
        SafeArchive(data, ReadLimits(max_entry_size=1024))


def test_bomb_by_entry_count() -> None:
    data = make_zip({f"f{i}.txt": b"x" for i in range(11)})
    with pytest.raises(UnsafeArchiveError, match="11 entries"):
        SafeArchive(data, ReadLimits(max_entries=10))
    with SafeArchive(data, ReadLimits(max_entries=11)) as archive:
        assert len(archive.entries) == 11


def test_encrypted_entry_is_refused() -> None:
    data = set_flag_bits(make_zip({"IHE_XDM/SUBSET01/DOC0001.XML": b"<secret/>"}), 0x1)
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x1  # crafted as meant
    with pytest.raises(UnsafeArchiveError, match=r"DOC0001\.XML.*encrypted"):
        SafeArchive(data)


def test_symlink_entry_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("IHE_XDM/SUBSET01/DOC0001.XML")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        SafeArchive(buffer.getvalue())


def test_duplicate_names_differing_only_in_case_are_refused() -> None:
    data = make_zip({"IHE_XDM/SUBSET01/DOC0001.XML": b"a", "IHE_XDM/SUBSET01/doc0001.xml": b"b"})
    with pytest.raises(UnsafeArchiveError, match="duplicate"):
        SafeArchive(data)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_malformed_archive_raises_archive_error(data: bytes) -> None:
    with pytest.raises(ArchiveError) as caught:
        SafeArchive(data)
    assert not isinstance(caught.value, UnsafeArchiveError)


def test_declared_size_smaller_than_content_is_caught_while_streaming() -> None:
    """The central directory lies (declares 10 bytes): inflating must not trust it."""
    payload = b"A" * 5000
    data = bytearray(make_zip({"doc.xml": payload}))
    cd = data.find(b"PK\x01\x02")
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, cd + 24, 10)  # uncompressed size in the central directory
    struct.pack_into("<I", data, local + 22, 10)  # ... and in the local header
    with SafeArchive(bytes(data)) as archive:
        assert archive.find("doc.xml").size == 10  # type: ignore[union-attr]
        with pytest.raises(ArchiveError, match=r"doc\.xml"):
            archive.read("doc.xml")


def test_declared_size_larger_than_content_is_reported_truncated() -> None:
    data = bytearray(make_zip({"doc.xml": b"B" * 100}, compression=zipfile.ZIP_STORED))
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 200)
    with SafeArchive(bytes(data)) as archive, pytest.raises(ArchiveError):
        archive.read("doc.xml")


def test_corrupted_deflate_stream_is_an_archive_error() -> None:
    data = bytearray(make_zip({"doc.xml": bytes(range(256)) * 50}))
    local = data.find(b"PK\x03\x04")
    start = local + 30 + len("doc.xml")
    for i in range(start + 5, start + 40):
        data[i] ^= 0xFF
    with SafeArchive(bytes(data)) as archive, pytest.raises(ArchiveError, match=r"doc\.xml"):
        archive.read("doc.xml")


def test_repr_has_no_entry_names() -> None:
    with SafeArchive(make_zip({"PATIENT_NAME.XML": b"x"})) as archive:
        assert "PATIENT" not in repr(archive)
