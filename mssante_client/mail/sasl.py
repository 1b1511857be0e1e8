"""SASL initial responses and server error challenges, without any socket (sans-I/O).

The SMTP and IMAP edges ask this module for the bytes to send after ``AUTH <MECH>`` /
``AUTHENTICATE <MECH>`` and hand back what the server answered. Mechanisms:

* ``EXTERNAL`` (RFC 4422 appendix A): the identity comes from the TLS client certificate
  (applicative mailboxes with an IGC-Santé certificate); optional authorization identity.
* ``XOAUTH2`` (Google's convention) — ECO.1.2.1, "TLS then XOAUTH2" with a Pro Santé Connect token.
* ``OAUTHBEARER`` (RFC 7628), the standard form of the same thing.
* ``PLAIN`` (RFC 4616), for test servers only; never sent without TLS (the edges enforce it).

The responses carry secrets: :class:`InitialResponse` masks its payload in ``repr`` and nothing
here logs. Errors never quote a token or a password.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from dataclasses import dataclass, field

from ..errors import InvalidInputError, ProtocolError

__all__ = [
    "OAUTHBEARER_ERROR_ACK",
    "XOAUTH2_ERROR_ACK",
    "InitialResponse",
    "OAuthErrorChallenge",
    "SaslMechanism",
    "decode_challenge",
    "encode_response",
    "external",
    "oauthbearer",
    "parse_oauth_error",
    "plain",
    "xoauth2",
]


class SaslMechanism(enum.StrEnum):
    EXTERNAL = "EXTERNAL"
    XOAUTH2 = "XOAUTH2"
    OAUTHBEARER = "OAUTHBEARER"
    PLAIN = "PLAIN"


#: What the client sends after an OAUTHBEARER error challenge to end the exchange (RFC 7628 §3.2.3).
OAUTHBEARER_ERROR_ACK = b"\x01"
#: What the client sends after an XOAUTH2 error challenge: an empty response.
XOAUTH2_ERROR_ACK = b""

# RFC 6750 b64token
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class InitialResponse:
    """The raw bytes of a SASL initial response. ``repr`` hides them (they hold secrets)."""

    mechanism: SaslMechanism
    payload: bytes = field(repr=False)

    def encoded(self) -> str:
        """The base64 form for the wire; ``=`` for an empty response (RFC 4954 / RFC 4959)."""
        return encode_response(self.payload)

    def __repr__(self) -> str:
        return f"InitialResponse({self.mechanism.value}, <{len(self.payload)} bytes hidden>)"


def encode_response(payload: bytes) -> str:
    """Base64-encode a SASL response; an empty one is sent as ``=``."""
    return base64.b64encode(payload).decode("ascii") if payload else "="


def decode_challenge(challenge: bytes | str) -> bytes:
    """Decode a base64 server challenge (what follows ``334 `` or ``+ ``)."""
    text = challenge.decode("ascii", "replace") if isinstance(challenge, bytes) else challenge
    text = text.strip()
    if text in {"", "="}:
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("the server sent a SASL challenge that is not base64") from exc


def _check_text(field_name: str, value: str, forbidden: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInputError(field_name, f"expected text, got {type(value).__name__}")
    if any(c in value for c in forbidden):
        raise InvalidInputError(field_name, "contains a forbidden control character")
    return value.encode("utf-8")


def _check_token(token: str) -> bytes:
    if not isinstance(token, str) or not token:
        raise InvalidInputError("token", "an OAuth2 access token is required")
    if not _B64TOKEN.fullmatch(token):
        # never echo the token
        raise InvalidInputError("token", "is not a valid bearer token (RFC 6750 b64token)")
    return token.encode("ascii")


def external(authzid: str | None = None) -> InitialResponse:
    """EXTERNAL: empty (act as the certificate's identity) or an authorization identity."""
    payload = b"" if not authzid else _check_text("authzid", authzid, "\x00\r\n")
    return InitialResponse(SaslMechanism.EXTERNAL, payload)


def plain(authcid: str, password: str, authzid: str = "") -> InitialResponse:
    """PLAIN: ``authzid NUL authcid NUL passwd`` (RFC 4616)."""
    if not authcid:
        raise InvalidInputError("username", "must not be empty")
    if not password:
        raise InvalidInputError("password", "must not be empty")
    payload = b"\x00".join(
        (
            _check_text("authzid", authzid, "\x00"),
            _check_text("username", authcid, "\x00"),
            _check_text("password", password, "\x00"),
        )
    )
    return InitialResponse(SaslMechanism.PLAIN, payload)


def xoauth2(user: str, token: str) -> InitialResponse:
    """XOAUTH2: ``user=<address>^Aauth=Bearer <token>^A^A`` (ECO.1.2.1)."""
    if not user:
        raise InvalidInputError("user", "must not be empty")
    user_b = _check_text("user", user, "\x00\x01\r\n")
    payload = b"user=" + user_b + b"\x01auth=Bearer " + _check_token(token) + b"\x01\x01"
    return InitialResponse(SaslMechanism.XOAUTH2, payload)


def _saslname(value: str) -> bytes:
    # RFC 5801 saslname: ',' -> '=2C', '=' -> '=3D'
    raw = _check_text("user", value, "\x00\x01\r\n")
    return raw.replace(b"=", b"=3D").replace(b",", b"=2C")


def oauthbearer(
    user: str | None, token: str, *, host: str | None = None, port: int | None = None
) -> InitialResponse:
    """OAUTHBEARER (RFC 7628 §3.1): GS2 header ``n,a=<user>,`` then kvpairs separated by ^A."""
    gs2 = b"n," + (b"a=" + _saslname(user) if user else b"") + b","
    kvpairs = b""
    if host:
        kvpairs += b"host=" + _check_text("host", host, "\x00\x01\r\n ") + b"\x01"
    if port is not None:
        if not 0 < port < 65536:
            raise InvalidInputError("port", "must be between 1 and 65535")
        kvpairs += b"port=" + str(port).encode() + b"\x01"
    kvpairs += b"auth=Bearer " + _check_token(token) + b"\x01"
    return InitialResponse(SaslMechanism.OAUTHBEARER, gs2 + b"\x01" + kvpairs + b"\x01")


@dataclass(frozen=True)
class OAuthErrorChallenge:
    """The JSON error a server returns on a refused OAuth2 token (RFC 7628 §3.2.2).

    ``status`` is e.g. ``invalid_token`` (token expired or revoked: get a fresh one once),
    ``insufficient_scope`` or ``invalid_request``.
    """

    status: str
    scope: str | None = None
    schemes: str | None = None
    openid_configuration: str | None = None

    @property
    def token_rejected(self) -> bool:
        """Whether a fresh token could help (ECO.1.2.7: silently re-open with a new token)."""
        return self.status in {"invalid_token", "401", "400"}


def parse_oauth_error(challenge: bytes | str) -> OAuthErrorChallenge:
    """Parse the (base64) JSON error challenge sent by the server after a bad XOAUTH2/OAUTHBEARER.

    Accepts the base64 text from the wire or the already-decoded bytes. Raises ProtocolError if
    it is not a JSON object with a ``status``.
    """
    raw: bytes
    if isinstance(challenge, str):
        raw = decode_challenge(challenge)
    else:
        stripped = challenge.strip()
        raw = stripped if stripped.startswith(b"{") else decode_challenge(stripped)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("the server's OAuth2 error challenge is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("status"), str | int):
        raise ProtocolError("the server's OAuth2 error challenge has no status")

    def opt(key: str) -> str | None:
        value = data.get(key)
        return str(value) if isinstance(value, str | int) else None

    return OAuthErrorChallenge(
        status=str(data["status"]),
        scope=opt("scope"),
        schemes=opt("schemes"),
        openid_configuration=opt("openid-configuration"),
    )
