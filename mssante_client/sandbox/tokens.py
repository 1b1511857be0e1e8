"""Minting OAuth2 bearer JWTs that the sandbox's Dovecot validates offline.

Why: MSSanté mailboxes of people log in with a Pro Santé Connect access token over SASL
XOAUTH2 (ECO.1.2.1); the sandbox stands in for PSC by signing its own JWTs (HS256 with a
shared secret, RS256 with an RSA key) that Dovecot's oauth2 passdb checks locally. Pure
functions over keys; no JWT library needed (RFC 7515/7519 compact serialisation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import SandboxError

__all__ = ["ISSUER", "RS256_KID", "Algorithm", "claims_for", "mint_jwt", "sign_jwt"]

Algorithm = Literal["HS256", "RS256"]
#: ``iss`` of every sandbox token; Dovecot's ``issuers`` accepts only this one.
ISSUER = "https://auth.mssante.test"
#: ``kid`` of the RS256 key (Dovecot looks the key up by it).
RS256_KID = "sandbox-rs-1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: Seconds by which minted tokens are backdated (iat/nbf), the usual clock-skew allowance.
CLOCK_SKEW_LEEWAY = 30


def claims_for(
    address: str, *, lifetime: int = 3600, expired: bool = False, now: int | None = None
) -> dict[str, Any]:
    """Claims of a PSC-like access token for ``address`` (Dovecot matches ``email``)."""
    # Backdated: Dovecot compares nbf/iat with its own reading of the clock in whole seconds,
    # which lags time.time() just after a second boundary; a token minted then and used at
    # once was refused as "Token is not valid yet" (measured: 40 of 40 at the boundary without
    # the leeway, 0 of 40 with it).
    issued = (int(time.time()) - CLOCK_SKEW_LEEWAY) if now is None else now
    if expired:
        issued -= lifetime + 600
    return {
        "iss": ISSUER,
        "sub": f"sandbox:{address}",
        "email": address,
        "preferred_username": address,
        "scope": "openid email",
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }


def sign_jwt(claims: dict[str, Any], *, alg: Algorithm, key: bytes, kid: str | None = None) -> str:
    """Compact JWS of ``claims``; ``key`` is the HS256 secret or a PEM RSA private key."""
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    ).encode("ascii")
    if alg == "HS256":
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        private = serialization.load_pem_private_key(key, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise SandboxError("the RS256 signing key is not an RSA key")
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise SandboxError(f"unsupported token algorithm {alg!r} (HS256 or RS256)")
    return signing_input.decode("ascii") + "." + _b64url(signature)


def mint_jwt(
    address: str, *, alg: Algorithm, key: bytes, expired: bool = False, lifetime: int = 3600
) -> str:
    """A signed token for ``address``; ``expired=True`` gives one whose ``exp`` has passed."""
    kid = RS256_KID if alg == "RS256" else None
    return sign_jwt(
        claims_for(address, lifetime=lifetime, expired=expired), alg=alg, key=key, kid=kid
    )
