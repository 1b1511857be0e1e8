"""The token bucket's accounting, with an injected clock (no waiting, no timing)."""

from __future__ import annotations

import threading

import pytest

from mssante_client.directory.fhir import RetryPolicy, parse_retry_after
from mssante_client.directory.ratelimit import TokenBucket
from mssante_client.errors import ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=17, clock=clock)
    assert [bucket.reserve() for _ in range(17)] == [0.0] * 17  # the burst
    assert bucket.reserve() == pytest.approx(1 / 17)
    assert bucket.reserve() == pytest.approx(2 / 17)
    clock.now += 1.0  # 17 tokens refilled, two of them already owed
    assert bucket.reserve() == 0.0
    assert bucket.burst == 17


def test_tokens_never_exceed_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    clock.now += 3600
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_threads_share_one_budget() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=17, burst=1, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            delay = bucket.reserve()
            with lock:
                delays.append(delay)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 requests at a frozen clock: each waits one slot more than the previous one
    assert sorted(delays) == pytest.approx([i / 17 for i in range(200)])


def test_acquire_sleeps_what_reserve_says() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    slept: list[float] = []
    bucket.acquire(slept.append)
    bucket.acquire(slept.append)
    assert slept == [0.25]


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(rate=0)
    with pytest.raises(ConfigurationError):
        TokenBucket(rate=5, burst=0.5)


def test_retry_policy() -> None:
    policy = RetryPolicy(max_retries=3, backoff=0.5, max_backoff=1.5, max_retry_after=30)
    assert [policy.delay(a, 503) for a in range(4)] == [0.5, 1.0, 1.5, None]
    assert policy.delay(0, None) == 0.5  # network failure
    assert policy.delay(0, 404) is None
    assert policy.delay(0, 429, "7") == 7
    assert policy.delay(0, 429, "120") is None  # beyond max_retry_after: give up
    assert policy.delay(0, 429, "garbage") == 0.5


def test_parse_retry_after() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
