"""SMTP submission against the sandbox's real Dovecot submission + Postfix.

Each credential kind sends for real and the message is read back over IMAP; refusals are typed and
proven harmless with a canary (see mailb_support). Two failure modes real servers cannot be made to
produce on demand use a tiny in-test peer: a server without STARTTLS on IMAP, and a connection cut
after DATA.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailb_support import (
    ACCUEIL,
    DPI,
    HELENE,
    JEAN,
    REVOQUE,
    SECRETARIAT,
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


# --- a peer that cuts the connection after DATA ------------------------------------------------


@pytest.fixture
def cut_after_data(mssante_sandbox: SandboxInfo) -> Iterator[tuple[int, list[bytes]]]:
    """Implicit-TLS SMTP peer (sandbox server certificate) that drops the line after the dot.

    Real Postfix/Dovecot cannot be made to die at exactly that point on demand; this peer only
    exists to prove we do not resend blindly.
    """
    pki = Path(mssante_sandbox.root) / "pki"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.fullchain.pem", pki / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    received: list[bytes] = []
    stop = threading.Event()

    def session(raw: socket.socket) -> None:
        with ctx.wrap_socket(raw, server_side=True) as s:
            f = s.makefile("rb")
            s.sendall(b"220 peer ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    s.sendall(b"250-peer\r\n250 AUTH PLAIN\r\n")
                elif cmd == b"AUTH":
                    s.sendall(b"235 ok\r\n")
                elif cmd in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    s.sendall(b"250 ok\r\n")
                elif cmd == b"DATA":
                    s.sendall(b"354 go\r\n")
                    body = b""
                    while not body.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            return
                        body += chunk
                    received.append(body)
                    return  # cut without the final reply
                else:
                    s.sendall(b"221 bye\r\n")
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError, ssl.SSLError):
                session(raw)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield port, received
    stop.set()
    listener.close()
    t.join(5)


def test_connection_cut_after_data_is_not_resent(
    cut_after_data: tuple[int, list[bytes]], mssante_sandbox: SandboxInfo
) -> None:
    port, received = cut_after_data
    mb = Mailbox(
        JEAN,
        Password("pw-secret"),
        host="127.0.0.1",
        smtp_port=port,
        security=Security.IMPLICIT,
        ca_file=mssante_sandbox.ca_file,
        timeout=5,
    )
    with mb, pytest.raises(DeliveryUncertainError) as err:
        mb.send(simple_message(JEAN, [HELENE], unique("cut")))
    assert isinstance(err.value, ConnectionLostError)
    assert err.value.maybe_sent is True
    assert err.value.message_id.startswith("<")
    assert len(received) == 1  # sent once, never replayed
