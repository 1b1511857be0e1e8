"""MSSanté mail: compose, send, receive and read receipts.

The pure core (no sockets) is in :mod:`.message` (compose), :mod:`.headers` (X-MSS rules),
:mod:`.sasl` (authentication payloads), :mod:`.received` (parse what arrives) and
:mod:`.reports` (DSN / MDN). The network edge (TLS, SMTP, IMAP, the ``Mailbox`` facade) builds
on them.
"""

from __future__ import annotations

from .headers import entity_display_name, person_display_name
from .message import (
    Attachment,
    ComposedMessage,
    DsnNotify,
    DsnOptions,
    DsnReturn,
    Message,
    Sender,
)
from .received import MailAddress, ReceivedAttachment, ReceivedMessage, XMssHeaders, parse_received
from .reports import (
    DeliveryAction,
    DeliveryReport,
    Disposition,
    DispositionReport,
    IntegrationError,
    RecipientStatus,
    build_integration_error_mail,
    build_mdn,
    parse_report,
)

__all__ = [
    "Attachment",
    "ComposedMessage",
    "DeliveryAction",
    "DeliveryReport",
    "Disposition",
    "DispositionReport",
    "DsnNotify",
    "DsnOptions",
    "DsnReturn",
    "IntegrationError",
    "MailAddress",
    "Message",
    "ReceivedAttachment",
    "ReceivedMessage",
    "RecipientStatus",
    "Sender",
    "XMssHeaders",
    "build_integration_error_mail",
    "build_mdn",
    "entity_display_name",
    "parse_received",
    "parse_report",
    "person_display_name",
]

# --- the network edge ------------------------------------------------------------------------
from .async_mailbox import AsyncMailbox
from .credentials import ClientCertificate, OAuth2Mechanism, OAuth2Token, Password
from .endpoint import Security
from .mailbox import EnvelopeSync, Mailbox, MessageSync, TrustPolicy
from .smtp import DeliveryUncertainError, RecipientResult, RetryPolicy, SendResult
from .sync import SyncState

__all__ += [
    "AsyncMailbox",
    "ClientCertificate",
    "DeliveryUncertainError",
    "EnvelopeSync",
    "Mailbox",
    "MessageSync",
    "OAuth2Mechanism",
    "OAuth2Token",
    "Password",
    "RecipientResult",
    "RetryPolicy",
    "Security",
    "SendResult",
    "SyncState",
    "TrustPolicy",
]
