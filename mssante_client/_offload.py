"""Run blocking calls of one non-thread-safe object in worker threads, one at a time.

Shared by the asyncio twins (:class:`~.mail.async_mailbox.AsyncMailbox`,
:class:`~.directory.async_directory.AsyncDirectory`): the sync object (a ``Mailbox``, an
``LDAPDirectory``...) is driven with :func:`asyncio.to_thread`, and an :class:`asyncio.Lock`
makes sure only one of its calls runs at any time.

Cancellation: a thread cannot be interrupted, so cancelling the awaiting task does not stop the
call. The call is shielded: the awaiting task gets :class:`asyncio.CancelledError` at once, the
thread finishes the call (its result or error is discarded), and the lock is released only
then, so the next call waits for it instead of running beside it on the same connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["SerialOffloader"]

P = ParamSpec("P")
T = TypeVar("T")


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned call's outcome as seen (no 'exception was never retrieved' noise)."""
    if not future.cancelled():
        future.exception()


class SerialOffloader:
    """``await offloader.run(fn, *args)``: ``fn`` in a worker thread, calls serialised."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """True while a call runs (or an abandoned one is still finishing in its thread)."""
        return self._lock.locked()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        await self._lock.acquire()
        try:
            call: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        except BaseException:
            self._lock.release()
            raise
        # Released when the thread is done, not when the awaiting task is: see the module doc.
        call.add_done_callback(lambda _: self._lock.release())
        call.add_done_callback(_retrieve)
        return await asyncio.shield(call)
