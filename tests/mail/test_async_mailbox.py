"""AsyncMailbox on the sandbox's real Dovecot/Postfix: the asyncio twin of Mailbox.

Each test drives its coroutines with ``asyncio.run`` (no pytest plugin needed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from mailb_support import HELENE, JEAN, NIL, simple_message, unique
from test_mailbox import package_message

from mssante_client import AsyncMailbox
from mssante_client.errors import AuthenticationError
from mssante_client.mail.credentials import Credentials, OAuth2Mechanism, OAuth2Token, Password
from mssante_client.mail.received import ReceivedMessage
from mssante_client.mail.sync import SyncState
from mssante_client.sandbox import Sandbox, SandboxInfo

pytestmark = pytest.mark.sandbox


def open_async(
    info: SandboxInfo, address: str, credentials: Credentials | None = None, **kw: Any
) -> AsyncMailbox:
    if credentials is None:
        password = info.account(address).password
        assert password is not None
        credentials = Password(password)
    kw.setdefault("host", info.host)
    kw.setdefault("smtp_port", info.submission_port)
    kw.setdefault("imap_port", info.imap_port)
    kw.setdefault("ca_file", info.ca_file)
    kw.setdefault("nil", NIL)
    kw.setdefault("timeout", 15.0)
    return AsyncMailbox(address, credentials, **kw)


async def wait_new(
    reader: AsyncMailbox,
    state: SyncState,
    wanted: Callable[[ReceivedMessage], bool],
    timeout: float = 20.0,
) -> ReceivedMessage:
    """Poll ``fetch_new`` from ``state`` until a message satisfying ``wanted`` arrives."""
    deadline = time.monotonic() + timeout
    while True:
        sync = await reader.fetch_new("INBOX", state)
        state = sync.state
        found = [m for m in sync.messages if wanted(m)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            pytest.fail(f"message not delivered within {timeout} s")
        await asyncio.sleep(0.2)


def test_send_with_a_password_then_fetch_new_reads_the_x_mss_headers(
    mssante_sandbox: SandboxInfo,
) -> None:
    message = package_message(mssante_sandbox)

    async def run() -> tuple[list[str], ReceivedMessage, str]:
        async with (
            open_async(mssante_sandbox, JEAN) as sender,
            open_async(mssante_sandbox, HELENE) as reader,
        ):
            state = (await reader.envelopes()).state
            composed = sender.compose(message)  # pure: not a coroutine
            result = await sender.send(composed)
            got = await wait_new(reader, state, lambda m: m.message_id == composed.message_id)
            return list(result.accepted), got, composed.message_id

    accepted, got, message_id = asyncio.run(run())
    assert HELENE in accepted and len(accepted) == 2  # HELENE and the patient
    assert got.message_id == message_id
    assert got.header("X-MSS-NIL") == NIL
    assert got.header("X-MSS-CODECDA") == "11490-0"
    assert got.header("X-MSS-INS") == "O"
    assert got.xmss.nil == NIL and got.xmss.codecda == ("11490-0",) and got.xmss.ins is True
    [doc] = got.documents
    assert doc.type_code.code == "11490-0"


def test_send_and_read_with_minted_oauth2_tokens(
    mssante_sandbox: SandboxInfo, mssante_sandbox_control: Sandbox
) -> None:
    issued: list[str] = []

    def provider(address: str) -> Callable[[], str]:
        def mint() -> str:
            issued.append(mssante_sandbox_control.mint_token(address))
            return issued[-1]

        return mint

    subject = unique("async token")

    async def run() -> ReceivedMessage:
        sender_token = OAuth2Token(provider(JEAN), OAuth2Mechanism.XOAUTH2)
        reader_token = OAuth2Token(provider(HELENE), OAuth2Mechanism.OAUTHBEARER)
        async with (
            open_async(mssante_sandbox, JEAN, sender_token) as sender,
            open_async(mssante_sandbox, HELENE, reader_token) as reader,
        ):
            state = (await reader.envelopes()).state
            result = await sender.send(simple_message(JEAN, [HELENE], subject))
            assert list(result.accepted) == [HELENE]
            return await wait_new(reader, state, lambda m: m.subject == subject)

    got = asyncio.run(run())
    assert len(issued) == 2  # one token per connection: SMTP for JEAN, IMAP for HELENE
    assert got.subject == subject
    assert got.header("X-MSS-NIL") == NIL
    assert got.xmss.nil == NIL


class SerialProbe:
    """A real trust policy that records how many sends run it at the same time, and where."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.threads: set[int] = set()

    def is_trusted(self, address: str) -> bool:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.get_ident())
        time.sleep(0.3)  # wide window: two overlapping sends could not miss each other
        with self._lock:
            self.active -= 1
        return True


def test_two_concurrent_sends_both_succeed_one_at_a_time(mssante_sandbox: SandboxInfo) -> None:
    probe = SerialProbe()
    subjects = [unique("async gather"), unique("async gather")]

    async def run() -> tuple[list[Any], set[str], int]:
        async with (
            open_async(mssante_sandbox, JEAN, trust_policy=probe) as sender,
            open_async(mssante_sandbox, HELENE) as reader,
        ):
            state = (await reader.envelopes()).state
            results = await asyncio.gather(
                *(sender.send(simple_message(JEAN, [HELENE], s)) for s in subjects)
            )
            seen: set[str] = set()
            deadline = time.monotonic() + 20
            while seen != set(subjects) and time.monotonic() < deadline:
                sync = await reader.fetch_new("INBOX", state)
                state = sync.state
                seen |= {m.subject for m in sync.messages if m.subject in subjects}
                await asyncio.sleep(0.2)
            return list(results), seen, threading.get_ident()

    results, seen, loop_thread = asyncio.run(run())
    assert [list(r.accepted) for r in results] == [[HELENE], [HELENE]]
    assert results[0].message_id != results[1].message_id
    assert seen == set(subjects)
    assert probe.peak == 1  # serialised by the lock
    assert loop_thread not in probe.threads  # ran in worker threads, not on the event loop


def test_idle_wakes_on_a_message_sent_concurrently(mssante_sandbox: SandboxInfo) -> None:
    subject = unique("async idle")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    async def send_later(sender: AsyncMailbox) -> None:
        await asyncio.sleep(1.0)  # let IDLE start (an earlier message is detected too)
        await sender.send(simple_message(JEAN, [HELENE], subject))

    async def run() -> tuple[bool, float]:
        async with (
            open_async(mssante_sandbox, JEAN) as sender,
            open_async(mssante_sandbox, HELENE) as reader,
        ):
            await reader.folders()  # connected before the clock starts
            tick_task = asyncio.create_task(ticker())
            started = time.monotonic()
            woke, _ = await asyncio.gather(reader.idle("INBOX", timeout=60), send_later(sender))
            elapsed = time.monotonic() - started
            tick_task.cancel()
            envs = (await reader.envelopes()).envelopes
            assert any(e.subject == subject for e in envs)
            return woke, elapsed

    woke, elapsed = asyncio.run(run())
    assert woke is True
    assert elapsed < 30  # woken by the message, not by the 60 s timeout
    assert ticks >= 10  # the event loop kept running while IDLE blocked a worker thread


def test_cancelled_call_finishes_in_its_thread_before_the_next_one(
    mssante_sandbox: SandboxInfo,
) -> None:
    async def run() -> tuple[float, list[str]]:
        async with open_async(mssante_sandbox, HELENE, idle_restart=0.5) as reader:
            await reader.folders()
            task = asyncio.create_task(reader.idle("Trash", timeout=2.0))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            started = time.monotonic()
            folders = await reader.folders()  # waits for the abandoned IDLE to end
            return time.monotonic() - started, [f.name for f in folders]

    waited, names = asyncio.run(run())
    assert waited >= 1.0  # the IDLE kept the connection until its timeout
    assert "INBOX" in names  # and the connection is still in a usable state


def test_errors_are_the_same_typed_errors(mssante_sandbox: SandboxInfo) -> None:
    async def run() -> None:
        async with open_async(mssante_sandbox, JEAN, Password("not the password")) as mb:
            with pytest.raises(AuthenticationError):
                await mb.folders()
            with pytest.raises(AuthenticationError):
                await mb.send(simple_message(JEAN, [HELENE], unique("async wrong password")))
            assert "not the password" not in repr(mb)

    asyncio.run(run())


def test_repr_and_exports(mssante_sandbox: SandboxInfo) -> None:
    import mssante_client
    import mssante_client.mail

    assert mssante_client.AsyncMailbox is mssante_client.mail.AsyncMailbox is AsyncMailbox
    password = mssante_sandbox.account(JEAN).password
    assert password
    mb = open_async(mssante_sandbox, JEAN)
    text = repr(mb)
    assert text.startswith("AsyncMailbox(") and password not in text
    assert str(mb.address) == JEAN and mb.nil == NIL
    asyncio.run(mb.close())  # never connected: closing is fine, and twice too
    asyncio.run(mb.close())
