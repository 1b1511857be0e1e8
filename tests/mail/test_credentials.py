"""Credentials: PEM / PKCS#12 client certificates, OAuth2 token providers, passwords (no server)."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from mssante_client.errors import ClientCertificateError, ConfigurationError, TokenError
from mssante_client.mail.credentials import (
    ClientCertificate,
    OAuth2Mechanism,
    OAuth2Token,
    Password,
)

P12_PASSWORD = "p12-Secret-Word"
KEY_PASSWORD = "key-Secret-Word"


def _self_signed() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dpi.cardio@hopital.mssante.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | bytes]:
    key, cert = _self_signed()
    d = tmp_path_factory.mktemp("certs")
    (d / "c.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "c.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    other_key, _ = _self_signed()
    (d / "other.key").write_bytes(
        other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    p12 = pkcs12.serialize_key_and_certificates(
        b"dpi", key, cert, None, serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    )
    (d / "c.p12").write_bytes(p12)
    return {"dir": d, "p12": p12}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Route tempfile into an empty directory we can inspect."""
    target = tmp_path / "tmp"
    target.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(target))
    return target


def test_pkcs12_from_bytes_and_path(material: dict[str, Path | bytes]) -> None:
    d = material["dir"]
    assert isinstance(d, Path)
    c1 = ClientCertificate.from_pkcs12(material["p12"], P12_PASSWORD)
    c2 = ClientCertificate.from_pkcs12(d / "c.p12", P12_PASSWORD.encode())
    assert c1.subject == c2.subject and "dpi.cardio@hopital.mssante.test" in c1.subject
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c1.load_into(ctx)  # would raise if the chain/key did not load


def test_wrong_pkcs12_password_is_a_client_certificate_error(
    material: dict[str, Path | bytes],
) -> None:
    with pytest.raises(ClientCertificateError) as err:
        ClientCertificate.from_pkcs12(material["p12"], "guess-Attempt-9")
    assert "guess-Attempt-9" not in str(err.value)
    assert P12_PASSWORD not in str(err.value)


def test_corrupt_or_missing_pkcs12(tmp_path: Path) -> None:
    with pytest.raises(ClientCertificateError):
        ClientCertificate.from_pkcs12(b"not a p12", "x")
    with pytest.raises(ClientCertificateError):
        ClientCertificate.from_pkcs12(tmp_path / "absent.p12", "x")


def test_pem_with_encrypted_key(material: dict[str, Path | bytes]) -> None:
    d = material["dir"]
    assert isinstance(d, Path)
    cert = ClientCertificate.from_pem(d / "c.crt", d / "c.key", password=KEY_PASSWORD)
    assert cert.authzid is None and cert.sasl_external
    with pytest.raises(ClientCertificateError):
        ClientCertificate.from_pem(d / "c.crt", d / "c.key", password="nope")
    with pytest.raises(ClientCertificateError):
        ClientCertificate.from_pem(d / "c.crt", d / "other.key")  # key of another certificate
    with pytest.raises(ClientCertificateError):
        ClientCertificate.from_pem(d / "missing.crt", d / "c.key")


def test_no_key_file_remains_after_loading(
    material: dict[str, Path | bytes], private_tmp: Path
) -> None:
    d = material["dir"]
    assert isinstance(d, Path)
    cert = ClientCertificate.from_pkcs12(
        d / "c.p12", P12_PASSWORD, authzid="x@hopital.mssante.test"
    )
    for _ in range(3):
        cert.load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    assert list(private_tmp.iterdir()) == []


def test_key_written_for_ssl_is_encrypted_and_private(
    material: dict[str, Path | bytes], private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observe the file ssl reads: mode 0600 and an ENCRYPTED key, never the clear one."""
    d = material["dir"]
    assert isinstance(d, Path)
    cert = ClientCertificate.from_pkcs12(d / "c.p12", P12_PASSWORD)
    seen: list[tuple[int, bytes]] = []
    real = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, keyfile: str | None = None, password=None):  # type: ignore[no-untyped-def]
        assert keyfile is not None
        seen.append((os.stat(keyfile).st_mode & 0o777, Path(keyfile).read_bytes()))
        return real(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    cert.load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    [(mode, content)] = seen
    assert mode == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in content
    assert list(private_tmp.iterdir()) == []


def test_reprs_hide_secrets(material: dict[str, Path | bytes]) -> None:
    cert = ClientCertificate.from_pkcs12(material["p12"], P12_PASSWORD)
    token = OAuth2Token(lambda: "eyJhbGciOi.secret-token.sig")
    password = Password("hunter2-secret")
    for obj, secret in [(cert, P12_PASSWORD), (token, "secret-token"), (password, "hunter2")]:
        assert secret not in repr(obj)
        assert secret not in str(obj)
    assert "PRIVATE" not in repr(cert)


def test_token_provider_is_asked_every_time_and_never_kept() -> None:
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return f"token-{len(calls)}"

    tok = OAuth2Token(provider, OAuth2Mechanism.OAUTHBEARER)
    assert tok.token() == "token-1"
    assert tok.token() == "token-2"
    assert "token-" not in repr(vars(tok) if hasattr(tok, "__dict__") else tok)


@pytest.mark.parametrize("bad", ["", "has space", "line\nbreak"])
def test_unusable_token_is_a_token_error(bad: str) -> None:
    with pytest.raises(TokenError):
        OAuth2Token(lambda: bad).token()


def test_provider_failure_is_a_token_error_without_its_message() -> None:
    def provider() -> str:
        raise RuntimeError("refresh_token=SECRET-REFRESH expired")

    with pytest.raises(TokenError) as err:
        OAuth2Token(provider).token()
    assert "SECRET-REFRESH" not in str(err.value)
    assert err.value.__cause__ is None


def test_empty_password_refused() -> None:
    with pytest.raises(ConfigurationError):
        Password("")


def test_initial_response_per_credential_kind() -> None:
    from mssante_client.mail.endpoint import Endpoint, initial_response
    from mssante_client.mail.sasl import SaslMechanism

    ep = Endpoint("mail.example.test", 587)
    user = "jean.dupont@medecin.mssante.test"
    resp = initial_response(Password("pw-Secret"), user, ep)
    assert resp is not None and resp.mechanism is SaslMechanism.PLAIN
    tok = initial_response(OAuth2Token(lambda: "abc.def.ghi"), user, ep)
    assert tok is not None and tok.mechanism is SaslMechanism.XOAUTH2
    assert b"abc.def.ghi" in tok.payload and "abc.def.ghi" not in repr(tok)
    bearer = initial_response(OAuth2Token(lambda: "t0k", OAuth2Mechanism.OAUTHBEARER), user, ep)
    assert bearer is not None and bearer.payload.startswith(b"n,a=")
    with pytest.raises(TokenError):  # not an RFC 6750 b64token: the provider's fault
        initial_response(OAuth2Token(lambda: "bad!token"), user, ep)
