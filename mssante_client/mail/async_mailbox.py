"""``AsyncMailbox``: the asyncio twin of :class:`~.mailbox.Mailbox` (sync API first, async twin).

Same constructor, same models (:class:`~.smtp.SendResult`, :class:`~.mailbox.EnvelopeSync`,
:class:`~.received.ReceivedMessage`...), same typed errors; every I/O method is a coroutine.

**The transports are still the blocking stdlib ones** (``smtplib``, ``imaplib``): an
``AsyncMailbox`` owns one :class:`~.mailbox.Mailbox` and runs each of its calls in a worker
thread with :func:`asyncio.to_thread`, so the event loop is never blocked. A ``Mailbox`` is not
thread-safe, so the calls are serialised by an :class:`asyncio.Lock`: one at a time per
``AsyncMailbox`` (``asyncio.gather`` of two sends is safe; they run one after the other). Native
asyncio transports are future work; this class's API will not change with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from .._offload import SerialOffloader
from ..identity import MSSanteAddress
from .credentials import Credentials
from .endpoint import Security
from .imap_parse import FolderInfo
from .mailbox import EnvelopeSync, Mailbox, MessageSync, TrustPolicy
from .message import ComposedMessage, Message
from .received import ReceivedMessage
from .smtp import RetryPolicy, SendResult
from .sync import SyncState

__all__ = ["AsyncMailbox"]


class AsyncMailbox:
    """An MSSanté mailbox for asyncio code: ``await mb.send(...)``, ``await mb.idle()``...

    Takes exactly the arguments of :class:`~.mailbox.Mailbox` and returns the same models.
    Use it with ``async with`` so both connections are closed.

    How it runs: one :class:`~.mailbox.Mailbox`, its blocking calls offloaded to a worker thread
    (:func:`asyncio.to_thread`) one at a time under an :class:`asyncio.Lock`. Consequences:

    * Calls on one ``AsyncMailbox`` never overlap: a second call waits for the first. In
      particular :meth:`idle` holds the mailbox until a message arrives or ``timeout`` passes,
      so send from another ``AsyncMailbox`` (as with ``Mailbox``: one per thread) while one
      idles.
    * **Cancelling** the task awaiting a call does not interrupt it (a thread cannot be
      interrupted): the task gets :class:`asyncio.CancelledError` at once, the thread finishes
      the call and its outcome is discarded; the next call waits for it, so the connections
      never see two commands at once and the state stays consistent. A cancelled
      :meth:`send` may therefore still have been delivered; a cancelled :meth:`idle` keeps the
      IMAP connection until its ``timeout`` (use short timeouts in a loop).
    * Use one ``AsyncMailbox`` within one event loop.
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
        self._mailbox = Mailbox(
            address,
            credentials,
            host=host,
            smtp_port=smtp_port,
            imap_port=imap_port,
            security=security,
            ca_file=ca_file,
            crl_file=crl_file,
            timeout=timeout,
            nil=nil,
            trust_policy=trust_policy,
            max_message_size=max_message_size,
            retry=retry,
            idle_restart=idle_restart,
            local_hostname=local_hostname,
        )
        self._worker = SerialOffloader()

    @property
    def address(self) -> MSSanteAddress:
        return self._mailbox.address

    @property
    def nil(self) -> str | None:
        return self._mailbox.nil

    def __repr__(self) -> str:  # the Mailbox's repr: no secret, patient addresses masked
        return f"Async{self._mailbox!r}"

    # -- lifecycle -------------------------------------------------------------------------

    async def close(self) -> None:
        """Close both connections (safe to call twice); waits for a call still running."""
        await self._worker.run(self._mailbox.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- sending ---------------------------------------------------------------------------

    def compose(self, message: Message) -> ComposedMessage:
        """The bytes that :meth:`send` would submit (pure, no I/O: not a coroutine)."""
        return self._mailbox.compose(message)

    async def send(self, message: Message | ComposedMessage) -> SendResult:
        """Submit a message: see :meth:`Mailbox.send <.mailbox.Mailbox.send>` (same errors).

        Cancelling the awaiting task does not stop the submission (see the class docstring).
        """
        return await self._worker.run(self._mailbox.send, message)

    # -- receiving -------------------------------------------------------------------------

    async def folders(self) -> list[FolderInfo]:
        """Every folder (LIST)."""
        return await self._worker.run(self._mailbox.folders)

    async def envelopes(
        self, folder: str = "INBOX", state: SyncState | None = None
    ) -> EnvelopeSync:
        """Typed envelopes: all, or with ``state`` only the new ones + flag changes."""
        return await self._worker.run(self._mailbox.envelopes, folder, state)

    async def fetch_new(self, folder: str = "INBOX", state: SyncState | None = None) -> MessageSync:
        """New messages since ``state`` (all on the first call), parsed; and the next state."""
        return await self._worker.run(self._mailbox.fetch_new, folder, state)

    async def fetch(self, uid: int, folder: str = "INBOX") -> ReceivedMessage:
        """One message by UID (not marked seen)."""
        return await self._worker.run(self._mailbox.fetch, uid, folder)

    async def mark_seen(
        self, uids: Iterable[int], folder: str = "INBOX", *, seen: bool = True
    ) -> None:
        """Set (or clear) ``\\Seen``."""
        await self._worker.run(self._mailbox.mark_seen, tuple(uids), folder, seen=seen)

    async def move(self, uids: Iterable[int], destination: str, folder: str = "INBOX") -> None:
        """Move messages to another folder (MOVE, else COPY + expunge of exactly these UIDs)."""
        await self._worker.run(self._mailbox.move, tuple(uids), destination, folder)

    async def delete(self, uids: Iterable[int], folder: str = "INBOX") -> None:
        """Delete messages for good (``\\Deleted`` + ``UID EXPUNGE``)."""
        await self._worker.run(self._mailbox.delete, tuple(uids), folder)

    async def append(self, raw: bytes, folder: str = "INBOX", *, seen: bool = False) -> None:
        """Store raw message bytes in a folder (e.g. a copy in Sent)."""
        await self._worker.run(self._mailbox.append, raw, folder, seen=seen)

    async def create_folder(self, folder: str) -> None:
        await self._worker.run(self._mailbox.create_folder, folder)

    async def idle(self, folder: str = "INBOX", timeout: float = 60.0) -> bool:
        """Wait for new mail with IDLE: True as soon as a message arrives, False on timeout.

        Holds this mailbox (other calls wait) until it returns; a cancelled ``idle`` still
        runs in its thread until a message arrives or ``timeout`` passes.
        """
        return await self._worker.run(self._mailbox.idle, folder, timeout)
