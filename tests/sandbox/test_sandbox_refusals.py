"""What the sandbox must refuse, like a real MSSanté operator would."""

from __future__ import annotations

import imaplib
import smtplib
import socket

import pytest
from sandbox_clients import JEAN, SECRETARIAT, Clients, smtp_external, xoauth2

pytestmark = pytest.mark.sandbox


def _imap_external_fails(
    clients: Clients, ctx_cert: tuple[str, str] | None, authzid: str = ""
) -> None:
    from pathlib import Path

    ctx = clients.context(*(Path(p) for p in ctx_cert)) if ctx_cert else clients.context()
    conn = clients.imap(True, ctx)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.authenticate("EXTERNAL", lambda _: authzid.encode())
    finally:
        conn.logout()


def test_revoked_certificate_is_refused_over_imap(clients: Clients) -> None:
    revoked = clients.info.revoked_cert
    _imap_external_fails(clients, (str(revoked.chain_file), str(revoked.key_file)))


def test_unknown_ca_certificate_is_refused_over_imap(clients: Clients) -> None:
    rogue = clients.info.rogue_cert
    assert rogue.address == JEAN  # it claims Jean's identity, from an unknown CA
    _imap_external_fails(clients, (str(rogue.chain_file), str(rogue.key_file)))


def test_external_without_certificate_is_refused(clients: Clients) -> None:
    _imap_external_fails(clients, None)


def test_authzid_without_delegation_is_refused(clients: Clients) -> None:
    jean = clients.info.account(JEAN)
    _imap_external_fails(clients, (str(jean.chain_file), str(jean.key_file)), SECRETARIAT)


@pytest.mark.parametrize("which", ["revoked", "rogue"])
def test_bad_certificates_are_refused_over_smtp(clients: Clients, which: str) -> None:
    bundle = clients.info.revoked_cert if which == "revoked" else clients.info.rogue_cert
    conn = clients.smtp(False, clients.context(bundle.chain_file, bundle.key_file))
    try:
        code, _ = smtp_external(conn)
        assert code == 535
    finally:
        conn.close()


def test_expired_token_is_refused(clients: Clients) -> None:
    token = clients.sandbox.mint_token(JEAN, expired=True)
    conn = clients.imap(True, clients.context())
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.authenticate("XOAUTH2", lambda _: xoauth2(JEAN, token).encode())
    finally:
        conn.logout()


def test_expired_rs256_token_is_refused_over_smtp(clients: Clients) -> None:
    token = clients.sandbox.mint_token(JEAN, expired=True, alg="RS256")
    conn = clients.smtp(True, clients.context())
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            conn.auth("XOAUTH2", lambda _=None: xoauth2(JEAN, token))
    finally:
        conn.close()


def test_token_for_another_mailbox_is_refused(clients: Clients) -> None:
    token = clients.sandbox.mint_token(SECRETARIAT)
    conn = clients.imap(True, clients.context())
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.authenticate("XOAUTH2", lambda _: xoauth2(JEAN, token).encode())
    finally:
        conn.logout()


def test_wrong_password_is_refused(clients: Clients) -> None:
    conn = clients.imap(True, clients.context())
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.login(JEAN, "not-the-password")
    finally:
        conn.logout()


def test_imap_login_without_tls_is_refused_on_the_mail_host(clients: Clients) -> None:
    account = clients.info.account(JEAN)
    assert clients.info.host == "127.0.0.2"
    conn = imaplib.IMAP4(clients.info.host, clients.info.imap_port, timeout=15)
    try:
        assert "LOGINDISABLED" in conn.capabilities
        with pytest.raises(imaplib.IMAP4.error, match=r"PRIVACYREQUIRED|LOGINDISABLED"):
            conn.login(JEAN, account.password or "")
    finally:
        conn.logout()


def test_smtp_auth_without_tls_is_refused_on_the_mail_host(clients: Clients) -> None:
    account = clients.info.account(JEAN)
    conn = smtplib.SMTP(clients.info.host, clients.info.submission_port, timeout=15)
    try:
        conn.ehlo("client.mssante.test")
        # only EXTERNAL is offered before STARTTLS; PLAIN is refused outright
        assert conn.esmtp_features["auth"].split() == ["EXTERNAL"]
        code, reply = conn.docmd("AUTH", "PLAIN " + "AGplYW4AeA==")
        assert code == 523, reply
        with pytest.raises(smtplib.SMTPException):
            conn.login(JEAN, account.password or "")
    finally:
        conn.close()


def test_server_certificate_is_not_trusted_without_the_sandbox_ca(clients: Clients) -> None:
    import ssl

    ctx = ssl.create_default_context()  # system trust store only
    address = (clients.info.host, clients.info.imaps_port)
    with (
        socket.create_connection(address, timeout=15) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ctx.wrap_socket(raw, server_hostname=clients.info.host)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("service", ["imaps", "submissions", "ldaps", "whitelist"])
def test_tls_below_1_2_is_refused(clients: Clients, service: str) -> None:
    """ECO.1.1.1: TLS 1.2 minimum everywhere (the client here is willing to speak TLS 1.1)."""
    import ssl

    ctx = clients.context()
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    host = clients.info.host if service in ("imaps", "submissions") else "127.0.0.1"
    address = (host, getattr(clients.info.ports, service))
    with socket.create_connection(address, timeout=15) as raw, pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname=host)


@pytest.mark.parametrize("service", ["imaps", "submissions", "ldaps", "whitelist"])
def test_tls_1_2_is_accepted(clients: Clients, service: str) -> None:
    """The same client limited to TLS 1.2 gets through: the refusal above is the version."""
    import ssl

    ctx = clients.context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    host = clients.info.host if service in ("imaps", "submissions") else "127.0.0.1"
    address = (host, getattr(clients.info.ports, service))
    with (
        socket.create_connection(address, timeout=15) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.version() == "TLSv1.2"
