"""HTTP edge helpers shared by the FHIR and extraction backends: TLS trust and error translation.

Why here: both backends talk to ANS web services with httpx; the trust rules (TLS ≥ 1.2,
verification and host-name check always on, IGC-Santé root available) and the mapping of httpx
failures onto :mod:`mssante_client.errors` must be the same for both.
"""

from __future__ import annotations

import ssl
from typing import Literal
from urllib.parse import urlsplit

import httpx

from ..errors import (
    CertificateVerificationError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    MssanteError,
    TimeoutError,
)
from ..tls import create_client_context

__all__ = ["Verify", "host_of", "is_loopback", "require_secure_url", "tls_context", "translate"]

#: ``"system"`` (the OS store), ``"igc-sante"`` (the shipped, pinned IGC-Santé root alone),
#: a CA file path, or a ready :class:`ssl.SSLContext` (which must verify).
Verify = ssl.SSLContext | Literal["system", "igc-sante"] | str


def tls_context(verify: Verify) -> ssl.SSLContext:
    """A client context that verifies the server; refuses one that would not."""
    if isinstance(verify, ssl.SSLContext):
        if verify.verify_mode != ssl.CERT_REQUIRED or not verify.check_hostname:
            raise ConfigurationError("the SSL context must verify certificates and host names")
        return verify
    if verify == "igc-sante":
        # the pinned IGC-Santé root alone, fingerprint checked on every load (ECO.1.1.10)
        return create_client_context()
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify == "system":
        return context
    try:
        context.load_verify_locations(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load CA file {verify!r}") from exc
    return context


def host_of(url: str | httpx.URL) -> str:
    return urlsplit(str(url)).hostname or "?"


def is_loopback(url: str | httpx.URL) -> bool:
    host = host_of(url)
    return host in ("localhost", "::1") or host.startswith("127.")


def require_secure_url(url: str, what: str) -> None:
    """HTTPS only; plain HTTP is allowed on loopback (local test servers), nowhere else."""
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and is_loopback(url)):
        raise ConfigurationError(f"refusing to reach the {what} over {scheme or '?'}://")


def _is_certificate_error(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def translate(exc: httpx.HTTPError, what: str, url: str | httpx.URL) -> MssanteError:
    """The SDK error for an httpx failure (raise it ``from exc``). Never includes headers."""
    host = host_of(url)
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{what} at {host} did not answer in time")
    if isinstance(exc, httpx.ConnectError):
        if _is_certificate_error(exc):
            return CertificateVerificationError(f"{what} at {host}: certificate not trusted")
        return ConnectError(f"cannot reach the {what} at {host}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ConnectionLostError(f"connection to the {what} at {host} was lost")
    return ConnectError(f"{what} at {host} failed: {type(exc).__name__}")
