"""SASL initial responses and error challenges (pure)."""

from __future__ import annotations

import base64
import json

import pytest

from mssante_client.errors import InvalidInputError, ProtocolError
from mssante_client.mail import sasl

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_external_empty_and_with_authzid() -> None:
    empty = sasl.external()
    assert empty.payload == b""
    assert empty.encoded() == "="
    act_as = sasl.external("secretariat.cardio@hopital.mssante.test")
    assert act_as.payload == b"secretariat.cardio@hopital.mssante.test"
    assert base64.b64decode(act_as.encoded()) == act_as.payload


def test_plain_layout() -> None:
    response = sasl.plain("alice@hopital.mssante.test", "s3cret")
    assert response.payload == b"\x00alice@hopital.mssante.test\x00s3cret"
    with_authz = sasl.plain("alice", "pw", authzid="bob")
    assert with_authz.payload == b"bob\x00alice\x00pw"


def test_plain_refuses_nul_and_empty() -> None:
    with pytest.raises(InvalidInputError) as err:
        sasl.plain("alice", "zq\x00xv")
    assert "zq" not in str(err.value)  # never echo the secret
    with pytest.raises(InvalidInputError):
        sasl.plain("", "pw")
    with pytest.raises(InvalidInputError):
        sasl.plain("alice", "")


def test_xoauth2_wire_format() -> None:
    response = sasl.xoauth2("jean.dupont@medecin.mssante.test", TOKEN)
    assert response.payload == (
        b"user=jean.dupont@medecin.mssante.test\x01auth=Bearer " + TOKEN.encode() + b"\x01\x01"
    )
    assert response.mechanism is sasl.SaslMechanism.XOAUTH2


def test_oauthbearer_rfc7628_example_shape() -> None:
    response = sasl.oauthbearer("user@example.com", TOKEN, host="server.example.com", port=143)
    assert response.payload == (
        b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer "
        + TOKEN.encode()
        + b"\x01\x01"
    )


def test_oauthbearer_escapes_saslname() -> None:
    response = sasl.oauthbearer("a,b=c@example.com", TOKEN)
    assert response.payload.startswith(b"n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer ")


def test_oauthbearer_without_user() -> None:
    assert sasl.oauthbearer(None, TOKEN).payload.startswith(b"n,,\x01auth=Bearer ")


@pytest.mark.parametrize("token", ["", "has space", "line\r\nbreak", "tab\t", "é"])
def test_bad_tokens_are_refused_without_echo(token: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        sasl.xoauth2("a@b.fr", token)
    if token:
        assert token not in str(err.value)


def test_user_with_control_char_refused() -> None:
    with pytest.raises(InvalidInputError):
        sasl.xoauth2("a\x01@b.fr", TOKEN)


def test_repr_hides_secret() -> None:
    response = sasl.xoauth2("a@b.fr", TOKEN)
    assert TOKEN not in repr(response)
    assert "hidden" in repr(response)


def test_parse_oauth_error_base64_and_raw() -> None:
    doc = {"status": "invalid_token", "scope": "openid", "openid-configuration": "https://x/.wk"}
    encoded = base64.b64encode(json.dumps(doc).encode()).decode()
    parsed = sasl.parse_oauth_error(encoded)
    assert parsed.status == "invalid_token"
    assert parsed.scope == "openid"
    assert parsed.openid_configuration == "https://x/.wk"
    assert parsed.token_rejected
    raw = sasl.parse_oauth_error(json.dumps({"status": "400", "schemes": "Bearer"}).encode())
    assert raw.status == "400"
    assert raw.schemes == "Bearer"
    assert not sasl.parse_oauth_error(b'{"status": "insufficient_scope"}').token_rejected


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"[1,2]").decode(), "e30="])
def test_parse_oauth_error_rejects_garbage(bad: str) -> None:
    with pytest.raises(ProtocolError):
        sasl.parse_oauth_error(bad)


def test_decode_challenge_empty() -> None:
    assert sasl.decode_challenge("") == b""
    assert sasl.decode_challenge(b"=") == b""
    assert sasl.OAUTHBEARER_ERROR_ACK == b"\x01"
