"""Parse a received message (raw RFC 5322 bytes) into a typed, read-only :class:`ReceivedMessage`.

Pure: the IMAP edge fetches the bytes, this module reads them. Built on the standard library's
``email`` parser (``policy.default``) and made robust: a malformed header, an unknown charset,
deep MIME nesting or a hostile IHE_XDM.ZIP never raise — each problem is recorded in
``defects`` (mail structure) or ``findings`` (the document package).

MSSanté reading rules: ECO.3.1.1 (tell patients from professionals: :attr:`from_patient`),
ECO.3.1.3 (hide the ``XDM/1.0/DDM+`` prefix: :attr:`display_subject`), ECO.3.1.6 (a message
asking for a read receipt: :attr:`wants_mdn`), X-MSS-* headers (ECO.2.4.x), documents read from
the IHE_XDM.ZIP through the document layer (ECO.2.1.2).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..document.xdm_metadata import Finding, Severity
from ..errors import AddressError, InvalidInputError, MssanteError
from ..identity import INS, PATIENT_DOMAINS, MSSanteAddress
from . import headers as h

if TYPE_CHECKING:
    from ..document import Document
    from .reports import DeliveryReport, DispositionReport

__all__ = [
    "MailAddress",
    "ReceivedAttachment",
    "ReceivedMessage",
    "XMssHeaders",
    "parse_received",
]

_log = logging.getLogger("mssante_client.mail")

_MAX_DEPTH = 32  # MIME nesting deeper than this is hostile or broken
_MAX_PARTS = 1000
_MSG_ID = re.compile(r"<[^<>\s]+>")
_XDM_NAME = re.compile(r"(?i)^IHE_XDM[^/\\]*\.ZIP$")  # also "IHE_XDM (1).zip" from some clients


# --- small value objects -------------------------------------------------------------------


@dataclass(frozen=True)
class MailAddress:
    """An address as found in a header: not necessarily a valid MSSanté address."""

    address: str
    display_name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def is_patient(self) -> bool:
        """Whether it is a Mon espace santé patient mailbox (ECO.3.1.1)."""
        return self.domain in PATIENT_DOMAINS

    def as_mssante(self) -> MSSanteAddress | None:
        try:
            return MSSanteAddress(self.address)
        except AddressError:
            return None

    def lower(self) -> str:
        return self.address.lower()

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        if self.is_patient:  # the local part is the patient's INS
            return f"MailAddress('<patient>@{self.domain}')"
        return f"MailAddress({self.address!r}, {self.display_name!r})"


@dataclass(frozen=True)
class XMssHeaders:
    """The MSSanté headers of a received message (ECO.2.4.1-3, ECO.2.2.8)."""

    nil: str | None = None
    codecda: tuple[str, ...] = ()
    ins: bool | None = None
    mes: str | None = None

    @property
    def end_of_exchange(self) -> bool:
        return (self.mes or "").strip().upper() == "FIN"


@dataclass(frozen=True, eq=False)
class ReceivedAttachment:
    """An attached file; its bytes are decoded only when :attr:`content` is read."""

    filename: str | None
    media_type: str
    _part: Message = field(repr=False)

    @cached_property
    def content(self) -> bytes:
        payload = self._part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload
        # message/* parts: their payload is a parsed message; give its bytes back
        inner = self._part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=email_policy.SMTP)
        if isinstance(inner, str):
            return inner.encode("utf-8", "surrogateescape")
        return b""

    @cached_property
    def size(self) -> int:
        """Decoded size; computed from the base64 text without decoding when possible."""
        cte = str(self._part.get("Content-Transfer-Encoding", "")).strip().lower()
        raw = self._part.get_payload()
        if cte == "base64" and isinstance(raw, str):
            text = "".join(raw.split())
            if len(text) % 4 == 0:
                return len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")))
        return len(self.content)

    @property
    def is_xdm(self) -> bool:
        return bool(self.filename and _XDM_NAME.match(self.filename))


# --- the message ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReceivedMessage:
    """A message read from a mailbox. Immutable; ``repr`` shows no content or patient data."""

    uid: int | None
    flags: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    sender: MailAddress | None
    reply_to: tuple[MailAddress, ...]
    to: tuple[MailAddress, ...]
    cc: tuple[MailAddress, ...]
    subject: str = field(repr=False)
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str | None = field(repr=False)
    html: str | None = field(repr=False)
    attachments: tuple[ReceivedAttachment, ...] = field(repr=False)
    documents: tuple[Document, ...] = field(repr=False)
    findings: tuple[Finding, ...] = field(repr=False)
    xmss: XMssHeaders
    disposition_notification_to: MailAddress | None = field(repr=False)
    return_path: str | None = field(repr=False)  # "" is the null path <>
    report: DeliveryReport | DispositionReport | None = field(repr=False)
    defects: tuple[str, ...]
    raw: bytes = field(repr=False)

    # -- derived -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def display_subject(self) -> str:
        """The subject without the ``XDM/1.0/DDM+`` prefix, for display (ECO.3.1.3)."""
        from ..document.mssante import strip_ddm_prefix

        return str(strip_ddm_prefix(self.subject))

    @property
    def from_patient(self) -> bool:
        """Whether the sender is a patient's Mon espace santé mailbox (ECO.3.1.1)."""
        return self.sender is not None and self.sender.is_patient

    @property
    def sender_ins(self) -> INS | None:
        """The INS of a patient sender, to show the patient rather than the address (ECO.3.1.2).

        Patient data: never log it.
        """
        if self.sender is None or not self.sender.is_patient:
            return None
        address = self.sender.as_mssante()
        return address.ins if address is not None else None

    @property
    def wants_mdn(self) -> bool:
        """Whether the sender asked for a read receipt (Disposition-Notification-To)."""
        return self.disposition_notification_to is not None

    @property
    def mdn_needs_confirmation(self) -> bool:
        """RFC 8098 §2.1: do not send an MDN automatically when DNT differs from Return-Path."""
        dnt = self.disposition_notification_to
        if dnt is None:
            return False
        if not self.return_path:
            return True
        return dnt.lower() != self.return_path.lower()

    @property
    def is_report(self) -> bool:
        return self.report is not None

    @property
    def recipients(self) -> tuple[MailAddress, ...]:
        """To then Cc (Bcc never reaches the recipient's copy)."""
        return self.to + self.cc

    @property
    def reply_address(self) -> MailAddress | None:
        """Where a reply goes: Reply-To (ECO.2.2.5) if set, else From."""
        return self.reply_to[0] if self.reply_to else self.sender

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), unfolded."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.headers if k.lower() == key]

    def __repr__(self) -> str:
        sender = repr(self.sender) if self.sender else None
        return (
            f"ReceivedMessage(uid={self.uid}, message_id={self.message_id!r}, from={sender}, "
            f"attachments={len(self.attachments)}, documents={len(self.documents)}, "
            f"report={type(self.report).__name__ if self.report else None})"
        )


# --- parsing -------------------------------------------------------------------------------


def parse_received(
    raw: bytes, *, uid: int | None = None, flags: Sequence[str] = ()
) -> ReceivedMessage:
    """Parse raw RFC 5322 bytes. Never raises on malformed mail: problems go to ``defects``."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidInputError("raw", f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    defects: list[str] = []
    msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    _collect_defects(msg, "message", defects)

    hdrs = _read_headers(msg)
    sender = _first(_header_addresses(hdrs, "From", defects))
    if sender is None:
        sender = _first(_header_addresses(hdrs, "Sender", defects))
    dnt = _first(_header_addresses(hdrs, "Disposition-Notification-To", defects))
    return_path = _return_path(_header_text(hdrs, "Return-Path"))

    leaves = list(_leaves(msg, defects))
    text, html, body_parts = _bodies(msg, leaves, defects)
    attachments = tuple(
        ReceivedAttachment(_filename(part, defects), part.get_content_type(), part)
        for part in leaves
        if part not in body_parts and not _is_report_part(part)
    )
    documents, findings = _read_documents(attachments)

    report = None
    if msg.get_content_type() == "multipart/report":
        from .reports import parse_report

        try:
            report = parse_report(msg)
        except Exception as exc:
            defects.append(f"report: unreadable ({type(exc).__name__})")

    in_reply_to = _first(_msg_ids(_header_text(hdrs, "In-Reply-To")))
    message_id = _first(_msg_ids(_header_text(hdrs, "Message-ID")))
    return ReceivedMessage(
        uid=uid,
        flags=tuple(str(f) for f in flags),
        headers=hdrs.ordered,
        sender=sender,
        reply_to=tuple(_header_addresses(hdrs, "Reply-To", defects)),
        to=tuple(_header_addresses(hdrs, "To", defects)),
        cc=tuple(_header_addresses(hdrs, "Cc", defects)),
        subject=_header_text(hdrs, "Subject") or "",
        date=_date(hdrs, defects),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=tuple(_msg_ids(_header_text(hdrs, "References"))),
        text=text,
        html=html,
        attachments=attachments,
        documents=tuple(documents),
        findings=tuple(findings),
        xmss=_xmss(hdrs),
        disposition_notification_to=dnt,
        return_path=return_path,
        report=report,
        defects=tuple(defects),
        raw=raw,
    )


def _first(items: Sequence[Any] | Iterator[Any]) -> Any:
    for item in items:
        return item
    return None


def _collect_defects(part: Message, where: str, defects: list[str]) -> None:
    for defect in getattr(part, "defects", ()):
        defects.append(f"{where}: {type(defect).__name__}")


@dataclass(frozen=True)
class _Headers:
    """Each header read once: raw (unfolded) for addresses, decoded for everything else."""

    raw: dict[str, list[str]]
    decoded: dict[str, list[str]]
    ordered: tuple[tuple[str, str], ...]


def _decode(raw: str) -> str:
    """RFC 2047 decoding of an unfolded header value; undecodable parts are kept as they are."""
    try:
        text = str(make_header(decode_header(raw)))
    except (LookupError, ValueError, UnicodeError, email_errors.MessageError):
        text = raw
    if any("\udc80" <= c <= "\udcff" for c in text):  # raw 8-bit bytes (surrogateescape)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _read_headers(msg: Message) -> _Headers:
    raw_items = msg.raw_items() if isinstance(msg, EmailMessage) else msg.items()
    raw: dict[str, list[str]] = {}
    decoded: dict[str, list[str]] = {}
    ordered: list[tuple[str, str]] = []
    for name, value in raw_items:
        unfolded = " ".join(str(value).split())
        text = _decode(unfolded)
        key = name.lower()
        raw.setdefault(key, []).append(unfolded)
        decoded.setdefault(key, []).append(text)
        ordered.append((name, text))
    return _Headers(raw, decoded, tuple(ordered))


def _header_values(headers: _Headers, name: str) -> list[str]:
    return headers.decoded.get(name.lower(), [])


def _header_text(headers: _Headers, name: str) -> str | None:
    values = _header_values(headers, name)
    return values[0] if values else None


def _header_addresses(headers: _Headers, name: str, defects: list[str]) -> list[MailAddress]:
    """Addresses split on the RAW value (an encoded display name may hold a comma)."""
    out: list[MailAddress] = []
    for value in headers.raw.get(name.lower(), []):
        try:
            pairs = getaddresses([value])
        except Exception as exc:  # the stdlib can raise on hostile headers
            defects.append(f"{name}: unreadable address list ({type(exc).__name__})")
            continue
        for display, address in pairs:
            address = address.strip()
            if not address or "@" not in address:
                if address or display:
                    defects.append(f"{name}: an address without @ was ignored")
                continue
            out.append(MailAddress(_decode(address), _decode(display)))
    return out


def _return_path(value: str | None) -> str | None:
    """The reverse path: ``""`` for the null path ``<>`` (reports), None when absent."""
    if value is None:
        return None
    found = re.search(r"<([^<>]*)>", value)
    return (found.group(1) if found else value).strip()


def _msg_ids(value: str | None) -> list[str]:
    return _MSG_ID.findall(value) if value else []


def _date(headers: _Headers, defects: list[str]) -> datetime | None:
    value = _header_text(headers, "Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        defects.append("Date: not an RFC 5322 date")
        return None


def _xmss(headers: _Headers) -> XMssHeaders:
    return XMssHeaders(
        nil=_header_text(headers, h.X_MSS_NIL),
        codecda=h.parse_codecda(_header_values(headers, h.X_MSS_CODECDA)),
        ins=h.parse_ins_flag(_header_text(headers, h.X_MSS_INS)),
        mes=_header_text(headers, h.X_MSS_MES),
    )


def _leaves(msg: Message, defects: list[str]) -> Iterator[Message]:
    """Non-multipart parts in order; message/* parts are leaves (never walked into)."""
    count = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if part is not msg:
            _collect_defects(part, "part", defects)
        if part.get_content_maintype() == "multipart":
            if depth >= _MAX_DEPTH:
                defects.append("MIME nesting too deep: the rest was ignored")
                continue
            children = part.get_payload()
            if not isinstance(children, list):
                defects.append("multipart without parts")
                continue
            stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Message))
            continue
        count += 1
        if count > _MAX_PARTS:
            defects.append(f"more than {_MAX_PARTS} MIME parts: the rest was ignored")
            return
        yield part


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return (
        disposition == "attachment"
        or part.get_param("name") is not None
        or bool(part.get_filename(None) if disposition else False)
    )


def _bodies(
    msg: Message, leaves: list[Message], defects: list[str]
) -> tuple[str | None, str | None, list[Message]]:
    text_part = html_part = None
    for part in leaves:
        if _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and text_part is None:
            text_part = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    body_parts = [p for p in (text_part, html_part) if p is not None]
    return (
        _decode_text(text_part, defects) if text_part is not None else None,
        _decode_text(html_part, defects) if html_part is not None else None,
        body_parts,
    )


def _decode_text(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        defects.append(f"unknown charset {charset[:40]!r}: read as UTF-8")
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")


def _filename(part: Message, defects: list[str]) -> str | None:
    try:
        name = part.get_filename(None) or part.get_param("name")
    except Exception as exc:
        defects.append(f"attachment name unreadable ({type(exc).__name__})")
        return None
    if isinstance(name, tuple):  # RFC 2231 raw triple
        name = name[2]
    if not isinstance(name, str):
        return None
    # never trust a path: keep the last component, no control characters
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or None


def _is_report_part(part: Message) -> bool:
    return part.get_content_type() in {
        "message/delivery-status",
        "message/disposition-notification",
        "message/global-delivery-status",
        "message/global-disposition-notification",
    }


def _read_documents(
    attachments: Sequence[ReceivedAttachment],
) -> tuple[list[Document], list[Finding]]:
    """Documents of every IHE_XDM.ZIP attachment (ECO.2.1.2), through the document layer.

    A hostile or broken archive becomes an ``error`` finding named after the attachment;
    it never stops the message from being read.
    """
    from ..document.xdm_read import read_xdm

    documents: list[Document] = []
    findings: list[Finding] = []
    for attachment in attachments:
        if not attachment.is_xdm:
            continue
        try:
            package = read_xdm(attachment.content)
        except MssanteError as exc:
            findings.append(
                Finding(type(exc).__name__, Severity.ERROR, attachment.filename, str(exc))
            )
            continue
        except Exception as exc:  # a hostile archive must not stop reading the mail
            _log.warning("IHE_XDM.ZIP could not be read: %s", type(exc).__name__)
            findings.append(
                Finding(
                    type(exc).__name__,
                    Severity.ERROR,
                    attachment.filename,
                    "the archive could not be read",
                )
            )
            continue
        documents.extend(package.documents)
        findings.extend(package.findings)
    return documents, findings
