"""A token bucket that keeps a client under an API's request rate, across threads.

Why: the Annuaire Santé gateway allows 17 requests per second per application (rules §5.1) and
answers 429 beyond; spacing requests on the client side is cheaper than being throttled. One
bucket is shared by every thread (and coroutine) of a backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Final

from ..errors import ConfigurationError

__all__ = ["DEFAULT_RATE", "TokenBucket"]

#: Requests per second allowed by the Annuaire Santé FHIR gateway (rules §5.1).
DEFAULT_RATE: Final = 17.0


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per request.

    :meth:`reserve` is the pure accounting (how long to wait for a token, the token being taken
    now); :meth:`acquire` and :meth:`acquire_async` wait that long. The clock is injectable so the
    accounting can be tested without waiting.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0:
            raise ConfigurationError("rate limit must be a positive number of requests/s")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1:
            raise ConfigurationError("rate limit burst must allow at least one request")
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst})"

    def reserve(self) -> float:
        """Take one token and return how many seconds the caller must wait before using it.

        Tokens may go negative: later callers queue behind earlier ones in arrival order, so
        the long-run rate never exceeds ``rate`` whatever the number of threads.
        """
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._updated = now
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Block the calling thread until it may send one request."""
        delay = self.reserve()
        if delay > 0:
            sleep(delay)

    async def acquire_async(self) -> None:
        """Wait (without blocking the event loop) until one request may be sent."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
