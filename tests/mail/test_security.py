"""No secret and no patient data in logs, exception messages or reprs (caplog at DEBUG)."""

from __future__ import annotations

import logging

import pytest
from mailb_support import JEAN, MailboxFactory, wait_for
from test_mailbox import PATIENT_FAMILY, PATIENT_GIVEN, package_message

from mssante_client.errors import ClientCertificateError, MssanteError, TokenError
from mssante_client.mail.credentials import ClientCertificate, OAuth2Token, Password
from mssante_client.sandbox import Sandbox, SandboxInfo
from mssante_client.sandbox.accounts import PATIENT_INS

pytestmark = pytest.mark.sandbox


def test_nothing_secret_or_patient_in_logs_and_errors(
    caplog: pytest.LogCaptureFixture,
    open_mailbox: MailboxFactory,
    mssante_sandbox: SandboxInfo,
    mssante_sandbox_control: Sandbox,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []

    def provider() -> str:
        tokens.append(mssante_sandbox_control.mint_token(JEAN))
        return tokens[-1]

    patient = f"{PATIENT_INS.value}@{mssante_sandbox.patient_domain}"
    patient_password = mssante_sandbox.account(patient).password
    dpi = mssante_sandbox.account("dpi.cardio@hopital.mssante.test")
    assert patient_password and dpi.p12_file and dpi.p12_password
    errors: list[BaseException] = []

    # a package to a patient, sent with a token; read back by the patient (password)
    sender = open_mailbox(JEAN, OAuth2Token(provider))
    composed = sender.compose(package_message(mssante_sandbox))
    result = sender.send(composed)
    reader = open_mailbox(patient, Password(patient_password))
    [env] = wait_for(
        lambda: [e for e in reader.envelopes().envelopes if e.message_id == composed.message_id]
    )
    received = reader.fetch(env.uid)
    assert received.documents

    # failures that carry secrets or patient data nearby
    try:
        ClientCertificate.from_pkcs12(dpi.p12_file, dpi.p12_password + "-wrong")
    except ClientCertificateError as exc:
        errors.append(exc)
    expired = open_mailbox(
        JEAN, OAuth2Token(lambda: mssante_sandbox_control.mint_token(JEAN, expired=True))
    )
    try:
        expired.send(package_message(mssante_sandbox))
    except TokenError as exc:
        errors.append(exc)
    to_unknown_patient = package_message(mssante_sandbox)
    bad_pw = open_mailbox(patient, Password(patient_password + "-wrong"))
    try:
        bad_pw.folders()
    except MssanteError as exc:
        errors.append(exc)
    assert len(errors) == 3

    secrets = [
        *tokens,
        patient_password,
        patient_password + "-wrong",
        dpi.p12_password,
        PATIENT_INS.value,
        PATIENT_FAMILY,
        PATIENT_GIVEN,
    ]
    texts = [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [
        repr(x) for x in (sender, reader, result, composed, received, env, to_unknown_patient)
    ]
    texts += [repr(r) for r in result.recipients]
    assert texts and any("authenticated" in t for t in texts)  # logging did happen
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"leaked into: {text[:80]!r}"
    # the patient really was a recipient, under a masked name
    assert patient in result.accepted
    assert "<patient>@" in repr(result)
