"""A safe lxml parser for every XML the document layer reads (CDA, METADATA.XML).

Documents arrive from other organisations by e-mail: they are untrusted. The parser never loads
a DTD, never expands entities, never touches the network, and a document carrying a DOCTYPE is
refused outright (XXE and "billion laughs" both need one). lxml errors are translated into
:class:`~mssante_client.errors.XMLError` here, at the edge.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..errors import XMLError

__all__ = ["MAX_XML_BYTES", "safe_parse"]

#: Upper bound on one XML document; a level-1 CDA carrying a large scanned PDF stays well below.
MAX_XML_BYTES = 200 * 1024 * 1024


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # base64 payloads are long text nodes; entities are off anyway
        remove_blank_text=False,
    )


def safe_parse(data: bytes, *, what: str = "XML document") -> etree._Element:
    """Parse untrusted XML bytes and return the root element.

    Raises :class:`XMLError` for malformed XML, a DOCTYPE (DTD, entity declarations) or an
    oversized document. ``what`` names the document in the error message (no content is echoed).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise XMLError(f"{what}: expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > MAX_XML_BYTES:
        raise XMLError(f"{what}: larger than {MAX_XML_BYTES} bytes")
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"{what}: not well-formed XML ({exc.msg})") from exc
    if root is None:
        raise XMLError(f"{what}: empty document")
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XMLError(f"{what}: a DOCTYPE is not allowed (DTD and entities are refused)")
    for node in root.iter(etree.Entity):
        raise XMLError(f"{what}: entity references are not allowed ({node.tag!r})")
    return root
