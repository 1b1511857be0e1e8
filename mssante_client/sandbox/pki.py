"""Test PKI shaped like IGC-Santé's test chain, generated with ``cryptography``.

Why: the SDK must be exercised against a chain that looks like the real one (a root, then
ORGANISATIONS / PERSONNES intermediates, ECO.1.1.10 "IGC-Santé is the only accepted CA"),
with revocation (ECO.1.1.6: CRLs) and with a certificate from an unknown CA, without ever
touching a real key. Everything is written under the sandbox root; private keys are 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_SUBJECTS",
    "ClientCertSpec",
    "IssuedCert",
    "Pki",
    "build_pki",
    "write_private_file",
]

Issuer = Literal["org", "per", "self"]

_TEST_O = "AGENCE DU NUMERIQUE EN SANTE TEST"
_TEST_OU = "0002 187512751"

#: Subjects of the three CAs, named like IGC-Santé's test chain (see docs/sandbox.md).
CA_SUBJECTS: dict[str, str] = {
    "root": "TEST AC RACINE IGC-SANTE STANDARD",
    "org": "TEST AC IGC-SANTE STANDARD ORGANISATIONS",
    "per": "TEST AC IGC-SANTE STANDARD PERSONNES",
}
_CA_FILE = {"root": "root-ca", "org": "ca-org", "per": "ca-per"}
_KEY_BITS = 2048


@dataclass(frozen=True)
class ClientCertSpec:
    """What a client certificate must say; ``issuer='self'`` makes a self-signed rogue cert."""

    name: str
    issuer: Issuer
    common_name: str
    organization: str
    email: str
    organizational_unit: str | None = None
    revoked: bool = False


@dataclass(frozen=True)
class IssuedCert:
    """Files of one issued client certificate (PEM, chain, key, PKCS#12)."""

    name: str
    serial: int
    #: subject DN, RFC 4514 string (most specific first: ``CN=...,O=...,C=FR``)
    subject: str
    cert_file: Path
    key_file: Path
    chain_file: Path
    p12_file: Path
    p12_password: str
    revoked: bool


@dataclass(frozen=True)
class Pki:
    """Paths of the generated PKI; ``ca_file`` is the only trust anchor a client needs."""

    directory: Path
    ca_file: Path
    ca_bundle_file: Path
    crl_file: Path
    ca_bundle_with_crls_file: Path
    server_cert_file: Path
    server_key_file: Path
    server_fullchain_file: Path
    clients: dict[str, IssuedCert]


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (no window where a key is world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)


def _name(common_name: str, organization: str, ou: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if ou is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class _Authority:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey,
    days: int,
    now: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """CAs sign certificates and CRLs; leaves sign and encipher (TLS client/server)."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_root(now: dt.datetime) -> _Authority:
    key = _new_key()
    name = _name(CA_SUBJECTS["root"], _TEST_O, _TEST_OU)
    cert = (
        _builder(name, name, key.public_key(), 3650, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _Authority(cert, key)


def _make_intermediate(kind: str, root: _Authority, now: dt.datetime) -> _Authority:
    key = _new_key()
    cert = (
        _builder(
            _name(CA_SUBJECTS[kind], _TEST_O, _TEST_OU),
            root.cert.subject,
            key.public_key(),
            3650,
            now,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(_aki(root), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return _Authority(cert, key)


def _aki(issuer: _Authority) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _make_server(ca: _Authority, now: dt.datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        _builder(
            _name("localhost", "OPERATEUR MSSANTE TEST", "0002 999999999"),
            ca.cert.subject,
            key.public_key(),
            825,
            now,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(_aki(ca), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


def _make_client(
    spec: ClientCertSpec, ca: _Authority | None, now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    subject = _name(spec.common_name, spec.organization, spec.organizational_unit)
    signer_name = subject if ca is None else ca.cert.subject
    builder = (
        _builder(subject, signer_name, key.public_key(), 825 if ca else 30, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(spec.email)]), critical=False)
    )
    if ca is not None:
        builder = builder.add_extension(_aki(ca), critical=False)
    return builder.sign(ca.key if ca else key, hashes.SHA256()), key


def _make_crl(
    ca: _Authority, revoked: Sequence[x509.Certificate], now: dt.datetime
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=3650))
        .add_extension(x509.CRLNumber(1000), critical=False)
        .add_extension(_aki(ca), critical=False)
    )
    for cert in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - dt.timedelta(minutes=5))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(ca.key, hashes.SHA256())


def build_pki(directory: Path, clients: Sequence[ClientCertSpec]) -> Pki:
    """Generate the whole PKI into ``directory`` (created if needed) and return its paths.

    Layout matches the measured recipe: ``root-ca.crt`` (trust anchor), ``ca-org.crt``,
    ``ca-per.crt``, ``ca-bundle.pem``, ``crls.pem`` (one CRL per CA, needed by Dovecot's
    ``ssl_require_crl`` and slapd's ``TLSCRLFile``), ``ca-bundle+crl.pem``, the server cert,
    and for each client ``<name>.crt/.key/.chain.pem/.p12``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root = _make_root(now)
    cas = {"org": _make_intermediate("org", root, now), "per": _make_intermediate("per", root, now)}
    for kind, auth in (("root", root), *cas.items()):
        _write_public(directory / f"{_CA_FILE[kind]}.crt", _pem([auth.cert]))
        write_private_file(directory / f"{_CA_FILE[kind]}.key", _pem_key(auth.key))

    server_cert, server_key = _make_server(cas["org"], now)
    _write_public(directory / "server.crt", _pem([server_cert]))
    write_private_file(directory / "server.key", _pem_key(server_key))
    _write_public(directory / "server.fullchain.pem", _pem([server_cert, cas["org"].cert]))

    issued: dict[str, IssuedCert] = {}
    revoked: dict[str, list[x509.Certificate]] = {"root": [], "org": [], "per": []}
    for spec in clients:
        ca = None if spec.issuer == "self" else cas[spec.issuer]
        cert, key = _make_client(spec, ca, now)
        chain = [cert] if ca is None else [cert, ca.cert]
        cert_file = directory / f"{spec.name}.crt"
        key_file = directory / f"{spec.name}.key"
        chain_file = directory / f"{spec.name}.chain.pem"
        p12_file = directory / f"{spec.name}.p12"
        password = secrets.token_urlsafe(12)
        _write_public(cert_file, _pem([cert]))
        _write_public(chain_file, _pem(chain))
        write_private_file(key_file, _pem_key(key))
        p12 = pkcs12.serialize_key_and_certificates(
            spec.name.encode(),
            key,
            cert,
            [ca.cert] if ca else None,
            serialization.BestAvailableEncryption(password.encode()),
        )
        write_private_file(p12_file, p12)
        if spec.revoked and spec.issuer != "self":
            revoked[spec.issuer].append(cert)
        issued[spec.name] = IssuedCert(
            spec.name,
            cert.serial_number,
            cert.subject.rfc4514_string(),
            cert_file,
            key_file,
            chain_file,
            p12_file,
            password,
            spec.revoked,
        )

    crls = [
        _make_crl(root, revoked["root"], now),
        _make_crl(cas["org"], revoked["org"], now),
        _make_crl(cas["per"], revoked["per"], now),
    ]
    crl_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)
    bundle = _pem([root.cert, cas["org"].cert, cas["per"].cert])
    _write_public(directory / "ca-bundle.pem", bundle)
    _write_public(directory / "crls.pem", crl_pem)
    _write_public(directory / "ca-bundle+crl.pem", bundle + crl_pem)
    return Pki(
        directory=directory,
        ca_file=directory / "root-ca.crt",
        ca_bundle_file=directory / "ca-bundle.pem",
        crl_file=directory / "crls.pem",
        ca_bundle_with_crls_file=directory / "ca-bundle+crl.pem",
        server_cert_file=directory / "server.crt",
        server_key_file=directory / "server.key",
        server_fullchain_file=directory / "server.fullchain.pem",
        clients=issued,
    )
