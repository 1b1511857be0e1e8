"""JWT minting (pure): signatures checked independently with hmac / cryptography."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mssante_client.errors import SandboxError
from mssante_client.sandbox.tokens import ISSUER, RS256_KID, mint_jwt, sign_jwt

ADDRESS = "jean.dupont@medecin.mssante.test"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    head, body, sig = token.split(".")
    return json.loads(_b64(head)), json.loads(_b64(body)), f"{head}.{body}".encode(), _b64(sig)


def test_hs256_token_verifies_with_the_secret() -> None:
    secret = b"k" * 32
    header, claims, signed, sig = _parts(mint_jwt(ADDRESS, alg="HS256", key=secret))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert hmac.compare_digest(sig, hmac.new(secret, signed, hashlib.sha256).digest())
    assert claims["email"] == ADDRESS and claims["iss"] == ISSUER
    # backdated by the clock-skew leeway (Dovecot's clock reading lags at a second boundary)
    assert claims["exp"] > time.time() > claims["iat"]
    assert claims["nbf"] == claims["iat"] >= time.time() - 60


def test_rs256_token_verifies_with_the_public_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    header, claims, signed, sig = _parts(mint_jwt(ADDRESS, alg="RS256", key=pem))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": RS256_KID}
    key.public_key().verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
    assert claims["email"] == ADDRESS


def test_expired_token_has_exp_in_the_past() -> None:
    _, claims, _, _ = _parts(
        mint_jwt(ADDRESS, alg="HS256", key=b"s" * 32, expired=True, lifetime=60)
    )
    assert claims["exp"] < time.time()


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(SandboxError, match="unsupported"):
        sign_jwt({}, alg="none", key=b"")  # type: ignore[arg-type]
