"""LDAP backend against the sandbox's real slapd: TLS (StartTLS, LDAPS, wrong CA), binds
(anonymous, simple, SASL EXTERNAL), server limits, reconnect after a dropped connection."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import ldap
import pytest
from directory_support import Oracle, mails

from mssante_client.directory import Directory
from mssante_client.directory.ldap import LDAPDirectory
from mssante_client.errors import (
    AuthenticationError,
    CertificateVerificationError,
    ClientCertificateError,
    ConfigurationError,
    ConnectError,
)
from mssante_client.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox

DPI = "dpi.cardio@hopital.mssante.test"


def backend(info: SandboxInfo, base: str, uri: str | None = None, **kw: Any) -> LDAPDirectory:
    kw.setdefault("ca_file", info.ca_file)
    return LDAPDirectory(uri or info.ldap_uri, base_dn=base, **kw)


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_anonymous_search_over_tls(sandbox: SandboxInfo, bal_base: str, scheme: str) -> None:
    uri = sandbox.ldap_uri if scheme == "starttls" else sandbox.ldaps_uri
    with Directory(backend(sandbox, bal_base, uri)) as d:
        page = d.search(rpps="10001234565")
        assert mails(page.results) == ["jean.dupont@medecin.mssante.test"]
        assert isinstance(d.backend, LDAPDirectory)
        assert d.backend.whoami() == ""  # anonymous


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_wrong_trust_anchor_is_refused(sandbox: SandboxInfo, bal_base: str, scheme: str) -> None:
    """Default trust = the IGC-Santé root only: the sandbox's test CA is not trusted."""
    uri = sandbox.ldap_uri if scheme == "starttls" else sandbox.ldaps_uri
    with pytest.raises(CertificateVerificationError, match="certificate"):
        backend(sandbox, bal_base, uri, ca_file=None).connect()


def test_other_ca_file_is_refused(sandbox: SandboxInfo, bal_base: str, tmp_path: Path) -> None:
    rogue_ca = tmp_path / "rogue.pem"
    rogue_ca.write_bytes(Path(sandbox.rogue_cert.cert_file).read_bytes())
    with pytest.raises(CertificateVerificationError):
        backend(sandbox, bal_base, sandbox.ldaps_uri, ca_file=rogue_ca).connect()


def test_closed_port_is_a_connect_error(sandbox: SandboxInfo, bal_base: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError):
        backend(sandbox, bal_base, f"ldap://127.0.0.1:{port}", timeout=5).connect()


def test_simple_bind(sandbox: SandboxInfo, bal_base: str) -> None:
    b = backend(
        sandbox, bal_base, bind_dn=sandbox.ldap_admin_dn, password=sandbox.ldap_admin_password
    )
    with b:
        assert b.whoami() == f"dn:{sandbox.ldap_admin_dn}"
    bad = backend(sandbox, bal_base, bind_dn=sandbox.ldap_admin_dn, password="not-the-password")
    with pytest.raises(AuthenticationError) as info:
        bad.connect()
    assert "not-the-password" not in str(info.value)
    assert "not-the-password" not in repr(bad)


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_sasl_external_with_client_certificate(
    sandbox: SandboxInfo, bal_base: str, scheme: str
) -> None:
    account = sandbox.account(DPI)
    uri = sandbox.ldap_uri if scheme == "starttls" else sandbox.ldaps_uri
    b = backend(
        sandbox,
        bal_base,
        uri,
        client_cert=account.chain_file,
        client_key=account.key_file,
        sasl_external=True,
    )
    with Directory(b) as d:
        assert b.whoami() == f"dn:uid=fixed-dpi.cardio,{bal_base}"
        assert d.search(finess="690999990", mailbox_type="APP").results


@pytest.mark.parametrize(
    ("which", "error"),
    [
        # slapd drops the TLS session of a certificate listed in its CRL
        ("revoked_cert", ClientCertificateError),
        # a certificate of an unknown CA gives no SASL EXTERNAL identity
        ("rogue_cert", AuthenticationError),
    ],
)
def test_refused_client_certificates(
    sandbox: SandboxInfo, bal_base: str, which: str, error: type[Exception]
) -> None:
    cert = getattr(sandbox, which)
    b = backend(
        sandbox,
        bal_base,
        sandbox.ldaps_uri,
        client_cert=cert.chain_file,
        client_key=cert.key_file,
        sasl_external=True,
    )
    with pytest.raises(error):
        b.connect()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"uri": "http://x"}, "ldaps://"),
        ({"bind_dn": "cn=x"}, "password"),
        ({"password": "x"}, "bind_dn"),
        ({"sasl_external": True}, "client_cert"),
        ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
    ],
)
def test_bad_configuration(kw: dict[str, Any], match: str) -> None:
    kw.setdefault("uri", "ldaps://annuaire.example")
    uri = kw.pop("uri")
    with pytest.raises(ConfigurationError, match=match):
        LDAPDirectory(uri, base_dn="dc=x", **kw)


def test_refused_page_size_is_shrunk(sandbox: SandboxInfo, bal_base: str, oracle: Oracle) -> None:
    """slapd's size.pr=500: a 1000-entry page is adminLimitExceeded; we shrink and go on."""
    b = backend(sandbox, bal_base, ldap_page_size=1000)
    with Directory(b) as d:
        got = mails(d.iter_search(mailbox_type="ORG", page_size=1000))
    assert set(got) == oracle.expected(mailbox_type="ORG")
    assert b.ldap_page_size <= 500


def test_size_limit_returns_what_is_allowed_and_flags_it(
    sandbox: SandboxInfo, bal_base: str
) -> None:
    with Directory(backend(sandbox, bal_base, size_limit=120, ldap_page_size=50)) as d:
        pages = list(d.iter_pages(mailbox_type="PER", page_size=100))
    got = [m for p in pages for m in mails(p.results)]
    assert 0 < len(got) <= 120
    assert len(got) == len(set(got))
    assert pages[-1].truncated
    assert pages[-1].next_cursor is None


def _drop_connection(b: LDAPDirectory) -> None:
    """Cut the TCP connection under python-ldap, as a server restart or a NAT timeout would."""
    fd = b._conn.get_option(ldap.OPT_DESC)
    with socket.socket(fileno=os.dup(fd)) as s:
        s.shutdown(socket.SHUT_RDWR)


def test_reconnects_once_after_a_dropped_connection(
    sandbox: SandboxInfo, bal_base: str, oracle: Oracle
) -> None:
    b = backend(sandbox, bal_base)
    with Directory(b) as d:
        assert d.search(family_name="dupont").results
        _drop_connection(b)
        assert set(mails(d.iter_search(family_name="dupont"))) == oracle.expected(
            family_name="dupont"
        )


def test_reconnect_in_the_middle_of_paging(
    sandbox: SandboxInfo, bal_base: str, oracle: Oracle
) -> None:
    b = backend(sandbox, bal_base, ldap_page_size=100)
    with Directory(b) as d:
        first = d.search(department="69", page_size=120)
        assert first.next_cursor is not None
        _drop_connection(b)
        got = mails(first.results) + mails(
            d.iter_search(department="69", page_size=120, cursor=first.next_cursor)
        )
    assert len(got) == len(set(got))
    assert set(got) == oracle.expected(department="69")


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_host_name_is_checked(sandbox: SandboxInfo, bal_base: str, scheme: str) -> None:
    """The server certificate names localhost / 127.0.0.1: another name for it is refused."""
    alias = socket.gethostname()
    try:
        resolved = socket.gethostbyname(alias)
    except OSError:
        resolved = ""
    if resolved != "127.0.0.1" or alias in ("localhost", "127.0.0.1"):
        pytest.skip("needs a host name other than localhost that resolves to 127.0.0.1")
    uri = sandbox.ldap_uri if scheme == "starttls" else sandbox.ldaps_uri
    uri = uri.replace("127.0.0.1", alias)
    with pytest.raises(CertificateVerificationError, match=r"(?i)host ?name"):
        backend(sandbox, bal_base, uri).connect()
