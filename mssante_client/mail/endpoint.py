"""Where and how a transport connects, and which SASL response its credentials call for.

Shared by :mod:`.smtp` and :mod:`.imap` so that both follow exactly the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import InvalidInputError, TokenError
from . import sasl
from .credentials import ClientCertificate, Credentials, OAuth2Mechanism, OAuth2Token, Password

__all__ = ["Endpoint", "Security", "error_ack", "initial_response"]


class Security(StrEnum):
    """How TLS starts: STARTTLS on the plain port (MSSanté default, ECO.1.0.1/1.0.2) or implicit."""

    STARTTLS = "starttls"
    IMPLICIT = "implicit"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A server address, its TLS mode and the socket timeout."""

    host: str
    port: int
    security: Security = Security.STARTTLS
    timeout: float = 30.0

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def initial_response(
    credentials: Credentials, user: str, endpoint: Endpoint
) -> sasl.InitialResponse | None:
    """The SASL response to send, or None for TLS client authentication alone.

    For an :class:`OAuth2Token` the provider is asked now: call this on every (re)connect and
    never keep the result (ECO.1.2.5).
    """
    if isinstance(credentials, ClientCertificate):
        return sasl.external(credentials.authzid) if credentials.sasl_external else None
    if isinstance(credentials, Password):
        return sasl.plain(user, credentials.secret)
    if isinstance(credentials, OAuth2Token):
        token = credentials.token()
        try:
            if credentials.mechanism is OAuth2Mechanism.OAUTHBEARER:
                return sasl.oauthbearer(user, token, host=endpoint.host, port=endpoint.port)
            return sasl.xoauth2(user, token)
        except InvalidInputError as exc:
            if exc.field == "token":  # not an RFC 6750 b64token: the provider's fault
                raise TokenError("the token provider returned a malformed bearer token") from None
            raise
    raise TypeError(f"unsupported credentials: {type(credentials).__name__}")


def error_ack(mechanism: sasl.SaslMechanism) -> bytes:
    """What to answer to an OAuth2 error challenge before the server's final refusal."""
    if mechanism is sasl.SaslMechanism.OAUTHBEARER:
        return sasl.OAUTHBEARER_ERROR_ACK
    return sasl.XOAUTH2_ERROR_ACK
