"""Mail flows end to end: submission → Postfix → LMTP → Maildir → IMAP, and refusals."""

from __future__ import annotations

import email
import smtplib
import uuid
from email.message import EmailMessage

import pytest
from sandbox_clients import DPI, JEAN, Clients, find_messages, smtp_external

pytestmark = pytest.mark.sandbox


def _message(sender: str, to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@client.mssante.test>"
    msg.set_content("Bonjour,\nmessage de test MSSanté (é à ç).\n")
    return msg


def _jean_smtp(clients: Clients, implicit: bool = False) -> smtplib.SMTP:
    conn = clients.smtp(implicit, clients.account_context(clients.info.account(JEAN)))
    code, reply = smtp_external(conn)
    assert code == 235, reply
    return conn


def test_message_sent_by_submission_is_read_over_imap(clients: Clients) -> None:
    subject = f"e2e-{uuid.uuid4()}"
    conn = _jean_smtp(clients, implicit=True)
    try:
        assert conn.send_message(_message(JEAN, DPI, subject)) == {}
    finally:
        conn.quit()
    imap = clients.imap(False, clients.account_context(clients.info.account(DPI)))
    try:
        assert imap.authenticate("EXTERNAL", lambda _: b"")[0] == "OK"
        found = find_messages(imap, subject)
    finally:
        imap.logout()
    assert len(found) == 1
    received = email.message_from_bytes(found[0])
    assert received["Subject"] == subject
    assert received["From"] == JEAN
    payload = received.get_payload(decode=True)
    assert isinstance(payload, bytes) and "MSSanté" in payload.decode("utf-8")


def test_patient_mailbox_receives_mail(clients: Clients) -> None:
    patient = clients.info.patient_accounts[0]
    local, domain = patient.address.split("@")
    assert domain == clients.info.patient_domain and len(local) == 15
    subject = f"patient-{uuid.uuid4()}"
    conn = _jean_smtp(clients)
    try:
        conn.send_message(_message(JEAN, patient.address, subject))
    finally:
        conn.quit()
    assert patient.password
    imap = clients.imap(True, clients.context())
    try:
        imap.login(patient.address, patient.password)
        assert len(find_messages(imap, subject)) == 1
    finally:
        imap.logout()


def test_unknown_recipient_on_medecin_domain_is_refused_at_rcpt(clients: Clients) -> None:
    conn = _jean_smtp(clients)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            conn.send_message(_message(JEAN, "personne@medecin.mssante.test", "x"))
    finally:
        conn.close()
    code, reply = caught.value.recipients["personne@medecin.mssante.test"]
    assert code == 550 and b"5.1.1" in reply


def test_unknown_recipient_on_patient_domain_is_refused_at_rcpt(clients: Clients) -> None:
    conn = _jean_smtp(clients)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            conn.send_message(_message(JEAN, "100000000000000@patient.mssante.test", "x"))
    finally:
        conn.close()


def test_domain_outside_the_sandbox_is_refused(clients: Clients) -> None:
    conn = _jean_smtp(clients)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            conn.send_message(_message(JEAN, "someone@example.org", "x"))
    finally:
        conn.close()
    code, _ = caught.value.recipients["someone@example.org"]
    assert code == 550


def test_unknown_recipient_on_hopital_domain_bounces_with_a_dsn(clients: Clients) -> None:
    subject = f"bounce-{uuid.uuid4()}"
    envid = uuid.uuid4().hex
    conn = _jean_smtp(clients)
    try:
        conn.ehlo("client.mssante.test")  # after AUTH: DSN is offered
        refused = conn.sendmail(
            JEAN,
            ["nobody-here@hopital.mssante.test"],
            _message(JEAN, "nobody-here@hopital.mssante.test", subject).as_bytes(),
            mail_options=["RET=HDRS", f"ENVID={envid}"],
            rcpt_options=["NOTIFY=FAILURE"],
        )
        assert refused == {}  # accepted now, bounced later
    finally:
        conn.quit()
    imap = clients.imap(True, clients.account_context(clients.info.account(JEAN)))
    try:
        imap.authenticate("EXTERNAL", lambda _: b"")
        bounces = find_messages(imap, envid)
    finally:
        imap.logout()
    assert len(bounces) == 1
    report = email.message_from_bytes(bounces[0])
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    text = bounces[0].decode("utf-8", "replace")
    assert "Action: failed" in text and "Status: 5.1.1" in text
    assert f"Original-Envelope-Id: {envid}" in text
