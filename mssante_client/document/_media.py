"""Media type of a level-1 CDA payload, sniffed from its bytes.

The declared ``mediaType`` of a received document, or the type a caller claims, is never
trusted: what is inside decides (digest §3 "Safe parsing" step 6). Only the formats the CI-SIS
allows in a ``nonXMLBody`` are recognised.
"""

from __future__ import annotations

__all__ = ["LEVEL1_MEDIA_TYPES", "sniff_media_type"]

LEVEL1_MEDIA_TYPES = frozenset(
    {"application/pdf", "image/jpeg", "image/tiff", "text/plain", "text/rtf"}
)


def sniff_media_type(data: bytes) -> str:
    """Return the media type recognised from magic bytes, ``application/octet-stream`` if none.

    PDF ``%PDF-``, JPEG ``FF D8 FF``, TIFF ``II*\\0`` / ``MM\\0*``, RTF ``{\\rtf``; UTF-8 text
    without control characters (other than tab/CR/LF/FF) is ``text/plain``.
    """
    head = data[:8]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"{\\rtf"):
        return "text/rtf"
    if data and _is_text(data):
        return "text/plain"
    return "application/octet-stream"


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch >= " " or ch in "\t\r\n\f" for ch in text)
