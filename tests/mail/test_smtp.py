"""SMTP submission against the sandbox's real Dovecot submission + Postfix.

Each credential kind sends for real and the message is read back over IMAP; refusals are typed and
proven harmless with a canary (see mailb_support). Two failure modes real servers cannot be made to
produce on demand use a tiny in-test peer: a server without STARTTLS on IMAP, and a connection cut
after DATA.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mailb_support import (
    ACCUEIL,
    DPI,
    HELENE,
    JEAN,
    REVOQUE,
    SECRETARIAT,
    LocalPeer,
    MailboxFactory,
    assert_not_delivered,
    delivered,
    find_subject,
    simple_message,
    unique,
    wait_for,
)

from mssante_client.errors import (
    AuthenticationError,
    ConnectionLostError,
    MessageError,
    RecipientsRefusedError,
    SMTPError,
    TLSRequiredError,
    TokenError,
    UntrustedDomainError,
)
from mssante_client.mail.credentials import (
    ClientCertificate,
    Credentials,
    OAuth2Mechanism,
    OAuth2Token,
    Password,
)
from mssante_client.mail.endpoint import Security
from mssante_client.mail.mailbox import Mailbox
from mssante_client.mail.message import DsnNotify, DsnOptions
from mssante_client.mail.reports import DeliveryReport
from mssante_client.mail.smtp import (
    AllRecipientsRefusedError,
    DeliveryUncertainError,
    RetryPolicy,
    reply_class,
)
from mssante_client.sandbox import Sandbox, SandboxInfo

pytestmark = pytest.mark.sandbox


def _credentials(kind: str, info: SandboxInfo, control: Sandbox, address: str) -> Credentials:
    acc = info.account(address)
    if kind == "password":
        assert acc.password
        return Password(acc.password)
    if kind == "pem":
        assert acc.chain_file and acc.key_file
        return ClientCertificate.from_pem(acc.chain_file, acc.key_file)
    if kind == "pkcs12":
        assert acc.p12_file and acc.p12_password
        return ClientCertificate.from_pkcs12(acc.p12_file, acc.p12_password)
    if kind == "xoauth2":
        return OAuth2Token(lambda: control.mint_token(address), OAuth2Mechanism.XOAUTH2)
    if kind == "oauthbearer":
        return OAuth2Token(lambda: control.mint_token(address), OAuth2Mechanism.OAUTHBEARER)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["password", "pem", "pkcs12", "xoauth2", "oauthbearer"])
def test_send_with_each_credential_kind(
    kind: str,
    open_mailbox: MailboxFactory,
    mssante_sandbox: SandboxInfo,
    mssante_sandbox_control: Sandbox,
) -> None:
    creds = _credentials(kind, mssante_sandbox, mssante_sandbox_control, JEAN)
    sender = open_mailbox(JEAN, creds)
    reader = open_mailbox(HELENE)
    subject = unique(f"cred {kind}")
    result = sender.send(simple_message(JEAN, [HELENE], subject))
    assert result.accepted == (HELENE,)
    assert result.refused == ()
    [env] = delivered(reader, subject)
    assert env.from_[0].address == JEAN
    assert env.message_id == result.message_id
    # the same credentials also open the IMAP side
    assert any(f.name == "INBOX" for f in sender.folders())


def test_external_with_authzid_acts_for_the_organisational_mailbox(
    open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo
) -> None:
    dpi = mssante_sandbox.account(DPI)
    assert dpi.p12_file and dpi.p12_password and SECRETARIAT in dpi.can_act_as
    cert = ClientCertificate.from_pkcs12(dpi.p12_file, dpi.p12_password, authzid=SECRETARIAT)
    secretariat = open_mailbox(SECRETARIAT, cert)
    reader = open_mailbox(HELENE)
    subject = unique("authzid")
    secretariat.send(simple_message(SECRETARIAT, [HELENE], subject))
    [env] = delivered(reader, subject)
    assert env.from_[0].address == SECRETARIAT
    # and the IMAP session is the secretariat's mailbox
    assert secretariat.envelopes().state.folder == "INBOX"


def test_per_recipient_refusal_and_partial_delivery(open_mailbox: MailboxFactory) -> None:
    sender = open_mailbox(JEAN)
    reader = open_mailbox(HELENE)
    subject = unique("partial")
    result = sender.send(simple_message(JEAN, [HELENE, "unknown@medecin.mssante.test"], subject))
    assert result.accepted == (HELENE,)
    [refused] = result.refused
    assert refused.address == "unknown@medecin.mssante.test"
    assert refused.code == 550 and not refused.accepted and not refused.temporary
    assert "5.1.1" in refused.text
    delivered(reader, subject)


def test_all_recipients_refused_sends_nothing(open_mailbox: MailboxFactory) -> None:
    sender = open_mailbox(JEAN)
    reader = open_mailbox(HELENE)
    subject = unique("all refused")
    bad = ["unknown@medecin.mssante.test", "nobody@medecin.mssante.test"]
    with pytest.raises(AllRecipientsRefusedError) as err:
        sender.send(simple_message(JEAN, [*bad, "ghost@medecin.mssante.test"], subject, cc=[]))
    assert isinstance(err.value, RecipientsRefusedError)
    assert err.value.code == 550
    assert [r.code for r in err.value.results] == [550, 550, 550]
    assert_not_delivered(sender, JEAN, reader, HELENE, subject)


def test_dsn_is_requested_when_offered(open_mailbox: MailboxFactory) -> None:
    """RET/ENVID on MAIL FROM and NOTIFY=SUCCESS on RCPT: a success DSN comes back (ECO.2.3.1)."""
    sender = open_mailbox(ACCUEIL)
    subject = unique("dsn")
    dsn = DsnOptions(
        frozenset({DsnNotify.SUCCESS, DsnNotify.FAILURE}), envid=subject.replace(" ", "-")
    )
    sender.send(simple_message(ACCUEIL, [HELENE], subject, dsn=dsn))

    def dsn_back() -> list[DeliveryReport]:
        return [
            m.report
            for m in sender.fetch_new().messages
            if isinstance(m.report, DeliveryReport) and m.report.original_envelope_id == dsn.envid
        ]

    [report] = wait_for(dsn_back)
    assert [r.final_recipient for r in report.recipients] != []
    assert report.failed == ()


def test_trust_policy_refuses_before_connecting(open_mailbox: MailboxFactory) -> None:
    class OnlyMedecin:
        def is_trusted(self, address: str) -> bool:
            return address.endswith("@medecin.mssante.test")

    sender = open_mailbox(JEAN, trust_policy=OnlyMedecin())
    subject = unique("untrusted")
    with pytest.raises(UntrustedDomainError):
        sender.send(simple_message(JEAN, [HELENE, ACCUEIL], subject))
    assert not sender._smtp.connected  # nothing left the machine, not even a connection
    reader = open_mailbox(HELENE)
    assert_not_delivered(sender, JEAN, reader, HELENE, subject)


def test_size_limit_checked_before_sending(open_mailbox: MailboxFactory) -> None:
    sender = open_mailbox(JEAN, max_message_size=2_000)
    subject = unique("too big")
    with pytest.raises(MessageError):
        sender.send(simple_message(JEAN, [HELENE], subject, body="x" * 5_000))
    reader = open_mailbox(HELENE)
    assert_not_delivered(open_mailbox(JEAN), JEAN, reader, HELENE, subject)


def test_connection_is_reused_and_reopened_once_when_dropped(open_mailbox: MailboxFactory) -> None:
    sender = open_mailbox(JEAN)
    reader = open_mailbox(HELENE)
    first, second, third = unique("reuse 1"), unique("reuse 2"), unique("reuse 3")
    sender.send(simple_message(JEAN, [HELENE], first))
    conn = sender._smtp.connection()
    sender.send(simple_message(JEAN, [HELENE], second))
    assert sender._smtp.connection() is conn  # same connection for both
    assert conn.sock is not None
    conn.sock.shutdown(socket.SHUT_RDWR)  # the network drops it
    result = sender.send(simple_message(JEAN, [HELENE], third))
    assert sender._smtp.connection() is not conn
    assert result.accepted == (HELENE,)
    for s in (first, second, third):
        assert len(delivered(reader, s)) == 1  # each exactly once


def test_no_starttls_on_smtp_refuses_before_auth(
    open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo
) -> None:
    """Postfix's internal port offers no STARTTLS: we refuse, nothing is sent."""
    sender = open_mailbox(
        JEAN, host=mssante_sandbox.loopback_host, smtp_port=mssante_sandbox.ports.smtp_internal
    )
    subject = unique("cleartext")
    with pytest.raises(TLSRequiredError):
        sender.send(simple_message(JEAN, [HELENE], subject))
    reader = open_mailbox(HELENE)
    assert_not_delivered(open_mailbox(JEAN), JEAN, reader, HELENE, subject)


def test_expired_token_is_a_token_error_after_one_fresh_try(
    open_mailbox: MailboxFactory, mssante_sandbox_control: Sandbox
) -> None:
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return mssante_sandbox_control.mint_token(JEAN, expired=True)

    sender = open_mailbox(JEAN, OAuth2Token(provider))
    subject = unique("expired token")
    with pytest.raises(TokenError):
        sender.send(simple_message(JEAN, [HELENE], subject))
    assert len(calls) == 2  # asked again once (ECO.1.2.7), then gave up
    with pytest.raises(TokenError):
        sender.folders()
    reader = open_mailbox(HELENE)
    assert_not_delivered(open_mailbox(JEAN), JEAN, reader, HELENE, subject)


def test_refused_token_then_fresh_valid_token_succeeds(
    open_mailbox: MailboxFactory, mssante_sandbox_control: Sandbox
) -> None:
    tokens = iter(
        [mssante_sandbox_control.mint_token(JEAN, expired=True)]
        + [mssante_sandbox_control.mint_token(JEAN) for _ in range(3)]
    )
    sender = open_mailbox(JEAN, OAuth2Token(lambda: next(tokens)))
    reader = open_mailbox(HELENE)
    subject = unique("token refresh")
    sender.send(simple_message(JEAN, [HELENE], subject))
    delivered(reader, subject)


@pytest.mark.parametrize("which", ["revoked", "rogue"])
def test_revoked_or_unknown_ca_certificate_is_refused(
    which: str, open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo
) -> None:
    bundle = mssante_sandbox.revoked_cert if which == "revoked" else mssante_sandbox.rogue_cert
    address = REVOQUE if which == "revoked" else JEAN
    cert = ClientCertificate.from_pkcs12(bundle.p12_file, bundle.p12_password)
    sender = open_mailbox(address, cert)
    subject = unique(f"cert {which}")
    with pytest.raises(AuthenticationError):
        sender.send(simple_message(address, [HELENE], subject))
    with pytest.raises(AuthenticationError):
        sender.folders()
    reader = open_mailbox(HELENE)
    assert_not_delivered(open_mailbox(JEAN), JEAN, reader, HELENE, subject)


def test_implicit_tls_ports(open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo) -> None:
    sender = open_mailbox(
        JEAN,
        security=Security.IMPLICIT,
        smtp_port=mssante_sandbox.submissions_port,
        imap_port=mssante_sandbox.imaps_port,
    )
    reader = open_mailbox(HELENE)
    subject = unique("implicit")
    sender.send(simple_message(JEAN, [HELENE], subject))
    delivered(reader, subject)
    assert find_subject(reader, subject)[0].from_[0].address == JEAN
    assert any(f.name == "INBOX" for f in sender.folders())  # IMAPS too


# --- pure rules ---------------------------------------------------------------------------


def test_reply_classes_and_backoff() -> None:
    assert [reply_class(c) for c in (250, 354, 421, 452, 550, 554)] == [
        "ok",
        "ok",
        "temporary",
        "temporary",
        "permanent",
        "permanent",
    ]
    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]


# --- scripted peers for failure modes real servers cannot produce on demand --------------------


class ScriptedPeer:
    """Implicit-TLS SMTP peer (with the sandbox's server certificate) driven by a small script.

    Real Postfix/Dovecot cannot be made to answer 451 or to die right after the final dot on
    demand; this peer exists only to prove how the client reacts to those two cases.
    ``replies`` maps a command (``MAIL``, ``RCPT``, ``DATA``, ``END`` for after the dot) to a list
    of replies consumed in order (default ``250 ok``); ``None`` as a reply cuts the connection.
    """

    def __init__(self, info: SandboxInfo, replies: dict[bytes, list[bytes | None]]) -> None:
        pki = Path(info.root) / "pki"
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki / "server.fullchain.pem", pki / "server.key")
        self.replies = replies
        self.bodies: list[bytes] = []
        self.commands: list[bytes] = []
        self.peer = LocalPeer(self.session)
        self.port = self.peer.port

    def reply(self, cmd: bytes, default: bytes) -> bytes | None:
        queue = self.replies.get(cmd)
        return queue.pop(0) if queue else default

    def session(self, raw: socket.socket) -> None:
        with self.ctx.wrap_socket(raw, server_side=True) as s:
            f = s.makefile("rb")
            s.sendall(b"220 peer ESMTP\r\n")
            while line := f.readline():
                cmd = line[:4].upper()
                self.commands.append(cmd)
                if cmd == b"EHLO":
                    out: bytes | None = b"250-peer\r\n250 AUTH PLAIN\r\n"
                elif cmd == b"AUTH":
                    out = b"235 ok\r\n"
                elif cmd == b"DATA":
                    out = self.reply(b"DATA", b"354 go\r\n")
                    if out is not None and out.startswith(b"354"):
                        s.sendall(out)
                        body = b""
                        while not body.endswith(b"\r\n.\r\n"):
                            chunk = f.readline()
                            if not chunk:
                                return
                            body += chunk
                        self.bodies.append(body)
                        out = self.reply(b"END", b"250 queued\r\n")
                elif cmd == b"QUIT":
                    s.sendall(b"221 bye\r\n")
                    return
                else:
                    out = self.reply(cmd, b"250 ok\r\n")
                if out is None:
                    return  # cut the connection
                s.sendall(out)

    def close(self) -> None:
        self.peer.close()

    def mailbox(self, info: SandboxInfo, **kw: Any) -> Mailbox:
        return Mailbox(
            JEAN,
            Password("pw-secret"),
            host="127.0.0.1",
            smtp_port=self.port,
            security=Security.IMPLICIT,
            ca_file=info.ca_file,
            timeout=5,
            **kw,
        )


@pytest.fixture
def peer(mssante_sandbox: SandboxInfo) -> Iterator[Callable[..., ScriptedPeer]]:
    made: list[ScriptedPeer] = []

    def make(**replies: list[bytes | None]) -> ScriptedPeer:
        p = ScriptedPeer(mssante_sandbox, {k.encode(): v for k, v in replies.items()})
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def test_connection_cut_after_data_is_not_resent(
    peer: Callable[..., ScriptedPeer], mssante_sandbox: SandboxInfo
) -> None:
    p = peer(END=[None])
    with p.mailbox(mssante_sandbox) as mb, pytest.raises(DeliveryUncertainError) as err:
        mb.send(simple_message(JEAN, [HELENE], unique("cut")))
    assert isinstance(err.value, ConnectionLostError)
    assert err.value.maybe_sent is True
    assert err.value.message_id.startswith("<")
    assert len(p.bodies) == 1  # sent once, never replayed


def test_temporary_failures_are_retried_with_backoff(
    peer: Callable[..., ScriptedPeer], mssante_sandbox: SandboxInfo
) -> None:
    p = peer(MAIL=[b"451 4.3.0 try later\r\n"], RCPT=[b"250 ok\r\n", b"452 4.2.2 full\r\n"])
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with p.mailbox(mssante_sandbox, retry=policy) as mb:
        result = mb.send(simple_message(JEAN, [HELENE, SECRETARIAT], unique("retry")))
    # 1: MAIL 451 -> RSET; 2: RCPT 250 + 452 -> RSET; 3: both 250 -> sent
    assert result.attempts == 3
    assert result.accepted == (HELENE, SECRETARIAT)
    assert len(p.bodies) == 1
    assert p.commands.count(b"RSET") == 2


def test_temporary_failure_that_persists_is_an_smtp_error(
    peer: Callable[..., ScriptedPeer], mssante_sandbox: SandboxInfo
) -> None:
    p = peer(DATA=[b"451 busy\r\n"] * 3)
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with p.mailbox(mssante_sandbox, retry=policy) as mb, pytest.raises(SMTPError) as err:
        mb.send(simple_message(JEAN, [HELENE], unique("busy")))
    assert err.value.code == 451
    assert p.bodies == []


def test_recipient_still_temporary_on_the_last_attempt_is_reported(
    peer: Callable[..., ScriptedPeer], mssante_sandbox: SandboxInfo
) -> None:
    busy = b"450 4.2.1 mailbox busy\r\n"
    p = peer(RCPT=[b"250 ok\r\n", busy, b"250 ok\r\n", busy])
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
    with p.mailbox(mssante_sandbox, retry=policy) as mb:
        result = mb.send(simple_message(JEAN, [HELENE, SECRETARIAT], unique("partial busy")))
    assert result.accepted == (HELENE,)
    [late] = result.refused
    assert late.address == SECRETARIAT and late.temporary and late.code == 450
    assert len(p.bodies) == 1
