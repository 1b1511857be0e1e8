"""Delivery and read receipts: parse DSNs (RFC 3464) and MDNs (RFC 8098), build MDNs.

Pure. A DSN is what an MTA (Postfix) sends back about delivery — requested with the RFC 3461
options of ECO.2.3.1 or sent anyway on failure (bounce). An MDN is what the recipient's client
sends back about what it did with the message — asked with ``Disposition-Notification-To``
(ECO.2.3.2) and returned by :func:`build_mdn` (ECO.3.1.6).

Both are tied to the original message by its Message-ID: ``original_message_id`` comes from the
MDN's ``Original-Message-ID`` field, or for a DSN from the returned message/headers part (or,
failing that, from ``Original-Envelope-Id`` which :meth:`Message.compose` sets to the
Message-ID).

ANS integration MDNs (volet "Transmission LPS de documents CDA par courriel MSS", struct-msg-mdn):
``Disposition: automatic-action/MDN-sent-automatically; processed/Error: <code>^<libellé>``
(historical form, kept by default) or ``processed/error`` (the RFC-conformant form of the
guide's later version), with an ``Error: <code>^<libellé>`` field and a subject prefixed
``[KO Intégration système !][<code>]``. Both forms are read.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import MessageError
from ..identity import MSSanteAddress
from . import headers as h
from .message import (
    MAIL_POLICY,
    ComposedMessage,
    _address,
    attach_message_file,
    embedded_message_part,
    finish_mime,
    mask_address,
)

if TYPE_CHECKING:
    from .received import ReceivedMessage

__all__ = [
    "INTEGRATION_ERRORS",
    "KO_SUBJECT_PREFIX",
    "DeliveryAction",
    "DeliveryReport",
    "Disposition",
    "DispositionReport",
    "IntegrationError",
    "RecipientStatus",
    "build_integration_error_mail",
    "build_mdn",
    "parse_disposition",
    "parse_report",
]

#: ANS integration error codes (IGMDN error-codes.md, table "applicationErrorCode").
#: 900-904 are quoted from the guide; 905 comes from the research digest ("INS incomplete");
#: 906's label was not found in a primary source and is a generic placeholder.
INTEGRATION_ERRORS: dict[int, str] = {
    900: "Version du document incorrecte lors d'une demande de remplacement/suppression",
    901: "Auteur non autorisé à remplacer ou supprimer un document",
    902: "Identifiant de patient inconnu",
    903: "INS non présent dans le document",
    904: "L'INS transmis ne correspond pas exactement à celui stocké dans la base du consommateur",
    905: "INS incomplet",
    906: "Erreur d'intégration du document",
}

KO_SUBJECT_PREFIX = "[KO Intégration système !]"

_ERROR_VALUE = re.compile(r"^\s*([0-9]{3})\s*\^\s*([^^]*)")
_DISPOSITION = re.compile(
    r"^\s*(?P<action>[\w-]+)\s*/\s*(?P<sending>[\w-]+)\s*;\s*(?P<type>[\w-]+)\s*(?:/\s*(?P<mods>.*))?$",
    re.DOTALL,
)
_MSG_ID = re.compile(r"<[^<>\s]+>")


# --- models ----------------------------------------------------------------------------------


class DeliveryAction(enum.StrEnum):
    """RFC 3464 §2.3.3 Action."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    final_recipient: str
    action: DeliveryAction
    status: str
    original_recipient: str | None = None
    diagnostic_code: str | None = None
    remote_mta: str | None = None
    last_attempt_date: datetime | None = None
    will_retry_until: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.action is DeliveryAction.FAILED

    @property
    def delivered(self) -> bool:
        """Delivered, or handed to a system that does not report further (relayed/expanded)."""
        return self.action in {
            DeliveryAction.DELIVERED,
            DeliveryAction.RELAYED,
            DeliveryAction.EXPANDED,
        }

    @property
    def delayed(self) -> bool:
        return self.action is DeliveryAction.DELAYED

    def __repr__(self) -> str:  # a patient address holds an INS
        return (
            f"RecipientStatus({mask_address(self.final_recipient)!r}, {self.action.value}, "
            f"{self.status!r})"
        )


@dataclass(frozen=True)
class DeliveryReport:
    """A parsed DSN (``multipart/report; report-type=delivery-status``)."""

    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]
    reporting_mta: str | None = None
    original_envelope_id: str | None = None
    arrival_date: datetime | None = None
    text: str = field(default="", repr=False)

    kind = "delivery"

    @property
    def failed(self) -> tuple[RecipientStatus, ...]:
        return tuple(r for r in self.recipients if r.failed)

    @property
    def delivered(self) -> tuple[RecipientStatus, ...]:
        return tuple(r for r in self.recipients if r.delivered)


@dataclass(frozen=True)
class IntegrationError:
    """An ANS integration error (codes 900-906) carried by an MDN."""

    code: int
    label: str

    @classmethod
    def of(cls, code: int | IntegrationError, label: str | None = None) -> IntegrationError:
        if isinstance(code, IntegrationError):
            return code
        if label is None:
            if code not in INTEGRATION_ERRORS:
                raise MessageError("error", f"unknown integration error code {code}")
            label = INTEGRATION_ERRORS[code]
        label = h.safe_header_value("error.label", label, max_length=200).strip()
        if "^" in label or not 100 <= code <= 999:
            raise MessageError("error", "a code of 3 digits and a label without '^' are needed")
        return cls(code, label)

    @property
    def value(self) -> str:
        """``<code>^<libellé>`` as the ANS guide writes it."""
        return f"{self.code}^{self.label}"


@dataclass(frozen=True)
class Disposition:
    """RFC 8098 §3.2.6 ``Disposition: action/sending; type[/modifiers]``."""

    action_mode: str
    sending_mode: str
    type: str
    modifiers: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return any(m.lower().startswith("error") for m in self.modifiers)

    @property
    def automatic(self) -> bool:
        return self.action_mode.lower() == "automatic-action"


@dataclass(frozen=True)
class DispositionReport:
    """A parsed MDN (``multipart/report; report-type=disposition-notification``)."""

    disposition: Disposition | None
    final_recipient: str | None
    original_message_id: str | None
    original_recipient: str | None = None
    reporting_ua: str | None = None
    error: str | None = None
    integration_error: IntegrationError | None = None
    text: str = field(default="", repr=False)

    kind = "disposition"

    @property
    def is_error(self) -> bool:
        return self.integration_error is not None or bool(
            self.disposition and self.disposition.is_error
        )

    def __repr__(self) -> str:  # a patient address holds an INS
        kind = self.disposition.type if self.disposition else None
        final = mask_address(self.final_recipient) if self.final_recipient else None
        error = self.integration_error.code if self.integration_error else None
        return (
            f"DispositionReport({kind!r}, final_recipient={final!r}, "
            f"original_message_id={self.original_message_id!r}, error={error})"
        )


# --- parsing -----------------------------------------------------------------------------------


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def _typed_address(value: str | None) -> str | None:
    """``rfc822; user@example`` → ``user@example`` (the address type is dropped)."""
    if not value:
        return None
    _, sep, rest = value.partition(";")
    address = (rest if sep else value).strip().strip("<>").strip()
    return address or None


def _field(block: Message, name: str) -> str | None:
    try:
        value = block.get(name)
    except Exception:
        return None
    return _clean(value) if value is not None else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _split_blocks(text: str) -> list[Message]:
    blocks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(b + "\n") for b in blocks if b.strip()]


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a message/(global-)delivery-status or disposition-notification part.

    The stdlib splits message/delivery-status into blocks itself; any other message/* type
    (e.g. RFC 6533 message/global-delivery-status) comes as one message holding the first
    block's fields and the other blocks as its body, so it is split here.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
        if part.get_content_type() == "message/delivery-status" or len(blocks) != 1:
            return blocks
        try:  # the fields are UTF-8 in the global types: read them back as bytes
            return _split_blocks(blocks[0].as_bytes().decode("utf-8", "replace"))
        except (UnicodeError, ValueError, LookupError):
            return blocks
    if isinstance(payload, str):
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else payload
        return _split_blocks(text)
    return []


def _original_message_id(parts: Sequence[Message]) -> str | None:
    for part in parts:
        ctype = part.get_content_type()
        if ctype in {"message/rfc822", "message/global", "message/global-headers"}:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found = _MSG_ID.search(_clean(inner[0].get("Message-ID", "")))
                if found:
                    return found.group(0)
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            found = _MSG_ID.search(_clean(HeaderParser().parsestr(text).get("Message-ID", "")))
            if found:
                return found.group(0)
    return None


def _human_text(parts: Sequence[Message]) -> str:
    if parts and parts[0].get_content_type() == "text/plain":
        raw = parts[0].get_payload(decode=True)
        if isinstance(raw, bytes):
            charset = parts[0].get_content_charset() or "utf-8"
            try:
                text = raw.decode(charset, "replace")
            except LookupError:
                text = raw.decode("utf-8", "replace")
            return text.replace("\r\n", "\n")
    return ""


def parse_report(msg: Message) -> DeliveryReport | DispositionReport | None:
    """Parse a ``multipart/report`` message; None if it is neither a DSN nor an MDN."""
    if msg.get_content_type() != "multipart/report":
        return None
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return None
    parts: list[Message] = [p for p in payload if isinstance(p, Message)]
    for part in parts:
        ctype = part.get_content_type()
        if ctype in {"message/delivery-status", "message/global-delivery-status"}:
            return _parse_dsn(part, parts)
        if ctype in {"message/disposition-notification", "message/global-disposition-notification"}:
            return _parse_mdn(part, parts)
    return None


def _parse_dsn(status_part: Message, parts: Sequence[Message]) -> DeliveryReport:
    blocks = _blocks(status_part)
    per_message = blocks[0] if blocks else Message()
    recipients = []
    for block in blocks[1:]:
        final = _typed_address(_field(block, "Final-Recipient"))
        if final is None:
            continue
        action_text = (_field(block, "Action") or "").lower()
        try:
            action = DeliveryAction(action_text)
        except ValueError:
            action = DeliveryAction.UNKNOWN
        recipients.append(
            RecipientStatus(
                final_recipient=final,
                action=action,
                status=(_field(block, "Status") or "").split(" ")[0],
                original_recipient=_typed_address(_field(block, "Original-Recipient")),
                diagnostic_code=_field(block, "Diagnostic-Code"),
                remote_mta=_typed_address(_field(block, "Remote-MTA")),
                last_attempt_date=_date(_field(block, "Last-Attempt-Date")),
                will_retry_until=_date(_field(block, "Will-Retry-Until")),
            )
        )
    envid = _field(per_message, "Original-Envelope-Id")
    original = _original_message_id(parts)
    if original is None and envid and "@" in envid:
        original = f"<{_xtext_decode(envid).strip('<>')}>"
    return DeliveryReport(
        original_message_id=original,
        recipients=tuple(recipients),
        reporting_mta=_typed_address(_field(per_message, "Reporting-MTA")),
        original_envelope_id=_xtext_decode(envid) if envid else None,
        arrival_date=_date(_field(per_message, "Arrival-Date")),
        text=_human_text(parts),
    )


def _xtext_decode(value: str) -> str:
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def parse_disposition(value: str) -> tuple[Disposition | None, str | None]:
    """Parse a Disposition field; also returns the ANS legacy ``Error: ...`` modifier text."""
    m = _DISPOSITION.match(value)
    if not m:
        return None, None
    modifiers: list[str] = []
    legacy_error = None
    mods = (m.group("mods") or "").strip()
    if mods:
        if mods.lower().startswith("error:"):
            legacy_error = mods.split(":", 1)[1].strip()
            modifiers.append("error")
        else:
            modifiers = [x.strip() for x in mods.split(",") if x.strip()]
    disposition = Disposition(
        action_mode=m.group("action"),
        sending_mode=m.group("sending"),
        type=m.group("type").lower(),
        modifiers=tuple(modifiers),
    )
    return disposition, legacy_error


def _integration_error(*candidates: str | None) -> IntegrationError | None:
    for text in candidates:
        if not text:
            continue
        m = _ERROR_VALUE.match(text)
        if m:
            return IntegrationError(int(m.group(1)), m.group(2).strip())
    return None


def _parse_mdn(mdn_part: Message, parts: Sequence[Message]) -> DispositionReport:
    blocks = _blocks(mdn_part)
    fields = blocks[0] if blocks else Message()
    disposition_text = _field(fields, "Disposition")
    disposition, legacy_error = (
        parse_disposition(disposition_text) if disposition_text else (None, None)
    )
    error = _field(fields, "Error")
    original = _field(fields, "Original-Message-ID")
    found = _MSG_ID.search(original or "")
    original_id = found.group(0) if found else _original_message_id(parts)
    return DispositionReport(
        disposition=disposition,
        final_recipient=_typed_address(_field(fields, "Final-Recipient")),
        original_message_id=original_id,
        original_recipient=_typed_address(_field(fields, "Original-Recipient")),
        reporting_ua=_field(fields, "Reporting-UA"),
        error=error or legacy_error,
        integration_error=_integration_error(error, legacy_error),
        text=_human_text(parts),
    )


# --- building an MDN -----------------------------------------------------------------------------


def _ascii(text: str) -> str:
    """Fold accents away: message/disposition-notification fields are US-ASCII (RFC 8098)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.replace("\u2019", "'").split())


_MODES = {
    "manual": ("manual-action", "MDN-sent-manually"),
    "automatic": ("automatic-action", "MDN-sent-automatically"),
}
_TYPES = {"displayed", "deleted", "dispatched", "processed"}


def build_mdn(
    received: ReceivedMessage,
    *,
    reporting_mailbox: MSSanteAddress | str,
    disposition_type: str = "displayed",
    mode: str = "manual",
    error: int | IntegrationError | None = None,
    legacy_error_form: bool = True,
    text: str | None = None,
    include_original: str | None = None,
    nil: str | None = None,
    now: datetime | None = None,
    message_id: str | None = None,
) -> ComposedMessage:
    """Build the MDN answering ``received`` (ECO.3.1.6), sent from ``reporting_mailbox``.

    ``disposition_type`` is ``displayed`` (read receipt) or ``processed`` (integration, as the
    ANS guide uses it); ``mode`` ``manual`` or ``automatic``. ``error`` (900-906) makes the ANS
    error form. ``include_original``: ``"full"`` (the whole original as message/rfc822 — the
    default with an error, so that the sender can retry), ``"headers"`` (text/rfc822-headers,
    the default otherwise) or ``"none"``. MAIL FROM is the null path ``<>`` (RFC 8098 §2.1).

    The caller decides whether to ask the user first (``received.mdn_needs_confirmation``).
    """
    target = received.disposition_notification_to
    if target is None:
        raise MessageError(
            "received", "the message did not ask for a receipt (no Disposition-Notification-To)"
        )
    reporter = _address("reporting_mailbox", reporting_mailbox)
    if disposition_type not in _TYPES:
        raise MessageError("disposition_type", f"must be one of {sorted(_TYPES)}")
    if mode not in _MODES:
        raise MessageError("mode", "must be 'manual' or 'automatic'")
    action_mode, sending_mode = _MODES[mode]
    integration = IntegrationError.of(error) if error is not None else None
    if include_original is None:
        include_original = "full" if integration else "headers"
    if include_original not in {"full", "headers", "none"}:
        raise MessageError("include_original", "must be 'full', 'headers' or 'none'")
    original_id = _echoable_id(received.message_id)

    subject = _quoted_subject(received)
    if integration is not None:
        subject = f"{KO_SUBJECT_PREFIX}[{integration.code}] {subject}".strip()
    subject = h.safe_header_value("subject", subject)

    # part 1: for a person
    if text is None:
        if integration is not None:
            text = (
                "Le document n'a pas pu être intégré.\n"
                f"Le système a retourné l'erreur {integration.code} : {integration.label}\n"
            )
        elif disposition_type == "processed":
            text = "Le message a été traité par le destinataire.\n"
        else:
            text = "Le message a été affiché par le destinataire.\n"

    # part 2: for a program (US-ASCII fields, CRLF)
    disposition = f"{action_mode}/{sending_mode}; {disposition_type}"
    error_value = _ascii(integration.value) if integration else None
    if error_value:
        disposition += f"/Error: {error_value}" if legacy_error_form else "/error"
    fields = [f"Reporting-UA: {reporter.domain}; mssante_client {__version__}"]
    original_recipient = received.header("Original-Recipient")
    if original_recipient:
        fields.append(
            "Original-Recipient: "
            + h.safe_header_value("Original-Recipient", _ascii(original_recipient))
        )
    fields.append(f"Final-Recipient: rfc822;{reporter}")
    if original_id:
        fields.append(f"Original-Message-ID: {original_id}")
    fields.append(f"Disposition: {disposition}")
    if error_value:
        fields.append(f"Error: {error_value}")

    msg, mid = _notification(reporter, target, subject, text, original_id, nil, now, message_id)
    msg.set_type("multipart/report")
    msg.set_param("report-type", "disposition-notification")

    notification = EmailMessage(policy=MAIL_POLICY)
    notification["Content-Type"] = "message/disposition-notification"
    notification.set_payload("\r\n".join(fields) + "\r\n")
    msg.attach(notification)

    if include_original != "none":
        msg.attach(_original_part(received, headers_only=include_original == "headers"))
    finish_mime(msg, mid)

    data = _serialise(msg)
    return ComposedMessage(mail_from="", recipients=(str(target),), data=data, message_id=mid)


def _quoted_subject(received: ReceivedMessage) -> str:
    """The received subject to repeat: control characters dropped, and a leftover
    ``=?...?=`` (a broken encoded word) defused, which the stdlib cannot fold back."""
    subject = "".join(c for c in received.subject if c >= " " or c == "\t")
    return subject.replace("=?", "= ?")


def _serialise(msg: EmailMessage) -> bytes:
    try:
        return msg.as_bytes(policy=MAIL_POLICY)
    except (ValueError, TypeError, LookupError) as exc:  # defensive: stdlib folding bugs
        raise MessageError(
            "received", f"cannot write a report for it: {type(exc).__name__}"
        ) from None


def _echoable_id(message_id: str | None) -> str | None:
    """The original Message-ID as it must be echoed (even if not RFC 5322), unless unsafe."""
    if not message_id or not message_id.isascii():
        return None
    try:
        return h.safe_header_value("Original-Message-ID", message_id)
    except MessageError:
        return None


def _notification(
    reporter: MSSanteAddress,
    target: object,
    subject: str,
    text: str,
    original_id: str | None,
    nil: str | None,
    now: datetime | None,
    message_id: str | None,
) -> tuple[EmailMessage, str]:
    """Headers and first (human) part of a notification answering ``original_id``."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = str(reporter)
    msg["To"] = str(target)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    mid = h.validate_msg_id("Message-ID", message_id or make_msgid(domain=reporter.domain))
    msg["Message-ID"] = mid
    if original_id and h.is_msg_id(original_id):
        msg["In-Reply-To"] = original_id
        msg["References"] = original_id
    if nil is not None:
        msg[h.X_MSS_NIL] = h.validate_nil(nil)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.make_mixed()
    return msg, mid


def _original_part(received: ReceivedMessage, *, headers_only: bool) -> EmailMessage:
    """The original message (message/rfc822), else its header block (text/rfc822-headers)."""
    part = None if headers_only else embedded_message_part(received.raw)
    if part is None:
        part = embedded_message_part(received.raw, headers_only=True)
    assert part is not None  # a header block can always be embedded
    return part


def build_integration_error_mail(
    received: ReceivedMessage,
    *,
    reporting_mailbox: MSSanteAddress | str,
    error: int | IntegrationError,
    text: str | None = None,
    nil: str | None = None,
    now: datetime | None = None,
    message_id: str | None = None,
) -> ComposedMessage:
    """The ANS "standard notification mail" for a message that did NOT ask for an MDN.

    Volet "Transmission LPS de documents CDA par courriel MSS", struct-email-standard: an
    ordinary mail to the sender (Reply-To, else From) with the subject
    ``[KO Intégration système !][<code>] <original subject>``, a text part with the code and
    label, the original as ``message/rfc822`` (``message_original.eml``) and its attachments
    (IHE_XDM.ZIP, PDF) attached again so that the sender can correct and resend.
    """
    target = received.reply_address
    if target is None:
        raise MessageError("received", "the message has no From or Reply-To to notify")
    reporter = _address("reporting_mailbox", reporting_mailbox)
    integration = IntegrationError.of(error)
    subject = h.safe_header_value(
        "subject", f"{KO_SUBJECT_PREFIX}[{integration.code}] {_quoted_subject(received)}".strip()
    )
    if text is None:
        text = (
            "Bonjour,\n\n"
            "Le document envoyé n'a pas pu être intégré correctement dans le système.\n"
            f"- Erreur détectée : {integration.label}\n"
            f"- Code d'erreur : {integration.code}\n\n"
            "Vous trouverez en pièce jointe le courriel d'origine, avec son contenu et ses "
            "fichiers.\n"
        )
    msg, mid = _notification(
        reporter, target, subject, text, _echoable_id(received.message_id), nil, now, message_id
    )
    attach_message_file(msg, received.raw, "message_original.eml")
    for attachment in received.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        if maintype in {"message", "multipart"}:
            continue
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename or "piece-jointe",
        )
    finish_mime(msg, mid)
    return ComposedMessage(
        mail_from=str(reporter),
        recipients=(str(target),),
        data=_serialise(msg),
        message_id=mid,
    )
