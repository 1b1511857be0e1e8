"""Every authentication mode on every mail endpoint, with stdlib clients only.

IMAP STARTTLS / IMAPS and submission STARTTLS / submissions, each with SASL EXTERNAL (PER,
ORG and APP certificates, and an APP certificate acting for an ORG mailbox), XOAUTH2 and
OAUTHBEARER with HS256 and RS256 tokens minted by the sandbox, and PLAIN with a password.
"""

from __future__ import annotations

import smtplib
import time
import uuid
from email.message import EmailMessage

import pytest
from sandbox_clients import DPI, JEAN, SECRETARIAT, Clients, oauthbearer, smtp_external, xoauth2

pytestmark = pytest.mark.sandbox

TRANSPORTS = ["starttls", "implicit"]

#: mode -> (address whose credentials are used, authzid or None)
CERT_MODES = {
    "external-PER": (JEAN, None),
    "external-ORG": (SECRETARIAT, None),
    "external-APP": (DPI, None),
    "external-APP-as-ORG": (DPI, SECRETARIAT),
}
TOKEN_MODES = [
    ("XOAUTH2", "HS256"),
    ("XOAUTH2", "RS256"),
    ("OAUTHBEARER", "HS256"),
    ("OAUTHBEARER", "RS256"),
]


def _token_payload(clients: Clients, mech: str, alg: str, port: int, address: str = JEAN) -> str:
    token = clients.sandbox.mint_token(address, alg=alg)  # type: ignore[arg-type]
    if mech == "XOAUTH2":
        return xoauth2(address, token)
    return oauthbearer(address, token, clients.info.host, port)


# --- IMAP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", list(CERT_MODES))
def test_imap_external(clients: Clients, transport: str, mode: str) -> None:
    address, authzid = CERT_MODES[mode]
    ctx = clients.account_context(clients.info.account(address))
    conn = clients.imap(transport == "implicit", ctx)
    try:
        typ, data = conn.authenticate("EXTERNAL", lambda _: (authzid or "").encode())
        assert typ == "OK", data
        assert conn.select("INBOX")[0] == "OK"
    finally:
        conn.logout()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("mech", "alg"), TOKEN_MODES)
def test_imap_oauth2(clients: Clients, transport: str, mech: str, alg: str) -> None:
    implicit = transport == "implicit"
    conn = clients.imap(implicit, clients.context())
    port = clients.info.imaps_port if implicit else clients.info.imap_port
    payload = _token_payload(clients, mech, alg, port)
    try:
        typ, data = conn.authenticate(mech, lambda _: payload.encode())
        assert typ == "OK", data
    finally:
        conn.logout()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_imap_password(clients: Clients, transport: str) -> None:
    account = clients.info.account(JEAN)
    assert account.password
    conn = clients.imap(transport == "implicit", clients.context())
    try:
        assert conn.login(account.address, account.password)[0] == "OK"
    finally:
        conn.logout()


def test_external_authzid_opens_the_delegated_mailbox(clients: Clients) -> None:
    """The APP cert acting as the ORG mailbox sees (and writes) the ORG mailbox itself."""
    subject = f"delegation-{uuid.uuid4()}"
    ctx = clients.account_context(clients.info.account(DPI))
    conn = clients.imap(True, ctx)
    try:
        assert conn.authenticate("EXTERNAL", lambda _: SECRETARIAT.encode())[0] == "OK"
        msg = f"From: {SECRETARIAT}\r\nSubject: {subject}\r\n\r\nnote\r\n".encode()
        assert conn.append("INBOX", "", None, msg)[0] == "OK"
    finally:
        conn.logout()
    owner = clients.info.account(SECRETARIAT)
    assert owner.password
    conn = clients.imap(True, clients.context())
    try:
        conn.login(owner.address, owner.password)
        conn.select("INBOX", readonly=True)
        typ, data = conn.search(None, "SUBJECT", f'"{subject}"')
        assert typ == "OK" and len(data[0].split()) == 1
    finally:
        conn.logout()


# --- SMTP submission -------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", list(CERT_MODES))
def test_smtp_external(clients: Clients, transport: str, mode: str) -> None:
    address, authzid = CERT_MODES[mode]
    ctx = clients.account_context(clients.info.account(address))
    conn = clients.smtp(transport == "implicit", ctx)
    try:
        code, reply = smtp_external(conn, authzid or "")
        assert code == 235, reply
    finally:
        conn.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("mech", "alg"), TOKEN_MODES)
def test_smtp_oauth2(clients: Clients, transport: str, mech: str, alg: str) -> None:
    implicit = transport == "implicit"
    conn = clients.smtp(implicit, clients.context())
    port = clients.info.submissions_port if implicit else clients.info.submission_port
    payload = _token_payload(clients, mech, alg, port)

    def auth(challenge: bytes | None = None) -> str:
        return payload

    try:
        # RFC 4954 §4: no initial response when the AUTH line would be too long (RS256 tokens)
        code, reply = conn.auth(mech, auth, initial_response_ok=len(payload) < 600)
        assert code == 235, reply
    finally:
        conn.close()


def test_smtp_auth_line_over_1024_bytes_is_refused(clients: Clients) -> None:
    """Dovecot caps the AUTH command line (~1 KiB): long tokens need the 334 round trip.

    Real Pro Santé Connect tokens are longer than that, so clients must not send them as a
    SASL initial response over SMTP (RFC 4954 §4).
    """
    payload = _token_payload(clients, "XOAUTH2", "RS256", clients.info.submission_port)
    assert len(payload) > 800
    conn = clients.smtp(False, clients.context())

    def auth(challenge: bytes | None = None) -> str:
        return payload

    reply: bytes | str
    try:
        code, reply = conn.auth("XOAUTH2", auth)  # initial response
    except smtplib.SMTPAuthenticationError as exc:
        code, reply = exc.smtp_code, exc.smtp_error
    finally:
        conn.close()
    raw = reply.encode() if isinstance(reply, str) else reply
    assert code == 500 and b"too long" in raw


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_smtp_password(clients: Clients, transport: str) -> None:
    account = clients.info.account(JEAN)
    assert account.password
    conn = clients.smtp(transport == "implicit", clients.context())
    try:
        code, _ = conn.login(account.address, account.password)
        assert code == 235
    finally:
        conn.close()


def test_patient_mailbox_logs_in_with_a_token(clients: Clients) -> None:
    patient = clients.info.patient_accounts[0]
    conn = clients.imap(True, clients.context())
    token = clients.sandbox.mint_token(patient.address)
    try:
        typ, _ = conn.authenticate("XOAUTH2", lambda _: xoauth2(patient.address, token).encode())
        assert typ == "OK"
    finally:
        conn.logout()


def test_smtp_ehlo_after_auth_offers_dsn(clients: Clients) -> None:
    """Dovecot learns DSN from Postfix once authenticated (needed for ECO.2.3 receipts)."""
    ctx = clients.account_context(clients.info.account(JEAN))
    conn = clients.smtp(False, ctx)
    try:
        assert "auth" in conn.esmtp_features
        assert smtp_external(conn)[0] == 235
        conn.ehlo("client.mssante.test")
        assert conn.has_extn("dsn")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = JEAN, DPI, "dsn-offer"
        message.set_content("x")
        assert conn.send_message(message, rcpt_options=["NOTIFY=FAILURE"]) == {}
    finally:
        conn.close()


def test_token_minted_at_a_second_boundary_is_accepted(clients: Clients) -> None:
    """Regression: a token minted right after a second boundary and used at once was refused
    ("Token is not valid yet") until minted tokens were backdated by a clock-skew leeway."""
    address = "jean.dupont@medecin.mssante.test"
    for _ in range(5):
        conn = clients.imap(True, clients.context())
        deadline = time.monotonic() + 2
        while time.time() % 1 > 0.002 and time.monotonic() < deadline:
            pass  # wait for the next second boundary
        payload = xoauth2(address, clients.sandbox.mint_token(address)).encode()
        try:
            typ, _ = conn.authenticate("XOAUTH2", lambda _, p=payload: p)
            assert typ == "OK"
        finally:
            conn.logout()
