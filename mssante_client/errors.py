"""One exception tree for the whole SDK, grouped by family.

Every error raised by ``mssante_client`` derives from :class:`MssanteError`. Errors from the
libraries underneath (smtplib, imaplib, ssl, ldap, httpx, lxml, zipfile) are translated into this
tree at the edge that calls them, so callers never need to import those libraries to catch a
failure. Messages name what is wrong but never carry a key, password, token or patient data.

Families::

    MssanteError
    ├── ConfigurationError          bad settings, missing package / system tool / kit
    │   └── MissingDependencyError
    ├── InvalidInputError (ValueError)   the caller's input is wrong, nothing was sent
    │   ├── IdentifierError          INS, RPPS, FINESS, ... (field + reason)
    │   ├── AddressError             MSSanté address
    │   ├── MessageError             message composition (headers, size, one patient, ...)
    │   ├── DocumentError            CDA / XDM models and building
    │   └── QueryError               directory query
    ├── TransportError               network level
    │   ├── ConnectError
    │   ├── ConnectionLostError
    │   └── TimeoutError
    ├── TLSError
    │   ├── CertificateVerificationError   the server's certificate is not trusted
    │   ├── TLSRequiredError               STARTTLS missing or refused: we will not go on
    │   └── ClientCertificateError         a client certificate / key cannot be loaded
    ├── AuthenticationError
    │   └── TokenError               an OAuth2 token could not be obtained / was refused
    ├── ProtocolError                the server answered something we cannot use
    │   ├── SMTPError
    │   │   └── RecipientsRefusedError
    │   ├── IMAPError
    │   ├── LDAPError
    │   └── HTTPStatusError
    │       └── RateLimitedError
    ├── ContentError                 data received or read is unusable
    │   ├── XMLError
    │   ├── ArchiveError
    │   │   └── UnsafeArchiveError   zip slip, bomb, encrypted entry, link
    │   └── IntegrityError           size / hash mismatch
    ├── PolicyError                  refused by a local policy before anything left the machine
    │   └── UntrustedDomainError     recipient domain not on the liste blanche
    └── SandboxError                 the local test operator could not start or stop
"""

from __future__ import annotations

__all__ = [
    "AddressError",
    "ArchiveError",
    "AuthenticationError",
    "CertificateVerificationError",
    "ClientCertificateError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "ContentError",
    "DocumentError",
    "HTTPStatusError",
    "IMAPError",
    "IdentifierError",
    "IntegrityError",
    "InvalidInputError",
    "LDAPError",
    "MessageError",
    "MissingDependencyError",
    "MssanteError",
    "PolicyError",
    "ProtocolError",
    "QueryError",
    "RateLimitedError",
    "RecipientsRefusedError",
    "SMTPError",
    "SandboxError",
    "TLSError",
    "TLSRequiredError",
    "TimeoutError",
    "TokenError",
    "TransportError",
    "UnsafeArchiveError",
    "UntrustedDomainError",
    "XMLError",
]


class MssanteError(Exception):
    """Base class of every error raised by mssante_client."""


# --- configuration -------------------------------------------------------------------------


class ConfigurationError(MssanteError):
    """The SDK is configured wrongly or something it needs is missing."""


class MissingDependencyError(ConfigurationError):
    """An optional package, a system program or the validation kit is not installed."""

    def __init__(self, what: str, install: str) -> None:
        self.what = what
        self.install = install
        super().__init__(f"{what} is not available; install it with: {install}")


# --- caller's input ------------------------------------------------------------------------


class InvalidInputError(MssanteError, ValueError):
    """The caller's input is invalid; nothing was sent or written."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class IdentifierError(InvalidInputError):
    """A health identifier (INS, RPPS, ADELI, FINESS, ...) is malformed."""


class AddressError(InvalidInputError):
    """An e-mail / MSSanté address is malformed or not allowed here."""


class MessageError(InvalidInputError):
    """A message cannot be composed as asked (headers, size, patients, attachments)."""


class DocumentError(InvalidInputError):
    """A CDA document or an XDM package cannot be built from the given data."""


class QueryError(InvalidInputError):
    """A directory query is malformed."""


# --- transport -----------------------------------------------------------------------------


class TransportError(MssanteError):
    """A network-level failure."""


class ConnectError(TransportError):
    """The server could not be reached."""


class ConnectionLostError(TransportError):
    """The connection dropped while in use."""


class TimeoutError(TransportError):
    """The server did not answer in time."""


# --- TLS -----------------------------------------------------------------------------------


class TLSError(MssanteError):
    """TLS could not be established as required."""


class CertificateVerificationError(TLSError):
    """The server certificate failed verification (chain, expiry, revocation or hostname)."""


class TLSRequiredError(TLSError):
    """The server does not offer TLS (STARTTLS) so we refuse to go on."""


class ClientCertificateError(TLSError):
    """A client certificate or its private key could not be loaded."""


# --- authentication ------------------------------------------------------------------------


class AuthenticationError(MssanteError):
    """The server refused the credentials."""


class TokenError(AuthenticationError):
    """An OAuth2 access token could not be obtained or was rejected."""


# --- protocol ------------------------------------------------------------------------------


class ProtocolError(MssanteError):
    """The server answered with an error or something we cannot use."""


class SMTPError(ProtocolError):
    """An SMTP command failed."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class RecipientsRefusedError(SMTPError):
    """Every recipient was refused; nothing was sent."""


class IMAPError(ProtocolError):
    """An IMAP command failed."""


class LDAPError(ProtocolError):
    """An LDAP operation failed."""


class HTTPStatusError(ProtocolError):
    """An HTTP API answered with an error status."""

    def __init__(self, message: str, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(message)


class RateLimitedError(HTTPStatusError):
    """An HTTP API kept answering 429 Too Many Requests."""


# --- content -------------------------------------------------------------------------------


class ContentError(MssanteError):
    """Data read or received is unusable."""


class XMLError(ContentError):
    """XML is malformed, unsafe (DTD, entities) or not what was expected."""


class ArchiveError(ContentError):
    """A zip archive is malformed."""


class UnsafeArchiveError(ArchiveError):
    """A zip archive is hostile: path traversal, bomb, encrypted entry or link."""


class IntegrityError(ContentError):
    """A size or hash does not match what the metadata declares."""


# --- policy / sandbox ----------------------------------------------------------------------


class PolicyError(MssanteError):
    """A local policy refused the operation before anything left the machine."""


class UntrustedDomainError(PolicyError):
    """A recipient's domain is not on the MSSanté liste blanche."""


class SandboxError(MssanteError):
    """The local sandbox operator could not be started, queried or stopped."""
