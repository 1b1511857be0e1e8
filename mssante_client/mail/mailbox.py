"""The ``Mailbox`` facade: one MSSanté mailbox, sending over SMTP and receiving over IMAP.

It only wires the pieces: TLS context (:mod:`mssante_client.tls`), credentials
(:mod:`.credentials`), the SMTP and IMAP transports (:mod:`.smtp`, :mod:`.imap`), the pure sync
planner (:mod:`.sync`) and the pure composer / parser (:mod:`.message`, :mod:`.received`). One
SMTP and one IMAP connection per ``Mailbox``, each opened on first
use and reused; use it as a context manager so both are closed.

Defaults follow the Référentiel: STARTTLS on 587 and 143 (ECO.1.0.1/1.0.2), TLS >= 1.2 with the
IGC-Santé root as only trust anchor (ECO.1.1.1, ECO.1.1.10).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ..errors import InvalidInputError, MessageError, UntrustedDomainError
from ..identity import MSSanteAddress
from ..tls import create_client_context
from ._redact import mask_address
from .credentials import ClientCertificate, Credentials
from .endpoint import Endpoint, Security
from .imap import ImapTransport
from .imap_parse import Envelope, FolderInfo, SelectInfo
from .message import ComposedMessage, Message
from .received import ReceivedMessage, parse_received
from .smtp import RetryPolicy, SendResult, SmtpTransport
from .sync import SyncPlan, SyncState, plan_sync

__all__ = ["EnvelopeSync", "Mailbox", "MessageSync", "TrustPolicy"]

_log = logging.getLogger("mssante_client.mail")

_DEFAULT_PORTS = {
    Security.STARTTLS: (587, 143),
    Security.IMPLICIT: (465, 993),
}


def _highest(*values: int | None) -> int | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


@runtime_checkable
class TrustPolicy(Protocol):
    """Decides whether mail may go to an address (e.g. the liste blanche of trusted domains)."""

    def is_trusted(self, address: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class EnvelopeSync:
    """Result of :meth:`Mailbox.envelopes`: new envelopes, flag changes and the next state."""

    envelopes: tuple[Envelope, ...]
    state: SyncState
    full: bool  # True when everything was listed (first sync or UIDVALIDITY changed)
    flag_changes: dict[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageSync:
    """Result of :meth:`Mailbox.fetch_new`: new messages and the next state."""

    messages: tuple[ReceivedMessage, ...]
    state: SyncState
    full: bool


class Mailbox:
    """An MSSanté mailbox: ``send()``, ``envelopes()``, ``fetch_new()``, ``idle()``...

    ``credentials`` is a :class:`ClientCertificate`, an :class:`OAuth2Token` or a
    :class:`Password`. ``ca_file`` replaces the IGC-Santé root (e.g. the sandbox's test CA);
    ``crl_file`` enables the revocation check of the server certificate (ECO.1.1.6).
    ``nil`` is the X-MSS-NIL product reference (ECO.2.4.3) used when composing.
    ``trust_policy`` refuses, before any connection, recipients it does not trust.
    """

    def __init__(
        self,
        address: str | MSSanteAddress,
        credentials: Credentials,
        *,
        host: str,
        smtp_port: int | None = None,
        imap_port: int | None = None,
        security: Security | str = Security.STARTTLS,
        ca_file: str | Path | None = None,
        crl_file: str | Path | None = None,
        timeout: float = 30.0,
        nil: str | None = None,
        trust_policy: TrustPolicy | None = None,
        max_message_size: int | None = None,
        retry: RetryPolicy | None = None,
        idle_restart: float = 25 * 60,
        local_hostname: str | None = None,
    ) -> None:
        self.address = MSSanteAddress(str(address))
        sec = Security(security)
        default_smtp, default_imap = _DEFAULT_PORTS[sec]
        self.nil = nil
        self._warned_nil = False
        self.trust_policy = trust_policy
        self.max_message_size = max_message_size
        self.idle_restart = idle_restart
        self._ca_file = ca_file
        self._crl_file = crl_file
        self._credentials = credentials
        self._context: ssl.SSLContext | None = None
        user = str(self.address)
        self._smtp = SmtpTransport(
            Endpoint(host, smtp_port or default_smtp, sec, timeout),
            user,
            credentials,
            self._ssl_context,
            retry=retry or RetryPolicy(),
            local_hostname=local_hostname,
        )
        self._imap = ImapTransport(
            Endpoint(host, imap_port or default_imap, sec, timeout),
            user,
            credentials,
            self._ssl_context,
        )

    def __repr__(self) -> str:
        return (
            f"Mailbox({mask_address(str(self.address))!r}, smtp={self._smtp.endpoint}, "
            f"imap={self._imap.endpoint}, credentials={self._credentials!r})"
        )

    def _ssl_context(self) -> ssl.SSLContext:
        """One context per mailbox (built on first connect): trust anchors + client cert."""
        if self._context is None:
            creds = self._credentials
            self._context = create_client_context(
                ca_file=self._ca_file,
                crl_file=self._crl_file,
                load_client_cert=creds.load_into if isinstance(creds, ClientCertificate) else None,
            )
        return self._context

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close both connections (safe to call twice)."""
        try:
            self._smtp.close()
        finally:
            self._imap.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def compose(self, message: Message) -> ComposedMessage:
        """The bytes that :meth:`send` would submit (X-MSS-NIL and size limit applied).

        ECO.2.4.3 wants ``X-MSS-NIL`` on every mail: without ``nil=`` a warning is logged once.
        """
        if self.nil is None and not self._warned_nil:
            self._warned_nil = True
            _log.warning(
                "no X-MSS-NIL configured for this mailbox: ECO.2.4.3 requires it on every mail "
                "(pass nil=<the product reference of the software declaration>)"
            )
        return message.compose(nil=self.nil, max_size=self.max_message_size)

    def send(self, message: Message | ComposedMessage) -> SendResult:
        """Submit a message; per-recipient results in the :class:`SendResult`.

        Raises :class:`UntrustedDomainError` (nothing sent) when ``trust_policy`` refuses a
        recipient, :class:`MessageError` when the size limit is exceeded,
        :class:`~mssante_client.errors.RecipientsRefusedError` when every recipient is refused and
        :class:`~.smtp.DeliveryUncertainError` if the connection dropped after the body was sent.
        """
        composed = self.compose(message) if isinstance(message, Message) else message
        self._check_policy(composed.recipients)
        if self.max_message_size is not None and composed.size > self.max_message_size:
            raise MessageError(
                "message", f"{composed.size} bytes exceed the limit of {self.max_message_size}"
            )
        return self._smtp.send(composed)

    def _check_policy(self, recipients: Iterable[str]) -> None:
        if self.trust_policy is None:
            return
        refused = [r for r in recipients if not self.trust_policy.is_trusted(r)]
        if refused:
            shown = ", ".join(mask_address(r) for r in refused)
            raise UntrustedDomainError(
                f"recipient domain not trusted by the policy: {shown}; nothing was sent"
            )

    # -- receiving -------------------------------------------------------------------------

    def folders(self) -> list[FolderInfo]:
        """Every folder (LIST)."""
        return self._imap.list_folders()

    def envelopes(self, folder: str = "INBOX", state: SyncState | None = None) -> EnvelopeSync:
        """Typed envelopes: all of them, or with ``state`` only the new ones + flag changes.

        One ``UID FETCH (UID FLAGS RFC822.SIZE ENVELOPE)``; with CONDSTORE, flag changes of known
        messages come from ``CHANGEDSINCE``. Keep the returned ``state`` for next time.
        """
        selected, plan = self._plan(folder, state)
        envs: list[Envelope] = []
        if plan.new_uid_range is not None:
            envs = self._imap.envelopes(
                folder,
                plan.new_uid_range,
                min_uid=plan.min_uid,
                modseq=not plan.full and plan.base.highestmodseq is not None,
            )
        changes: dict[int, frozenset[str]] = {}
        top: int | None = None
        if plan.changed_since is not None and plan.known_uid_range is not None:
            changes, top = self._imap.changed_flags(
                folder, plan.known_uid_range, plan.changed_since
            )
        last = max((e.uid for e in envs), default=plan.base.last_uid)
        highest = _highest(selected.highestmodseq, top, *(e.modseq for e in envs))
        new_state = plan.base.advanced(last_uid=last, highestmodseq=highest)
        return EnvelopeSync(tuple(envs), new_state, plan.full, changes)

    def _plan(self, folder: str, state: SyncState | None) -> tuple[SelectInfo, SyncPlan]:
        """Counters and plan; with a state, a NOOP on an already selected folder is enough."""
        selected = self._imap.select(folder, quick=state is not None)
        plan = plan_sync(folder, selected, state)
        if plan.full and selected.uidnext is None:  # a full resync needs SELECT's counters
            selected = self._imap.select(folder)
            plan = plan_sync(folder, selected, state)
        return selected, plan

    def fetch_new(self, folder: str = "INBOX", state: SyncState | None = None) -> MessageSync:
        """New messages since ``state`` (all on the first call), parsed; and the next state."""
        selected, plan = self._plan(folder, state)
        messages: list[ReceivedMessage] = []
        if plan.new_uid_range is not None:
            for fetched in self._imap.fetch_range(folder, plan.new_uid_range, plan.min_uid):
                messages.append(
                    parse_received(fetched.raw, uid=fetched.uid, flags=sorted(fetched.flags))
                )
        last = max((m.uid or 0 for m in messages), default=plan.base.last_uid)
        # Flag changes are not reported here: keep the modseq watermark unless SELECT gave one.
        highest = selected.highestmodseq if plan.full else plan.base.highestmodseq
        new_state = plan.base.advanced(last_uid=last, highestmodseq=highest)
        return MessageSync(tuple(messages), new_state, plan.full)

    def fetch(self, uid: int, folder: str = "INBOX") -> ReceivedMessage:
        """One message by UID (not marked seen)."""
        found = self._imap.fetch(folder, [uid])
        if not found:
            raise InvalidInputError("uid", f"no message with UID {uid} in {folder}")
        m = found[0]
        return parse_received(m.raw, uid=m.uid, flags=sorted(m.flags))

    def mark_seen(self, uids: Iterable[int], folder: str = "INBOX", *, seen: bool = True) -> None:
        """Set (or clear) ``\\Seen``."""
        self._imap.store(folder, uids, "\\Seen", add=seen)

    def move(self, uids: Iterable[int], destination: str, folder: str = "INBOX") -> None:
        """Move messages to another folder (MOVE, else COPY + expunge of exactly these UIDs)."""
        self._imap.move(folder, uids, destination)

    def delete(self, uids: Iterable[int], folder: str = "INBOX") -> None:
        """Delete messages for good (``\\Deleted`` + ``UID EXPUNGE``)."""
        self._imap.delete(folder, uids)

    def append(self, raw: bytes, folder: str = "INBOX", *, seen: bool = False) -> None:
        """Store raw message bytes in a folder (e.g. a copy in Sent)."""
        self._imap.append(folder, raw, "\\Seen" if seen else "")

    def create_folder(self, folder: str) -> None:
        self._imap.create_folder(folder)

    def idle(self, folder: str = "INBOX", timeout: float = 60.0) -> bool:
        """Wait for new mail with IDLE: True as soon as a message arrives, False on timeout.

        Survives a dropped connection (reconnects and compares UIDNEXT).
        """
        return self._imap.idle(folder, timeout, restart_every=self.idle_restart)
