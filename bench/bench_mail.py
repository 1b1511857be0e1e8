"""Mailbox benchmarks on a real sandbox, each against a raw stdlib baseline in the same run.

1. SMTP: N messages of ~50 KB over one connection. Baseline: a raw ``smtplib`` loop
   (STARTTLS + AUTH PLAIN, then ``sendmail`` of the same bytes). SDK: ``Mailbox.send`` of the same
   messages PRE-COMPOSED (composition outside the timed loop for both); a second SDK figure composes
   inside the loop, for information. Rounds alternate baseline / SDK to share the server's noise.
2. IMAP: a folder of M messages (filled with APPEND, untimed). Baseline: raw ``imaplib`` SELECT +
   ``UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)``, unparsed. SDK: ``Mailbox.envelopes(folder)``
   (SELECT + the same FETCH + typed parsing). Then an incremental sync with 10 new messages,
   compared with the full SDK sync.

Usage::

    python bench/bench_mail.py [--messages 1000] [--size 50000] [--folder-size 10000]
                               [--rounds 5] [--root DIR --port-base N]

Without ``--root`` a sandbox is started in a temporary directory (port base 31000) and stopped at
the end. Prints the ratios (SDK / baseline); timings are machine-dependent, ratios are what count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import shutil
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mssante_client.mail.credentials import Password
from mssante_client.mail.imap import ENVELOPE_ITEMS
from mssante_client.mail.mailbox import Mailbox
from mssante_client.mail.message import ComposedMessage, Message, Sender
from mssante_client.mail.sasl import plain
from mssante_client.mail.sync import SyncState
from mssante_client.sandbox import Sandbox, SandboxInfo
from mssante_client.tls import create_client_context

SENDER = "jean.dupont@medecin.mssante.test"
RECIPIENT = "accueil@hopital.mssante.test"
READER = "secretariat.cardio@hopital.mssante.test"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def password(info: SandboxInfo, address: str) -> str:
    pw = info.account(address).password
    assert pw is not None
    return pw


def mailbox(info: SandboxInfo, address: str) -> Mailbox:
    return Mailbox(
        address,
        Password(password(info, address)),
        host=info.host,
        smtp_port=info.submission_port,
        imap_port=info.imap_port,
        ca_file=info.ca_file,
        nil="DEV000001",
    )


# --- SMTP ------------------------------------------------------------------------------------


def messages(n: int, size: int) -> list[Message]:
    line = "Compte rendu de consultation, ligne de texte pour le volume.\n"
    body = (line * (size // len(line) + 1))[:size]
    sender = Sender.entity(SENDER, "Dr Jean DUPONT")
    return [
        Message(sender=sender, to=[RECIPIENT], subject=f"bench {i}", body=body) for i in range(n)
    ]


def raw_smtp_loop(info: SandboxInfo, batch: list[ComposedMessage]) -> None:
    ctx = create_client_context(ca_file=info.ca_file)
    s = smtplib.SMTP(info.host, info.submission_port, local_hostname="bench", timeout=60)
    s.ehlo()
    s.starttls(context=ctx)
    s.ehlo()
    s.docmd("AUTH", "PLAIN " + plain(SENDER, password(info, SENDER)).encoded())
    for m in batch:
        s.sendmail(m.mail_from, list(m.recipients), m.data)
    s.quit()


def sdk_smtp_loop(info: SandboxInfo, batch: list[ComposedMessage]) -> None:
    with mailbox(info, SENDER) as mb:
        for m in batch:
            mb.send(m)


def sdk_smtp_compose_loop(info: SandboxInfo, batch: list[Message]) -> None:
    with mailbox(info, SENDER) as mb:
        for m in batch:
            mb.send(m)


class Inbox:
    """Counts deliveries into a mailbox (STATUS MESSAGES), to drain the queue between batches."""

    def __init__(self, info: SandboxInfo, address: str) -> None:
        self.conn = imaplib.IMAP4(info.host, info.imap_port, timeout=60)
        self.conn.starttls(ssl_context=create_client_context(ca_file=info.ca_file))
        payload = plain(address, password(info, address)).payload
        self.conn.authenticate("PLAIN", lambda _: payload)
        self.seen = self.count()

    def count(self) -> int:
        _, data = self.conn.status("INBOX", "(MESSAGES)")
        raw = data[0]
        assert isinstance(raw, bytes)
        return int(raw.rsplit(b"MESSAGES ", 1)[1].rstrip(b")"))

    def wait_for(self, n: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < self.seen + n:
            if time.monotonic() > deadline:
                raise RuntimeError("deliveries did not arrive in time")
            time.sleep(0.2)
        self.seen += n

    def close(self) -> None:
        self.conn.logout()


def bench_smtp(info: SandboxInfo, n: int, size: int, rounds: int) -> dict[str, float]:
    per_round = max(1, n // rounds)
    plain_msgs = messages(per_round, size)
    with mailbox(info, SENDER) as mb:
        composed = [mb.compose(m) for m in plain_msgs]
    print(
        f"SMTP: {rounds} rounds x {per_round} messages of {composed[0].size} bytes "
        f"(total {rounds * per_round}) to {RECIPIENT}"
    )
    raw: list[float] = []
    sdk: list[float] = []
    sdk_c: list[float] = []
    watcher = Inbox(info, RECIPIENT)
    raw_smtp_loop(info, composed[:5])  # warm-up (TLS session, Postfix processes)
    watcher.wait_for(5)
    for r in range(rounds):
        order = [0, 1, 2] if r % 2 == 0 else [2, 1, 0]
        for which in order:
            if which == 0:
                raw.append(timed(lambda: raw_smtp_loop(info, composed)))
            elif which == 1:
                sdk.append(timed(lambda: sdk_smtp_loop(info, composed)))
            else:
                sdk_c.append(timed(lambda: sdk_smtp_compose_loop(info, plain_msgs)))
            # untimed: let Postfix deliver the batch so it does not load the next timed one
            watcher.wait_for(per_round)
    watcher.close()
    t_raw, t_sdk, t_sdkc = sum(raw), sum(sdk), sum(sdk_c)
    print(f"  raw smtplib loop          {t_raw:8.2f} s")
    print(
        f"  SDK send (pre-composed)   {t_sdk:8.2f} s   ratio {t_sdk / t_raw:5.2f}  (target <= 1.3)"
    )
    print(f"  SDK send (compose inside) {t_sdkc:8.2f} s   ratio {t_sdkc / t_raw:5.2f}  (info)")
    return {"smtp_ratio": t_sdk / t_raw, "smtp_compose_ratio": t_sdkc / t_raw}


# --- IMAP ------------------------------------------------------------------------------------


def raw_message(i: int) -> bytes:
    m = EmailMessage()
    # realistic mix: accented display names (encoded words) and, one in three, a long
    # XDM/1.0/DDM+ subject that gets folded (Dovecot then sends it as an IMAP literal)
    name = f"Dr Hélène LEFÈBVRE {i % 97}" if i % 2 else f"Dr Praticien {i % 97}"
    m["From"] = f'"{name}" <praticien{i % 97}@medecin.mssante.test>'
    m["To"] = f"{READER}, autre{i % 13}@hopital.mssante.test"
    if i % 3 == 0:
        m["Subject"] = (
            f"XDM/1.0/DDM+Compte rendu d'hospitalisation en cardiologie interventionnelle "
            f"MALADE-TEST Camille 12/07/1985 dossier {i}"
        )
    else:
        m["Subject"] = f"Compte rendu {i} XDM/1.0/DDM+Lettre de liaison"
    m["Message-ID"] = make_msgid(idstring=str(i), domain="medecin.mssante.test")
    m["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    m.set_content("Bonjour,\nvoici le compte rendu.\n")
    return bytes(m)


def raw_imap(info: SandboxInfo) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(info.host, info.imap_port, timeout=120)
    # same socket option as the SDK's transport (imaplib writes a literal and its CRLF apart)
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.starttls(ssl_context=create_client_context(ca_file=info.ca_file))
    payload = plain(READER, password(info, READER)).payload
    conn.authenticate("PLAIN", lambda _: payload)
    return conn


def fill(conn: imaplib.IMAP4, folder: str, start: int, count: int, batch: int = 500) -> None:
    """Setup, untimed: MULTIAPPEND (RFC 3502) with LITERAL+ literals, ``batch`` messages a command
    (one APPEND per message costs a server fsync each)."""
    _, data = conn.capability()
    caps = set(data[0].decode().upper().split())
    assert "MULTIAPPEND" in caps and "LITERAL+" in caps, caps
    for first in range(start, start + count, batch):
        tag = conn._new_tag()
        parts = [tag + b' APPEND "' + folder.encode() + b'"']
        for i in range(first, min(first + batch, start + count)):
            message = raw_message(i)
            parts.append(b" {%d+}\r\n" % len(message) + message)
        conn.send(b"".join(parts) + b"\r\n")
        while True:
            line = conn.readline()
            if not line:
                raise RuntimeError("connection closed during APPEND")
            if line.startswith(tag + b" "):
                assert line[len(tag) + 1 :].startswith(b"OK"), line
                break
        conn.tagged_commands.pop(tag, None)


def bench_imap(info: SandboxInfo, folder_size: int, rounds: int) -> dict[str, float]:
    folder = f"Bench{int(time.time())}"
    conn = raw_imap(info)
    conn.create(folder)
    t_fill = timed(lambda: fill(conn, folder, 0, folder_size))
    print(f"IMAP: folder {folder} filled with {folder_size} messages by APPEND in {t_fill:.1f} s")

    def raw_fetch() -> int:
        typ, _ = conn.select(folder)
        assert typ == "OK"
        typ, data = conn.uid("FETCH", "1:*", ENVELOPE_ITEMS)
        assert typ == "OK"
        return len(data)

    mb = mailbox(info, READER)
    full_state: SyncState | None = None

    def sdk_full() -> None:
        nonlocal full_state
        res = mb.envelopes(folder)
        assert len(res.envelopes) == folder_size, len(res.envelopes)
        full_state = res.state

    raw_fetch()
    sdk_full()  # warm-up: Dovecot builds its cache
    raw: list[float] = []
    sdk: list[float] = []
    for r in range(rounds):
        order = ("raw", "sdk") if r % 2 == 0 else ("sdk", "raw")
        for which in order:
            if which == "raw":
                raw.append(timed(raw_fetch))
            else:
                sdk.append(timed(sdk_full))
    t_raw, t_sdk = statistics.median(raw), statistics.median(sdk)
    print(f"  raw imaplib UID FETCH (unparsed)  median {t_raw:7.3f} s")
    print(
        f"  SDK envelopes() typed             median {t_sdk:7.3f} s   "
        f"ratio {t_sdk / t_raw:5.2f}  (target <= 3)"
    )

    total = folder_size
    assert full_state is not None
    state: SyncState = full_state

    def incremental(fresh_connection: bool) -> float:
        """Median time of a sync that finds 10 new messages (appended untimed before each)."""
        nonlocal total, state
        times: list[float] = []
        for _ in range(rounds):
            fill(conn, folder, total, 10)
            total += 10
            t0 = time.perf_counter()
            if fresh_connection:
                with mailbox(info, READER) as fresh:
                    res = fresh.envelopes(folder, state)
            else:
                res = mb.envelopes(folder, state)
            times.append(time.perf_counter() - t0)
            assert len(res.envelopes) == 10, len(res.envelopes)
            state = res.state
        return statistics.median(times)

    t_inc = incremental(fresh_connection=False)
    print(
        f"  SDK incremental (10 new)          median {t_inc:7.4f} s   "
        f"{100 * t_inc / t_sdk:5.2f} % of the full sync  (target < 5 %)"
    )
    # For information: the same from a brand-new Mailbox (connect + TLS + AUTH + SELECT), as a
    # short-lived process (e.g. the CLI) would do it with a saved state.
    t_cold = incremental(fresh_connection=True)
    print(
        f"  SDK incremental, new connection   median {t_cold:7.4f} s   "
        f"{100 * t_cold / t_sdk:5.2f} % of the full sync  (info)"
    )
    conn.logout()
    mb.close()
    return {
        "imap_ratio": t_sdk / t_raw,
        "incremental_pct": 100 * t_inc / t_sdk,
        "incremental_cold_pct": 100 * t_cold / t_sdk,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--size", type=int, default=50_000)
    p.add_argument("--folder-size", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--root", type=Path)
    p.add_argument("--port-base", type=int, default=31000)
    p.add_argument("--skip-smtp", action="store_true")
    p.add_argument("--skip-imap", action="store_true")
    args = p.parse_args(argv)

    tmp = None
    root = args.root
    if root is None:
        tmp = tempfile.mkdtemp(prefix="mss-bench-")
        root = Path(tmp)
    sandbox = Sandbox(root, port_base=args.port_base)
    started = sandbox.status() is None
    info = sandbox.start(directory_entries=10)
    try:
        results: dict[str, float] = {}
        if not args.skip_smtp:
            results |= bench_smtp(info, args.messages, args.size, args.rounds)
        if not args.skip_imap:
            results |= bench_imap(info, args.folder_size, args.rounds)
        print("RESULTS " + " ".join(f"{k}={v:.3f}" for k, v in results.items()))
    finally:
        if started:
            sandbox.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
