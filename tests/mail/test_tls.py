"""TLS contexts and trust anchors; server verification against the sandbox and a TLS-only peer."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mailb_support import HELENE, JEAN, LocalPeer, MailboxFactory, simple_message, unique

from mssante_client.errors import (
    CertificateVerificationError,
    ConfigurationError,
    TLSError,
)
from mssante_client.mail.endpoint import Security
from mssante_client.sandbox import SandboxInfo
from mssante_client.tls import (
    IGC_SANTE_ROOT_SHA256,
    create_client_context,
    igc_sante_root_pem,
)

SHARED_TRUST = Path(__file__).resolve().parents[3] / "shared" / "trust"


def test_shipped_root_matches_the_pinned_fingerprint() -> None:
    pem = igc_sante_root_pem()
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert "AC RACINE IGC-SANTE ELEMENTAIRE" in cert.subject.rfc4514_string()
    digest = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert digest == IGC_SANTE_ROOT_SHA256


def test_pin_agrees_with_the_trust_readme() -> None:
    readme = SHARED_TRUST / "README.md"
    if not readme.exists():
        pytest.skip(f"{readme} not present (shared trust material not mounted)")
    assert IGC_SANTE_ROOT_SHA256 in readme.read_text()


def test_tampered_root_is_refused() -> None:
    _key, cert = _cert("AC RACINE IGC-SANTE ELEMENTAIRE", ca=True)
    fake = cert.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(ConfigurationError, match="fingerprint"):
        igc_sante_root_pem(fake)
    with pytest.raises(ConfigurationError):
        igc_sante_root_pem("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_context_is_strict_by_default() -> None:
    ctx = create_client_context()
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    # only the IGC-Santé root, never the system store (ECO.1.1.10)
    roots = ctx.get_ca_certs()
    assert len(roots) == 1
    assert ("commonName", "AC RACINE IGC-SANTE ELEMENTAIRE") in [
        a for rdn in roots[0]["subject"] for a in rdn
    ]


def test_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        create_client_context(ca_file=tmp_path / "absent.pem")


# --- live: the sandbox's servers are signed by a TEST CA, not by IGC-Santé -------------------


@pytest.mark.sandbox
def test_default_trust_refuses_the_sandbox_server(open_mailbox: MailboxFactory) -> None:
    """Wrong server CA: the IGC-Santé root does not anchor the sandbox's test PKI."""
    mb = open_mailbox(JEAN, ca_file=None)
    with pytest.raises(CertificateVerificationError):
        mb.send(simple_message(JEAN, [HELENE], unique("never sent")))
    with pytest.raises(CertificateVerificationError):
        mb.folders()


@pytest.mark.sandbox
def test_other_ca_file_refuses_the_sandbox_server(
    open_mailbox: MailboxFactory, tmp_path: Path
) -> None:
    _, ca = _cert("SOME OTHER CA", ca=True)
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    mb = open_mailbox(JEAN, ca_file=ca_file)
    with pytest.raises(CertificateVerificationError):
        mb.folders()
    with pytest.raises(CertificateVerificationError):
        mb.send(simple_message(JEAN, [HELENE], unique("never sent")))


# --- a TLS-only peer whose certificate names another host ------------------------------------


def _cert(
    cn: str,
    *,
    ca: bool = False,
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
    san: str | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[1].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


@pytest.fixture
def wrong_host_peer(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS listener on 127.0.0.1 whose certificate (from a CA we trust) is for another host."""
    ca_key, ca = _cert("TEST CA", ca=True)
    key, cert = _cert("mail.elsewhere.test", issuer=(ca_key, ca), san="mail.elsewhere.test")
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "srv.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "srv.pem")

    def handshake(conn: socket.socket) -> None:
        with server_ctx.wrap_socket(conn, server_side=True):
            pass

    peer = LocalPeer(handshake)
    yield peer.port, tmp_path / "ca.pem"
    peer.close()


def test_hostname_mismatch_is_refused(wrong_host_peer: tuple[int, Path]) -> None:
    from mssante_client.mail.credentials import Password
    from mssante_client.mail.mailbox import Mailbox

    port, ca_file = wrong_host_peer
    mb = Mailbox(
        JEAN,
        Password("unused-secret"),
        host="127.0.0.1",
        smtp_port=port,
        imap_port=port,
        security=Security.IMPLICIT,
        ca_file=ca_file,
        timeout=5,
    )
    with mb, pytest.raises(CertificateVerificationError) as err:
        mb.folders()
    assert isinstance(err.value, TLSError)
    assert "unused-secret" not in str(err.value)


# --- revocation of the server certificate (ECO.1.1.6) ----------------------------------------


def _server_crl(info_root: Path, *, revoke_server: bool) -> bytes:
    """A CRL from the CA that issued the sandbox's server certificate (signed with its key)."""
    pki = info_root / "pki"
    server = x509.load_pem_x509_certificate((pki / "server.crt").read_bytes())
    for name in ("ca-org", "ca-per"):
        ca = x509.load_pem_x509_certificate((pki / f"{name}.crt").read_bytes())
        if ca.subject == server.issuer:
            break
    else:  # pragma: no cover
        raise AssertionError("issuer of the server certificate not found")
    ca_key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=1))
    )
    if revoke_server:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(server.serial_number)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.PEM)


@pytest.mark.sandbox
@pytest.mark.parametrize("revoked", [False, True])
def test_server_certificate_revocation_is_checked(
    revoked: bool, open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo, tmp_path: Path
) -> None:
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(_server_crl(Path(mssante_sandbox.root), revoke_server=revoked))
    mb = open_mailbox(HELENE, crl_file=crl_file)
    if revoked:
        with pytest.raises(CertificateVerificationError):
            mb.folders()
        with pytest.raises(CertificateVerificationError):
            mb.send(simple_message(HELENE, [JEAN], unique("never sent")))
    else:
        assert any(f.name == "INBOX" for f in mb.folders())


@pytest.mark.sandbox
def test_missing_crl_for_the_issuer_fails_closed(
    open_mailbox: MailboxFactory, mssante_sandbox: SandboxInfo, tmp_path: Path
) -> None:
    """A CRL of another CA only: the server's issuer has none, so verification fails."""
    _, other = _cert("UNRELATED CA", ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(other.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateVerificationError):
        open_mailbox(HELENE, crl_file=crl_file).folders()
