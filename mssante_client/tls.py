"""TLS for every edge (SMTP, IMAP, LDAP, HTTPS): SSL contexts, trust anchors, ssl errors.

Why a module of its own: every rule about *which* server we accept lives here, once, for mail,
the directory and the liste blanche alike. The contexts it builds always verify the chain and
the host name and refuse anything below TLS 1.2 (ECO.1.1.1); there is deliberately no switch
to turn that off.

Trust: by default the only anchor is the IGC-Santé root "AC RACINE IGC-SANTE ELEMENTAIRE"
(ECO.1.1.10), shipped as package data and pinned by its SHA-256 fingerprint, checked every time it
is loaded. Another CA file (the sandbox's test PKI, or the official bundle
``Chaine_de_certification-IGC-Sante.p7b`` converted to PEM) can be given with ``ca_file``.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .errors import (
    CertificateVerificationError,
    ClientCertificateError,
    ConfigurationError,
    TLSError,
)

__all__ = [
    "IGC_SANTE_ROOT_SHA256",
    "create_client_context",
    "igc_sante_root_pem",
    "translate_ssl_error",
]

_log = logging.getLogger("mssante_client.tls")

#: SHA-256 of the DER encoding of "AC RACINE IGC-SANTE ELEMENTAIRE" (valid 2013-2033), checked
#: against two independent public sources (see /work/shared/trust/README.md at build time).
IGC_SANTE_ROOT_SHA256 = (
    "2D:9E:22:CA:19:F7:77:C6:B7:45:25:7C:72:3E:CB:8D:"
    "F3:C3:5F:A6:F1:F6:EC:36:B8:36:00:C9:73:46:96:7F"
)
_ROOT_RESOURCE = "igc-sante-racine-elementaire.pem"


def _fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def igc_sante_root_pem(pem: str | None = None) -> str:
    """The shipped IGC-Santé root, refused unless its fingerprint is the pinned one.

    ``pem`` lets a test hand in other text to prove a tampered file is refused.
    """
    if pem is None:
        pem = resources.files("mssante_client.data").joinpath(_ROOT_RESOURCE).read_text("ascii")
    try:
        der = ssl.PEM_cert_to_DER_cert(pem)
    except ValueError as exc:
        raise ConfigurationError("the shipped IGC-Santé root is not a PEM certificate") from exc
    found = _fingerprint(der)
    if found != IGC_SANTE_ROOT_SHA256:
        raise ConfigurationError(
            f"the shipped IGC-Santé root has fingerprint {found}, expected "
            f"{IGC_SANTE_ROOT_SHA256}; refusing to trust it"
        )
    return pem


def create_client_context(
    *,
    ca_file: str | Path | None = None,
    crl_file: str | Path | None = None,
    load_client_cert: Callable[[ssl.SSLContext], None] | None = None,
) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, chain + host name verified, one explicit trust anchor set.

    ``ca_file`` replaces the IGC-Santé root (never adds the system store: ECO.1.1.10 wants
    IGC-Santé only). ``crl_file`` (PEM CRLs of the issuing CAs) turns on the revocation check of
    the server certificate (ECO.1.1.6); keeping the latest valid CRL is the caller's job
    (ECO.1.1.7). ``load_client_cert`` is given the context to install a client certificate
    (see :mod:`.credentials`).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.options |= ssl.OP_NO_COMPRESSION
    if ca_file is None:
        ctx.load_verify_locations(cadata=igc_sante_root_pem())
    else:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"ca_file {ca_file!s} cannot be loaded: {exc}") from exc
    if crl_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(crl_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"crl_file {crl_file!s} cannot be loaded: {exc}") from exc
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if load_client_cert is not None:
        load_client_cert(ctx)
    return ctx


def translate_ssl_error(exc: BaseException, where: str) -> TLSError:
    """Map an ``ssl`` failure to the errors.py family (the caller raises it ``from exc``).

    A failed verification (unknown CA, expired, wrong host name) becomes
    :class:`CertificateVerificationError`; a server that rejects our client certificate during the
    handshake becomes :class:`ClientCertificateError`; anything else a plain :class:`TLSError`.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        return CertificateVerificationError(f"{where}: server certificate refused: {reason}")
    if isinstance(exc, ssl.CertificateError):  # pragma: no cover - alias of the above in 3.11
        return CertificateVerificationError(f"{where}: server certificate refused: {exc}")
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if "CERTIFICATE" in reason and ("REVOKED" in reason or "UNKNOWN_CA" in reason):
            return ClientCertificateError(f"{where}: the server refused our client certificate")
        return TLSError(f"{where}: TLS failed: {exc.reason or exc.__class__.__name__}")
    return TLSError(f"{where}: TLS failed: {exc.__class__.__name__}")
