"""The test PKI (pure: no daemon): chains, CRLs, PKCS#12, key modes; checked with cryptography
and independently with the ``openssl verify`` command."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from mssante_client.sandbox import accounts
from mssante_client.sandbox.pki import CA_SUBJECTS, Pki, build_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    specs = [a.cert for a in accounts.ACCOUNT_SPECS if a.cert is not None]
    return build_pki(tmp_path_factory.mktemp("pki"), [*specs, accounts.ROGUE_CERT])


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _crls(pki: Pki) -> list[x509.CertificateRevocationList]:
    marker = b"-----BEGIN X509 CRL-----"
    chunks = pki.crl_file.read_bytes().split(marker)[1:]
    return [x509.load_pem_x509_crl(marker + c) for c in chunks]


def test_subjects_follow_the_igc_sante_test_chain(pki: Pki) -> None:
    root = _cert(pki.ca_file)
    cn = root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == CA_SUBJECTS["root"] == "TEST AC RACINE IGC-SANTE STANDARD"
    for name, kind in (("ca-org.crt", "org"), ("ca-per.crt", "per")):
        ca = _cert(pki.directory / name)
        ca.verify_directly_issued_by(root)
        assert (
            ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            == CA_SUBJECTS[kind]
        )
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


def test_client_chains_verify_up_to_the_root(pki: Pki) -> None:
    per, org = _cert(pki.directory / "ca-per.crt"), _cert(pki.directory / "ca-org.crt")
    _cert(pki.clients["jean.dupont"].cert_file).verify_directly_issued_by(per)
    _cert(pki.clients["dpi.cardio"].cert_file).verify_directly_issued_by(org)
    _cert(pki.clients["secretariat.cardio"].cert_file).verify_directly_issued_by(org)
    leaf = _cert(pki.clients["jean.dupont"].cert_file)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["jean.dupont@medecin.mssante.test"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_server_certificate_names_loopback(pki: Pki) -> None:
    server = _cert(pki.server_cert_file)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "127.0.0.2", "::1")
    }
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    ctx.load_cert_chain(pki.server_fullchain_file, pki.server_key_file)  # key matches


def test_revoked_serial_is_in_the_personnes_crl_only(pki: Pki) -> None:
    revoked = pki.clients["revoque"]
    crls = _crls(pki)
    assert len(crls) == 3
    cas = {
        c.subject: c
        for c in (_cert(pki.directory / n) for n in ("root-ca.crt", "ca-org.crt", "ca-per.crt"))
    }
    for crl in crls:
        issuer_key = cas[crl.issuer].public_key()
        assert isinstance(issuer_key, rsa.RSAPublicKey)
        assert crl.is_signature_valid(issuer_key)
        listed = crl.get_revoked_certificate_by_serial_number(revoked.serial)
        is_per = (
            crl.issuer
            == cas[next(iter(k for k in cas if "PERSONNES" in k.rfc4514_string()))].subject
        )
        assert (listed is not None) == is_per
    jean = pki.clients["jean.dupont"]
    assert all(c.get_revoked_certificate_by_serial_number(jean.serial) is None for c in crls)


def test_p12_loads_only_with_its_password(pki: Pki) -> None:
    bundle = pki.clients["dpi.cardio"]
    key, cert, extra = pkcs12.load_key_and_certificates(
        bundle.p12_file.read_bytes(), bundle.p12_password.encode()
    )
    assert cert is not None and key is not None and cert.serial_number == bundle.serial
    assert [c.subject for c in extra] == [_cert(pki.directory / "ca-org.crt").subject]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(bundle.p12_file.read_bytes(), b"wrong")


def test_private_keys_are_0600(pki: Pki) -> None:
    keys = list(pki.directory.glob("*.key")) + list(pki.directory.glob("*.p12"))
    assert len(keys) >= 10
    assert {k.stat().st_mode & 0o777 for k in keys} == {0o600}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
@pytest.mark.parametrize(
    ("name", "ok"),
    [("jean.dupont", True), ("dpi.cardio", True), ("revoque", False), ("rogue", False)],
)
def test_openssl_verify_with_crls(pki: Pki, name: str, ok: bool) -> None:
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(pki.ca_bundle_file),
            "-CRLfile",
            str(pki.crl_file),
            "-crl_check_all",
            str(pki.clients[name].cert_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode == 0) is ok, done.stdout + done.stderr
    if name == "revoque":
        assert "certificate revoked" in done.stdout + done.stderr
