"""How a mailbox proves who it is: client certificate, OAuth2 bearer token, or password.

Three small immutable objects, none of which prints a secret (``repr`` masks them):

* :class:`ClientCertificate` — an IGC-Santé certificate for applicative mailboxes (TLS client auth,
  then SASL EXTERNAL, optionally with an *authzid* to act for another mailbox). From PEM files or
  from PKCS#12. A PKCS#12 key is decrypted in memory and kept re-encrypted under a random
  per-process passphrase; ``ssl`` only loads keys from files, so each load writes the *encrypted*
  key to a 0600 temporary file and deletes it right after ``load_cert_chain`` — the clear key
  never touches the disk.
* :class:`OAuth2Token` — a Pro Santé Connect access token, obtained from a provider callable on
  every connect and reconnect and never stored (ECO.1.2.5, ECO.1.2.7): SASL XOAUTH2 (ECO.1.2.1) or
  OAUTHBEARER.
* :class:`Password` — SASL PLAIN, sent only inside TLS (the transports enforce it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import ClientCertificateError, ConfigurationError, TokenError

__all__ = [
    "ClientCertificate",
    "Credentials",
    "OAuth2Mechanism",
    "OAuth2Token",
    "Password",
]

_log = logging.getLogger("mssante_client.mail")

_PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


def _write_private(data: bytes, suffix: str) -> str:
    """Write ``data`` to a new 0600 file and return its path (the caller deletes it)."""
    fd, path = tempfile.mkstemp(prefix="mss-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


@dataclass(frozen=True, repr=False, eq=False)
class ClientCertificate:
    """A TLS client certificate and its key; install it with :meth:`load_into`.

    Build with :meth:`from_pem` or :meth:`from_pkcs12`. ``authzid`` is the mailbox to act for
    with SASL EXTERNAL (RFC 4422), e.g. an applicative certificate opening an organisational
    mailbox; ``None`` means "the identity in the certificate". ``sasl_external=False`` means plain
    TLS client authentication with no SASL exchange (for operators that authenticate at TLS level).
    """

    _cert_pem: bytes
    _key_pem: bytes  # encrypted under _key_pass (PKCS#12) or as given by the caller (PEM)
    _key_pass: bytes | None
    authzid: str | None = None
    sasl_external: bool = True
    subject: str = field(default="")

    @classmethod
    def from_pem(
        cls,
        cert_file: str | Path,
        key_file: str | Path | None = None,
        *,
        password: str | bytes | None = None,
        authzid: str | None = None,
        sasl_external: bool = True,
    ) -> ClientCertificate:
        """Certificate chain (leaf first) and key from PEM files; the key may be encrypted."""
        try:
            cert_pem = Path(cert_file).read_bytes()
            key_pem = Path(key_file).read_bytes() if key_file is not None else cert_pem
        except OSError as exc:
            raise ClientCertificateError(f"cannot read the client certificate: {exc}") from exc
        pw = password.encode() if isinstance(password, str) else password
        try:
            loaded = serialization.load_pem_private_key(key_pem, pw)
        except (ValueError, TypeError) as exc:
            raise ClientCertificateError(
                "the client key cannot be loaded (wrong password or not a PEM key)"
            ) from exc
        if not isinstance(loaded, _PrivateKey):
            raise ClientCertificateError("the client key type is not usable for TLS")
        cert = cls._first_cert(cert_pem)
        key = loaded
        # Keep the key re-encrypted in memory, exactly as for PKCS#12.
        return cls._from_objects(cert_pem, key, authzid, sasl_external, cert)

    @classmethod
    def from_pkcs12(
        cls,
        data: bytes | str | Path,
        password: str | bytes | None,
        *,
        authzid: str | None = None,
        sasl_external: bool = True,
    ) -> ClientCertificate:
        """Certificate, chain and key from a PKCS#12 (.p12/.pfx) file path or its bytes."""
        if not isinstance(data, bytes):
            try:
                data = Path(data).read_bytes()
            except OSError as exc:
                raise ClientCertificateError(f"cannot read the PKCS#12 file: {exc}") from exc
        pw = password.encode() if isinstance(password, str) else password
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
        except ValueError:
            # The library message may echo details; keep ours generic and secret-free.
            raise ClientCertificateError(
                "the PKCS#12 cannot be opened (wrong password or corrupt file)"
            ) from None
        if key is None or cert is None or not isinstance(key, _PrivateKey):
            raise ClientCertificateError("the PKCS#12 holds no private key or no certificate")
        chain = [cert, *extra]
        cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        return cls._from_objects(cert_pem, key, authzid, sasl_external, cert)

    @staticmethod
    def _first_cert(cert_pem: bytes) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise ClientCertificateError("the client certificate is not a PEM certificate") from exc

    @staticmethod
    def _check_pair(cert: x509.Certificate, key: _PrivateKey) -> None:
        pub = key.public_key()
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        if pub.public_bytes(enc, fmt) != cert.public_key().public_bytes(enc, fmt):
            raise ClientCertificateError("the client key does not match the certificate")

    @classmethod
    def _from_objects(
        cls,
        cert_pem: bytes,
        key: _PrivateKey,
        authzid: str | None,
        sasl_external: bool,
        cert: x509.Certificate,
    ) -> ClientCertificate:
        cls._check_pair(cert, key)
        key_pass = secrets.token_bytes(32)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(key_pass),
        )
        obj = cls(
            _cert_pem=cert_pem,
            _key_pem=key_pem,
            _key_pass=key_pass,
            authzid=authzid,
            sasl_external=sasl_external,
            subject=cert.subject.rfc4514_string(),
        )
        obj._load_check()
        return obj

    def _load_check(self) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.load_into(ctx)

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """Install the certificate chain and key into ``ctx``; no clear key is written to disk."""
        cert_path = _write_private(self._cert_pem, ".crt")
        key_path = _write_private(self._key_pem, ".key")
        try:
            ctx.load_cert_chain(cert_path, key_path, password=self._key_pass)
        except (ssl.SSLError, OSError) as exc:
            raise ClientCertificateError("the client certificate cannot be loaded by ssl") from exc
        finally:
            for p in (cert_path, key_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)

    def __repr__(self) -> str:
        return f"ClientCertificate(subject={self.subject!r}, authzid={self.authzid!r}, key=***)"


class OAuth2Mechanism(StrEnum):
    """SASL mechanism carrying the bearer token."""

    XOAUTH2 = "XOAUTH2"
    OAUTHBEARER = "OAUTHBEARER"


@dataclass(frozen=True, repr=False, eq=False)
class OAuth2Token:
    """A bearer token provider: called on every (re)connect; its result is never kept.

    ``provider`` returns a fresh access token (e.g. refreshed from Pro Santé Connect). Keeping only
    the callable satisfies ECO.1.2.5 (no permanent storage of the token) and lets a reconnect
    silently reopen the session with a new token (ECO.1.2.7).
    """

    provider: Callable[[], str]
    mechanism: OAuth2Mechanism = OAuth2Mechanism.XOAUTH2

    def token(self) -> str:
        """Ask the provider for a token now; failures become :class:`TokenError`."""
        try:
            tok = self.provider()
        except Exception as exc:
            raise TokenError(f"the token provider failed ({exc.__class__.__name__})") from None
        if not isinstance(tok, str) or not tok or any(c in tok for c in "\x00\x01\r\n "):
            raise TokenError("the token provider returned no usable token")
        return tok

    def __repr__(self) -> str:
        return f"OAuth2Token(mechanism={self.mechanism.value}, token=***)"


@dataclass(frozen=True, repr=False, eq=False)
class Password:
    """A mailbox password for SASL PLAIN (over TLS only)."""

    secret: str

    def __post_init__(self) -> None:
        if not self.secret:
            raise ConfigurationError("the password is empty")

    def __repr__(self) -> str:
        return "Password(***)"


Credentials = ClientCertificate | OAuth2Token | Password
