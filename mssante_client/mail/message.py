"""Compose an MSSanté message: a pure, typed model turned into RFC 5322 bytes ready for SMTP.

:class:`Message` holds what the sender means (who, to whom, which documents, which receipts);
:meth:`Message.compose` applies the Référentiel #2 rules and returns a :class:`ComposedMessage`
(envelope + CRLF bytes). No socket here: the SMTP edge only sends what it is given.

Rules applied (Référentiel socle MSSanté #2, "Clients de messageries"):

* ECO.2.1.1 — documents of ONE patient go as an ``IHE_XDM.ZIP`` plus their PDF companion(s);
  ECO.2.1.3 — the subject then defaults to ``XDM/1.0/DDM+...``; ECO.2.1.6 — the PDF name.
* ECO.2.2.1 / 2.2.2 — Message-ID on the sender's domain; In-Reply-To / References on replies.
* ECO.2.2.3 / 2.2.4 — UTF-8 text/plain, or multipart/alternative when an HTML body is given.
* ECO.2.2.5 — optional Reply-To. ECO.2.2.6 — patient addresses only from a qualified INS.
* ECO.2.2.7 — sender display name (see :mod:`.headers`). ECO.2.2.8 — ``X-MSS-MES: FIN``.
* ECO.2.3.1 — DSN options (RFC 3461) carried to the envelope; ECO.2.3.2 — read receipt
  (``Disposition-Notification-To``). ECO.2.4.1-3 — X-MSS-CODECDA / X-MSS-INS / X-MSS-NIL.

MIME is built with the standard library (``email.message.EmailMessage`` and an SMTP policy),
never by hand; header values are checked for CR/LF first so injection is impossible.
"""

from __future__ import annotations

import enum
import hashlib
import mimetypes
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..document import Document
from ..errors import AddressError, MessageError
from ..identity import INS, PATIENT_DOMAIN, PATIENT_DOMAINS, MSSanteAddress
from . import headers as h

if TYPE_CHECKING:
    from .received import ReceivedMessage

__all__ = [
    "Attachment",
    "ComposedMessage",
    "DsnNotify",
    "DsnOptions",
    "DsnReturn",
    "Message",
    "Sender",
    "guess_media_type",
]

#: SMTP policy: CRLF line endings, 78-column folding, RFC 2047 headers, 7-bit safe bodies.
MAIL_POLICY = email_policy.SMTP.clone(cte_type="7bit")

_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"<?xml", "application/xml"),
    (b"\xef\xbb\xbf<?xml", "application/xml"),
    (b"DICM", "application/dicom"),
)


def guess_media_type(filename: str, content: bytes) -> str:
    """Media type from the content's magic bytes first, then the file name, else octet-stream."""
    head = content[:16]
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if len(content) > 132 and content[128:132] == b"DICM":
        return "application/dicom"
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


# --- small value objects -----------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """The From of a message: an MSSanté address and its display name (ECO.2.2.7)."""

    address: MSSanteAddress
    display_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _address("from", self.address))
        if self.display_name is not None:
            name = h.safe_header_value("display_name", self.display_name, max_length=200).strip()
            object.__setattr__(self, "display_name", name or None)

    @classmethod
    def person(
        cls,
        address: MSSanteAddress | str,
        *,
        first_name: str,
        last_name: str,
        title: str | None = None,
        entity: str | None = None,
    ) -> Sender:
        """A personal (PER) mailbox: ``<Titre>_<Prénom>_<NOM>_<Entité>``."""
        name = h.person_display_name(
            first_name=first_name, last_name=last_name, title=title, entity=entity
        )
        return cls(_address("from", address), name)

    @classmethod
    def entity(cls, address: MSSanteAddress | str, name: str) -> Sender:
        """An organisational / applicative (ORG/APP) mailbox: the functional entity name."""
        return cls(_address("from", address), h.entity_display_name(name))

    def header(self) -> Address:
        local, _, domain = str(self.address).rpartition("@")
        return Address(display_name=self.display_name or "", username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    """Any file to attach: a name, its bytes and a media type (guessed when not given)."""

    filename: str
    content: bytes = field(repr=False)
    media_type: str = ""

    def __post_init__(self) -> None:
        name = h.safe_header_value("attachment.filename", self.filename, max_length=255).strip()
        if not name or name in {".", ".."} or any(c in name for c in "/\\"):
            raise MessageError("attachment.filename", "must be a plain file name (no path)")
        if not isinstance(self.content, bytes | bytearray | memoryview):
            raise MessageError("attachment.content", "must be bytes")
        media_type = (self.media_type or guess_media_type(name, bytes(self.content))).lower()
        if not _MEDIA_TYPE.fullmatch(media_type):
            raise MessageError("attachment.media_type", "must look like type/subtype")
        object.__setattr__(self, "filename", name)
        object.__setattr__(self, "content", bytes(self.content))
        object.__setattr__(self, "media_type", media_type)

    @classmethod
    def from_path(
        cls, path: str | Path, *, filename: str | None = None, media_type: str = ""
    ) -> Attachment:
        p = Path(path)
        try:
            content = p.read_bytes()
        except OSError as exc:
            raise MessageError("attachment", f"cannot read {p.name}: {exc.strerror}") from exc
        return cls(filename or p.name, content, media_type)

    @property
    def size(self) -> int:
        return len(self.content)


class DsnNotify(enum.StrEnum):
    """RFC 3461 NOTIFY values."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"
    NEVER = "NEVER"


class DsnReturn(enum.StrEnum):
    """RFC 3461 RET: return the full message or only its headers in a DSN."""

    FULL = "FULL"
    HDRS = "HDRS"


def xtext(value: str) -> str:
    """RFC 3461 §4 xtext: ``+`` ``=`` and anything outside ``!``..``~`` as ``+XX``."""
    out = []
    for byte in value.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (ord("+"), ord("=")):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


@dataclass(frozen=True)
class DsnOptions:
    """Delivery status notification request (ECO.2.3.1), carried to MAIL FROM / RCPT TO.

    ``envid`` (ENVID) comes back in the DSN as Original-Envelope-Id; when left empty, compose()
    sets it from the Message-ID so that a DSN can be tied to the message it reports on.
    """

    notify: frozenset[DsnNotify] = frozenset({DsnNotify.SUCCESS, DsnNotify.FAILURE})
    ret: DsnReturn | None = DsnReturn.HDRS
    envid: str | None = None

    def __post_init__(self) -> None:
        notify = frozenset(DsnNotify(str(n).upper()) for n in self.notify)
        if not notify:
            raise MessageError("dsn.notify", "must not be empty (use NEVER)")
        if DsnNotify.NEVER in notify and len(notify) > 1:
            raise MessageError("dsn.notify", "NEVER cannot be combined with other values")
        object.__setattr__(self, "notify", notify)
        if self.ret is not None:
            object.__setattr__(self, "ret", DsnReturn(str(self.ret).upper()))
        if self.envid is not None:
            envid = h.safe_header_value("dsn.envid", self.envid, max_length=100)
            if not envid.isascii():
                raise MessageError("dsn.envid", "must be ASCII")
            object.__setattr__(self, "envid", envid)

    @classmethod
    def parse(
        cls, notify: str, *, ret: str | None = "HDRS", envid: str | None = None
    ) -> DsnOptions:
        """From a comma-separated list such as ``success,failure`` (the CLI form)."""
        values = [v.strip() for v in notify.split(",") if v.strip()]
        try:
            parsed = frozenset(DsnNotify(v.upper()) for v in values)
            ret_value = DsnReturn(ret.upper()) if ret else None
        except ValueError as exc:
            raise MessageError("dsn", f"unknown DSN option: {exc}") from exc
        return cls(parsed, ret_value, envid)

    def mail_options(self) -> list[str]:
        """ESMTP parameters for MAIL FROM (``RET=``, ``ENVID=``)."""
        options = []
        if self.ret is not None:
            options.append(f"RET={self.ret.value}")
        if self.envid:
            options.append(f"ENVID={xtext(self.envid)}")
        return options

    def rcpt_options(self) -> list[str]:
        """ESMTP parameters for each RCPT TO (``NOTIFY=``)."""
        order = [DsnNotify.SUCCESS, DsnNotify.FAILURE, DsnNotify.DELAY, DsnNotify.NEVER]
        return ["NOTIFY=" + ",".join(n.value for n in order if n in self.notify)]


# --- the composed form ---------------------------------------------------------------------


@dataclass(frozen=True)
class ComposedMessage:
    """A message ready for SMTP: the envelope and the exact bytes (CRLF line endings).

    ``mail_from`` is empty for a report sent with the null reverse-path ``<>`` (RFC 8098 MDN).
    ``repr`` hides the bytes and the patient addresses (they hold an INS).
    """

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str
    dsn: DsnOptions | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def mail_options(self) -> list[str]:
        return self.dsn.mail_options() if self.dsn else []

    def rcpt_options(self) -> list[str]:
        return self.dsn.rcpt_options() if self.dsn else []

    def __repr__(self) -> str:
        shown = [mask_address(r) for r in self.recipients]
        return (
            f"ComposedMessage(mail_from={self.mail_from!r}, recipients={shown}, "
            f"message_id={self.message_id!r}, size={self.size})"
        )


def mask_address(address: str) -> str:
    """An address fit for a log line: a patient's INS local part is hidden."""
    domain = address.rpartition("@")[2]
    return f"<patient>@{domain}" if domain.lower() in PATIENT_DOMAINS else address


@lru_cache(maxsize=1024)
def _validated(address: str) -> MSSanteAddress:
    """Validation by email-validator is the costly part of composing a small message; the
    same few addresses come back again and again (immutable results, errors not cached)."""
    return MSSanteAddress(address)


def _address(field_name: str, value: object) -> MSSanteAddress:
    if isinstance(value, MSSanteAddress):
        return value
    if isinstance(value, str):
        try:
            return _validated(value.strip())
        except AddressError as exc:
            raise AddressError(field_name, exc.reason) from None
    raise AddressError(field_name, f"expected an MSSanté address, got {type(value).__name__}")


def _addresses(field_name: str, values: Iterable[object]) -> tuple[MSSanteAddress, ...]:
    if isinstance(values, str | MSSanteAddress):
        values = [values]
    out: list[MSSanteAddress] = []
    for v in values:
        a = _address(field_name, v)
        if a not in out:
            out.append(a)
    return tuple(out)


# --- the message -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message:
    """What to send. Immutable and validated on construction; :meth:`compose` makes the bytes.

    ``patients`` are qualified INS: their ``<INS>@patient.mssante.fr`` address is added to To
    (ECO.2.2.6; ``patient_domain`` changes the domain for the sandbox). ``documents`` are CDA
    documents of one patient, sent as IHE_XDM.ZIP + companion PDF(s) (ECO.2.1.1); a document
    without a PDF companion (structured CDA) is refused unless ``require_companion_pdf=False``
    (the PDF/A rendering of a level-3 CDA is not produced by this SDK).
    """

    sender: Sender | MSSanteAddress | str
    to: Sequence[MSSanteAddress | str] = ()
    cc: Sequence[MSSanteAddress | str] = ()
    bcc: Sequence[MSSanteAddress | str] = ()
    patients: Sequence[INS] = ()
    patient_domain: str = PATIENT_DOMAIN
    # repr=False: a DDM subject and the bodies carry patient names (never in a log line)
    subject: str | None = field(default=None, repr=False)
    body: str = field(default="", repr=False)
    html: str | None = field(default=None, repr=False)
    reply_to_address: MSSanteAddress | str | None = None
    attachments: Sequence[Attachment] = ()
    documents: Sequence[Document] = ()
    dossier: str | None = field(default=None, repr=False)
    require_companion_pdf: bool = True
    end_of_exchange: bool = False
    read_receipt: bool = False
    dsn: DsnOptions | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    message_id: str | None = None

    def __post_init__(self) -> None:
        sender = self.sender
        if not isinstance(sender, Sender):
            sender = Sender(_address("from", sender))
        set_ = object.__setattr__
        set_(self, "sender", sender)
        set_(self, "to", _addresses("to", self.to))
        set_(self, "cc", _addresses("cc", self.cc))
        set_(self, "bcc", _addresses("bcc", self.bcc))
        patients = tuple(self.patients)
        for ins in patients:
            if not isinstance(ins, INS):
                raise MessageError("patients", "expected INS objects")
            if not ins.qualified:
                raise MessageError(
                    "patients", "a patient address needs a qualified INS (ECO.2.2.6)"
                )
        set_(self, "patients", tuple(dict.fromkeys(patients)))
        if self.subject is not None:
            set_(self, "subject", h.safe_header_value("subject", self.subject).strip())
        if not isinstance(self.body, str):
            raise MessageError("body", "must be text")
        if self.html is not None and not isinstance(self.html, str):
            raise MessageError("html", "must be text")
        if self.reply_to_address is not None:
            set_(self, "reply_to_address", _address("reply_to", self.reply_to_address))
        attachments = tuple(self.attachments)
        if any(not isinstance(a, Attachment) for a in attachments):
            raise MessageError("attachments", "expected Attachment objects")
        set_(self, "attachments", attachments)
        documents = tuple(self.documents)
        if any(not isinstance(d, Document) for d in documents):
            raise MessageError("documents", "expected Document objects")
        set_(self, "documents", documents)
        if self.patient_domain not in PATIENT_DOMAINS:
            # never send an INS to a domain that is not Mon espace santé's (ECO.2.2.6)
            raise MessageError("patient_domain", f"must be one of {sorted(PATIENT_DOMAINS)}")
        if self.dossier is not None:
            set_(self, "dossier", h.safe_header_value("dossier", self.dossier, max_length=64))
        if self.in_reply_to is not None:
            set_(self, "in_reply_to", h.validate_msg_id("In-Reply-To", self.in_reply_to))
        set_(
            self,
            "references",
            tuple(h.validate_msg_id("References", r) for r in self.references),
        )
        if self.message_id is not None:
            set_(self, "message_id", h.validate_msg_id("Message-ID", self.message_id))
        if self.dsn is not None and not isinstance(self.dsn, DsnOptions):
            raise MessageError("dsn", "expected DsnOptions")
        self._check_rules()

    # -- rules ---------------------------------------------------------------------------

    @property
    def from_(self) -> Sender:
        assert isinstance(self.sender, Sender)
        return self.sender

    def patient_addresses(self) -> tuple[MSSanteAddress, ...]:
        return tuple(ins.patient_address(self.patient_domain) for ins in self.patients)

    def all_recipients(self) -> tuple[MSSanteAddress, ...]:
        """To (incl. patients), Cc then Bcc, without duplicates: the SMTP envelope."""
        seen: list[MSSanteAddress] = []
        for a in (*self.to, *self.patient_addresses(), *self.cc, *self.bcc):
            assert isinstance(a, MSSanteAddress)
            if a not in seen:
                seen.append(a)
        return tuple(seen)

    def _check_rules(self) -> None:
        recipients = self.all_recipients()
        if not recipients:
            raise MessageError("recipients", "a message needs at least one recipient")
        patient_rcpts = [a for a in recipients if a.is_patient]
        if self.end_of_exchange and not patient_rcpts:
            raise MessageError("end_of_exchange", "X-MSS-MES: FIN is only for patients (ECO.2.2.8)")
        if self.documents:
            if len(patient_rcpts) > 1:
                raise MessageError(
                    "patients", "a mail carrying documents concerns one patient (ECO.2.1.1)"
                )
            doc_ins = _documents_patient(self.documents)
            if doc_ins is not None and patient_rcpts:
                rcpt_ins = patient_rcpts[0].ins
                if rcpt_ins is not None and rcpt_ins.value != doc_ins:
                    raise MessageError(
                        "patients",
                        "the patient recipient is not the patient of the documents (ECO.2.1.1)",
                    )

    # -- helpers ---------------------------------------------------------------------------

    @classmethod
    def reply_to(
        cls,
        received: ReceivedMessage,
        *,
        sender: Sender | MSSanteAddress | str,
        body: str,
        html: str | None = None,
        reply_all: bool = False,
        attachments: Sequence[Attachment] = (),
        documents: Sequence[Document] = (),
        read_receipt: bool = False,
        dsn: DsnOptions | None = None,
        end_of_exchange: bool = False,
    ) -> Message:
        """A reply to a received message, threaded with In-Reply-To / References (ECO.2.2.2).

        Answering a patient, ``end_of_exchange=True`` closes the conversation (ECO.2.2.8).
        """
        target = received.reply_address
        if target is None:
            raise MessageError("to", "the received message has no From or Reply-To to answer")
        own = _address("from", sender.address if isinstance(sender, Sender) else sender)
        to = [target.address]
        cc: list[str] = []
        if reply_all:
            cc = [a.address for a in (*received.to, *received.cc) if a.lower() != str(own).lower()]
        subject = received.subject or ""
        if not re.match(r"(?i)\s*re\s*:", subject):
            subject = f"Re: {subject}".strip()
        # ids written by other software may not be RFC 5322 msg-ids: thread with those that are
        parent = received.message_id if h.is_msg_id(received.message_id) else None
        refs = [r for r in received.references if h.is_msg_id(r)]
        if parent and parent not in refs:
            refs.append(parent)
        return cls(
            sender=sender,
            to=to,
            cc=[c for c in cc if c.lower() != target.lower()],
            subject=subject,
            body=body,
            html=html,
            attachments=attachments,
            documents=documents,
            read_receipt=read_receipt,
            dsn=dsn,
            end_of_exchange=end_of_exchange,
            in_reply_to=parent,
            references=refs[-20:],
        )

    # -- composition -------------------------------------------------------------------------

    def compose(
        self,
        *,
        nil: str | None = None,
        now: datetime | None = None,
        message_id_domain: str | None = None,
        max_size: int | None = None,
    ) -> ComposedMessage:
        """Build the RFC 5322 bytes and the SMTP envelope.

        ``nil`` is the X-MSS-NIL product reference (ECO.2.4.3), configured once per mailbox.
        ``max_size`` is the operator's limit in bytes; towards a patient, 25 MB at most.
        Raises MessageError (nothing is sent) when a rule or the size limit is broken.
        """
        sender = self.from_
        domain = message_id_domain or sender.address.domain
        message_id = self.message_id or make_msgid(domain=domain)
        h.validate_msg_id("Message-ID", message_id)
        when = now or datetime.now(UTC)
        if when.tzinfo is None:
            raise MessageError("now", "must be a timezone-aware datetime")

        limit = max_size
        if any(a.is_patient for a in self.all_recipients()):
            limit = min(limit or h.PATIENT_MAX_MESSAGE_SIZE, h.PATIENT_MAX_MESSAGE_SIZE)
        attachments, subject, codecda, ins_flag = self._document_parts()
        if subject is None:
            subject = self.subject or ""
        # refuse early, before encoding: base64 alone makes each attachment 4/3 larger
        floor = sum((a.size + 2) // 3 * 4 for a in attachments) + len(self.body)
        if limit is not None and floor > limit:
            raise MessageError("size", f"the message exceeds {floor} bytes, over the {limit} limit")

        msg = EmailMessage(policy=MAIL_POLICY)
        msg["From"] = sender.header()
        to = (*self.to, *self.patient_addresses())
        if to:
            msg["To"] = ", ".join(dict.fromkeys(str(a) for a in to))
        if self.cc:
            msg["Cc"] = ", ".join(str(a) for a in self.cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = message_id
        if self.in_reply_to:
            msg["In-Reply-To"] = self.in_reply_to
        if self.references:
            msg["References"] = " ".join(self.references)
        if self.reply_to_address is not None:
            msg["Reply-To"] = str(self.reply_to_address)
        if self.read_receipt:
            msg["Disposition-Notification-To"] = str(sender.address)
        if nil is not None:
            msg[h.X_MSS_NIL] = h.validate_nil(nil)
        if codecda:
            msg[h.X_MSS_CODECDA] = codecda
        if ins_flag is not None:
            msg[h.X_MSS_INS] = ins_flag
        if self.end_of_exchange:
            msg[h.X_MSS_MES] = "FIN"

        msg.set_content(_normalize_text(self.body), subtype="plain", charset="utf-8")
        if self.html is not None:
            msg.add_alternative(_normalize_text(self.html), subtype="html", charset="utf-8")
        for attachment in attachments:
            if attachment.media_type == "message/rfc822":  # never base64 (RFC 2046)
                attach_message_file(msg, attachment.content, attachment.filename)
                continue
            maintype, _, subtype = attachment.media_type.partition("/")
            msg.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params={"name": attachment.filename},
            )
        finish_mime(msg, message_id)

        try:
            data = msg.as_bytes(policy=MAIL_POLICY)
        except (ValueError, TypeError) as exc:  # defensive: the stdlib refused a header
            raise MessageError("message", f"cannot be serialised: {exc}") from None

        if limit is not None and len(data) > limit:
            raise MessageError("size", f"the message is {len(data)} bytes, over the {limit} limit")

        dsn = self.dsn
        if dsn is not None and dsn.envid is None:
            dsn = DsnOptions(dsn.notify, dsn.ret, message_id.strip("<>"))
        return ComposedMessage(
            mail_from=str(sender.address),
            recipients=tuple(str(a) for a in self.all_recipients()),
            data=data,
            message_id=message_id,
            dsn=dsn,
        )

    def _document_parts(self) -> tuple[list[Attachment], str | None, str | None, str | None]:
        """Attachments in order (IHE_XDM.ZIP, PDFs, then the others), DDM subject, X-MSS values."""
        if not self.documents:
            return list(self.attachments), None, None, None
        from ..document.mssante import (
            companion_pdf,
            companion_pdf_name,
            ddm_subject,
            x_mss_codecda,
            x_mss_ins,
        )
        from ..document.xdm import build_xdm

        docs = list(self.documents)
        # intendedRecipient: the visible recipients only (a Bcc must not show in the package)
        visible = dict.fromkeys([*self.to, *self.patient_addresses(), *self.cc])
        package = build_xdm(docs, intended_recipients=[str(a) for a in visible])
        parts = [Attachment("IHE_XDM.ZIP", package, "application/zip")]
        for doc in docs:
            pdf = companion_pdf(doc)
            if pdf is None and not self.require_companion_pdf:
                continue
            if pdf is None:
                raise MessageError(
                    "documents", "a document has no PDF companion to attach (ECO.2.1.1)"
                )
            parts.append(Attachment(companion_pdf_name(doc, self.dossier), pdf, "application/pdf"))
        parts.extend(self.attachments)
        subject = self.subject or ddm_subject(docs)
        return parts, subject, h.format_codecda(x_mss_codecda(docs)), x_mss_ins(docs)


def _own_parts(msg: MIMEPart) -> Iterator[MIMEPart]:
    """``msg`` and its sub-parts, without entering an embedded message (message/*)."""
    yield msg
    if msg.get_content_maintype() == "multipart":
        for part in msg.iter_parts():
            yield from _own_parts(part)


def finish_mime(msg: EmailMessage, seed: str) -> None:
    """Last touches before serialising: MIME-Version only at the top (the stdlib adds it to
    sub-parts it creates) and multipart boundaries derived from ``seed`` (the Message-ID), so
    that the same message, date and id always give the same bytes. A boundary is checked not to
    occur in any part's content."""
    parts = list(_own_parts(msg))
    texts = [p.get_payload() for p in parts if not p.is_multipart()]
    contents = [t for t in texts if isinstance(t, str)]
    for n, part in enumerate(parts):
        if part is not msg and part.get("MIME-Version"):
            del part["MIME-Version"]
        if part.get_content_maintype() == "multipart":
            attempt = 0
            while True:
                digest = hashlib.sha256(f"{seed}|{n}|{attempt}".encode()).hexdigest()[:32]
                boundary = f"=_mss_{digest}"
                if not any(boundary in t for t in contents):
                    break
                attempt += 1
            part.set_boundary(boundary)


def embedded_message_part(
    raw: bytes, *, headers_only: bool = False, filename: str | None = None
) -> EmailMessage | None:
    """A message/rfc822 part holding ``raw`` (or its header block as text/rfc822-headers).

    RFC 2046 §5.2.1 forbids base64 for message/rfc822. An ASCII message goes byte for byte;
    one with 8-bit bytes is parsed and written back 7-bit clean by the stdlib generator (its
    8-bit bodies re-encoded, same content), so the composed mail stays 7-bit. None when the
    stdlib cannot write such a message back (8-bit body without a charset): the caller then
    attaches it as a plain file or sends its headers only. Lines are made CRLF.
    """
    data = bytes(raw).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    part = EmailMessage(policy=MAIL_POLICY)
    if headers_only:
        part["Content-Type"] = "text/rfc822-headers"
        data = data.partition(b"\r\n\r\n")[0] + b"\r\n"
        if data.isascii():
            part.set_payload(data.decode("ascii"))
        else:  # 8-bit header bytes: a UTF-8 text part (encoded), never raw 8-bit
            part.set_payload(data.decode("utf-8", "replace"), "utf-8")
    elif data.isascii():
        part["Content-Type"] = "message/rfc822"
        part.set_payload(data.decode("ascii"))
    else:
        inner = BytesParser(policy=MAIL_POLICY).parsebytes(data)
        try:
            rendered = inner.as_bytes(policy=MAIL_POLICY)
        except (UnicodeError, ValueError, TypeError, LookupError):
            return None
        if not rendered.isascii():
            return None
        part["Content-Type"] = "message/rfc822"
        part.set_payload(rendered.decode("ascii"))
    if filename:
        part["Content-Disposition"] = "attachment"
        part.set_param("filename", filename, header="Content-Disposition")
    return part


def attach_message_file(msg: EmailMessage, raw: bytes, filename: str) -> None:
    """Attach a whole message: as message/rfc822 when possible, else as a plain .eml file."""
    part = embedded_message_part(raw, filename=filename)
    if part is None:
        msg.add_attachment(
            bytes(raw), maintype="application", subtype="octet-stream", filename=filename
        )
        return
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    msg.attach(part)


def _normalize_text(text: str) -> str:
    """Line endings to ``\\n`` (the policy writes CRLF) and a final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def _patient_of(doc: object) -> object:
    patient = getattr(doc, "patient", None)
    if patient is None:
        patient = getattr(getattr(doc, "header", None), "patient", None)
    return patient


def _documents_patient(documents: Sequence[Document]) -> str | None:
    """The INS matricule shared by all documents (None if unknown); MessageError if several.

    Patients are compared by INS when there is one, else by birth name, given names and birth
    date (ECO.2.1.1: one patient per mail).
    """
    keys: set[tuple[str, ...]] = set()
    for doc in documents:
        patient = _patient_of(doc)
        if patient is None:
            continue
        ins = getattr(patient, "ins", None)
        if isinstance(ins, INS):
            keys.add(("INS", ins.value))
        else:
            keys.add(
                (
                    "traits",
                    str(getattr(patient, "birth_family_name", "")).upper(),
                    " ".join(getattr(patient, "given_names", ())).upper(),
                    str(getattr(patient, "birth_date", "")),
                )
            )
    if len(keys) > 1:
        raise MessageError(
            "documents", "all documents of a mail must concern one patient (ECO.2.1.1)"
        )
    key = next(iter(keys), None)
    return key[1] if key is not None and key[0] == "INS" else None
