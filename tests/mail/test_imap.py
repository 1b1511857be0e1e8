"""IMAP against the sandbox's real Dovecot: incremental sync, CONDSTORE, move/delete, IDLE."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from mailb_support import (
    HELENE,
    JEAN,
    LocalPeer,
    MailboxFactory,
    delivered,
    simple_message,
    unique,
)

from mssante_client.errors import IMAPError, InvalidInputError, TLSRequiredError
from mssante_client.mail.credentials import Password
from mssante_client.mail.imap import uid_set
from mssante_client.mail.mailbox import Mailbox
from mssante_client.mail.sync import SyncState
from mssante_client.sandbox import Sandbox

pytestmark = pytest.mark.sandbox


def raw_message(subject: str, sender: str = JEAN, to: str = HELENE) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="medecin.mssante.test")
    m["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    m.set_content("Bonjour\n")
    return bytes(m)


@pytest.fixture
def folder_box(open_mailbox: MailboxFactory) -> tuple[Mailbox, str]:
    mb = open_mailbox(HELENE)
    name = unique("Tests").replace(" ", "-")
    mb.create_folder(name)
    return mb, name


def test_incremental_sync_returns_only_new_messages(folder_box: tuple[Mailbox, str]) -> None:
    mb, folder = folder_box
    first = [unique("a") for _ in range(4)]
    for s in first:
        mb.append(raw_message(s), folder)
    full = mb.envelopes(folder)
    assert full.full
    assert [e.subject for e in full.envelopes] == first
    saved = full.state.to_json()  # the caller keeps this between runs

    assert mb.envelopes(folder, SyncState.from_json(saved)).envelopes == ()

    later = [unique("b") for _ in range(3)]
    for s in later:
        mb.append(raw_message(s), folder)
    inc = mb.envelopes(folder, SyncState.from_json(saved))
    assert not inc.full
    assert [e.subject for e in inc.envelopes] == later
    assert inc.state.last_uid == max(e.uid for e in inc.envelopes)
    assert inc.state.uidvalidity == full.state.uidvalidity

    # the same through fetch_new: typed ReceivedMessage, not marked seen by fetching
    got = mb.fetch_new(folder, SyncState.from_json(saved))
    assert [m.subject for m in got.messages] == later
    assert all(m.uid is not None for m in got.messages)
    assert "\\Seen" not in mb.envelopes(folder).envelopes[-1].flags
    assert (got.state.last_uid, got.state.uidvalidity) == (
        inc.state.last_uid,
        inc.state.uidvalidity,
    )


def test_uidvalidity_change_forces_a_full_resync(folder_box: tuple[Mailbox, str]) -> None:
    mb, folder = folder_box
    mb.append(raw_message(unique("v")), folder)
    state = mb.envelopes(folder).state
    stale = SyncState(folder, state.uidvalidity + 1, state.last_uid, state.highestmodseq)
    again = mb.envelopes(folder, stale)
    assert again.full and len(again.envelopes) == 1
    assert again.state.uidvalidity == state.uidvalidity


def test_condstore_reports_flag_changes(
    folder_box: tuple[Mailbox, str], open_mailbox: MailboxFactory
) -> None:
    mb, folder = folder_box
    other_session = open_mailbox(HELENE)  # e.g. the user's webmail
    for _ in range(3):
        mb.append(raw_message(unique("f")), folder)
    first = mb.envelopes(folder)
    assert first.state.highestmodseq is not None  # Dovecot offers CONDSTORE
    target = first.envelopes[1].uid
    other_session.mark_seen([target], folder)
    changed = mb.envelopes(folder, first.state)
    assert changed.envelopes == ()
    assert changed.flag_changes.keys() == {target}
    assert "\\Seen" in changed.flag_changes[target]
    assert changed.state.highestmodseq is not None
    assert changed.state.highestmodseq > first.state.highestmodseq
    other_session.mark_seen([target], folder, seen=False)
    unseen = mb.envelopes(folder, changed.state)
    assert "\\Seen" not in unseen.flag_changes[target]


def test_move_and_delete(folder_box: tuple[Mailbox, str]) -> None:
    mb, folder = folder_box
    keep, move, drop = unique("keep"), unique("move"), unique("drop")
    for s in (keep, move, drop):
        mb.append(raw_message(s), folder)
    envs = {e.subject: e.uid for e in mb.envelopes(folder).envelopes}
    dest = folder + "-dest"
    mb.create_folder(dest)
    mb.move([envs[move]], dest, folder)
    mb.delete([envs[drop]], folder)
    assert [e.subject for e in mb.envelopes(folder).envelopes] == [keep]
    assert [e.subject for e in mb.envelopes(dest).envelopes] == [move]
    assert {f.name for f in mb.folders()} >= {"INBOX", folder, dest}


def test_fetch_one_and_unknown_uid(folder_box: tuple[Mailbox, str]) -> None:
    mb, folder = folder_box
    subject = unique("one")
    mb.append(raw_message(subject), folder)
    env = mb.envelopes(folder).envelopes[0]
    msg = mb.fetch(env.uid, folder)
    assert msg.subject == subject and msg.uid == env.uid
    with pytest.raises(InvalidInputError):
        mb.fetch(env.uid + 1000, folder)
    with pytest.raises(IMAPError):
        mb.envelopes("No-Such-Folder-" + unique("x").replace(" ", ""))


def test_uid_set() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    with pytest.raises(IMAPError):
        uid_set([])


def _idle_in_thread(mb: Mailbox, timeout: float) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(mb.idle("INBOX", timeout=timeout)))
    t.start()
    return t, result


def test_idle_wakes_on_new_message(open_mailbox: MailboxFactory) -> None:
    reader = open_mailbox(HELENE)
    sender = open_mailbox(JEAN)
    subject = unique("idle")
    t, result = _idle_in_thread(reader, timeout=60)
    time.sleep(1.0)  # let IDLE start; a message arriving earlier is also detected (UIDNEXT)
    sender.send(simple_message(JEAN, [HELENE], subject))
    t.join(70)
    assert result == [True]
    delivered(reader, subject)


def test_idle_times_out_without_mail(open_mailbox: MailboxFactory) -> None:
    reader = open_mailbox(HELENE, idle_restart=0.5)  # restarts IDLE twice within the wait
    reader2 = open_mailbox(HELENE)
    reader2.envelopes()  # quiet: nobody sends to helene from here
    assert reader.idle("Trash", timeout=1.5) is False


def test_idle_survives_a_dovecot_restart(
    open_mailbox: MailboxFactory, mssante_sandbox_control: Sandbox
) -> None:
    reader = open_mailbox(HELENE)
    sender = open_mailbox(JEAN)
    subject = unique("idle restart")
    t, result = _idle_in_thread(reader, timeout=90)
    time.sleep(1.0)
    idling = reader._imap.connection()
    mssante_sandbox_control.restart_service("dovecot")
    # This Dovecot lets logged-in sessions outlive its master; cut ours as a real restart would
    # (unless the IDLE thread already saw it go and closed it).
    with contextlib.suppress(OSError):
        idling.sock.shutdown(socket.SHUT_RDWR)
    sender.send(simple_message(JEAN, [HELENE], subject))  # new SMTP connection after restart
    t.join(100)
    assert result == [True]
    assert reader._imap.connection() is not idling  # it did reconnect
    delivered(reader, subject)


def test_operations_reconnect_after_a_restart(
    open_mailbox: MailboxFactory, mssante_sandbox_control: Sandbox
) -> None:
    mb = open_mailbox(HELENE)
    before = mb._imap.connection()
    assert mb.folders()
    mssante_sandbox_control.restart_service("dovecot")
    with contextlib.suppress(OSError):  # sessions outlive this Dovecot's master: cut ours
        before.sock.shutdown(socket.SHUT_RDWR)
    assert any(f.name == "INBOX" for f in mb.folders())  # replayed once on a new connection
    assert mb._imap.connection() is not before


# --- a plaintext IMAP peer that offers no STARTTLS -------------------------------------------


@pytest.fixture
def plaintext_imap() -> Iterator[tuple[int, list[bytes]]]:
    lines: list[bytes] = []

    def session(conn: socket.socket) -> None:
        f = conn.makefile("rb")
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] ready\r\n")
        while line := f.readline():
            lines.append(line)
            tag = line.split(b" ", 1)[0]
            if b"CAPABILITY" in line.upper():
                conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            elif b"LOGOUT" in line.upper():
                conn.sendall(b"* BYE\r\n" + tag + b" OK done\r\n")
                return
            else:
                conn.sendall(tag + b" OK done\r\n")

    peer = LocalPeer(session)
    yield peer.port, lines
    peer.close()


def test_imap_without_starttls_is_refused_before_any_credential(
    plaintext_imap: tuple[int, list[bytes]],
) -> None:
    port, lines = plaintext_imap
    mb = Mailbox(JEAN, Password("never-on-the-wire"), host="127.0.0.1", imap_port=port, timeout=5)
    with mb, pytest.raises(TLSRequiredError):
        mb.folders()
    wire = b"".join(lines)
    assert b"CAPABILITY" in wire  # the peer was really talked to
    assert b"AUTHENTICATE" not in wire and b"LOGIN" not in wire.upper().replace(b"LOGOUT", b"")
    assert b"never-on-the-wire" not in wire


def test_move_without_the_move_extension(folder_box: tuple[Mailbox, str]) -> None:
    """COPY + \\Deleted + UID EXPUNGE path, on the real server with MOVE hidden from us."""
    mb, folder = folder_box
    stay, go = unique("stay"), unique("go")
    mb.append(raw_message(stay), folder)
    mb.append(raw_message(go), folder)
    uids = {e.subject: e.uid for e in mb.envelopes(folder).envelopes}
    dest = folder + "-copy"
    mb.create_folder(dest)
    mb._imap._caps = mb._imap.capabilities - {"MOVE"}
    mb.move([uids[go]], dest, folder)
    assert [e.subject for e in mb.envelopes(folder).envelopes] == [stay]
    assert [e.subject for e in mb.envelopes(dest).envelopes] == [go]


def test_idle_falls_back_to_polling_without_the_extension(open_mailbox: MailboxFactory) -> None:
    reader = open_mailbox(HELENE)
    reader.folders()
    reader._imap._caps = reader._imap.capabilities - {"IDLE"}
    sender = open_mailbox(JEAN)
    t, result = _idle_in_thread(reader, timeout=60)
    time.sleep(1.0)
    sender.send(simple_message(JEAN, [HELENE], unique("poll")))
    t.join(70)
    assert result == [True]
