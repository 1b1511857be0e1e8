"""The seeded slapd answers like the seed says (python-ldap against the real server)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl
from ldap.filter import filter_format

from mssante_client.identity import FINESS, RPPS
from mssante_client.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox


def _connect(
    info: SandboxInfo, uri: str, cert: tuple[Path, Path] | None = None, starttls: bool = False
) -> Any:
    conn = ldap.initialize(uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 10)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(info.ca_file))
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    if cert is not None:
        conn.set_option(ldap.OPT_X_TLS_CERTFILE, str(cert[0]))
        conn.set_option(ldap.OPT_X_TLS_KEYFILE, str(cert[1]))
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: applies the TLS options above
    if starttls:
        conn.start_tls_s()
    return conn


def _paged(conn: Any, base: str, flt: str, attrs: list[str] | None = None) -> list[Any]:
    ctrl = SimplePagedResultsControl(True, size=500, cookie=b"")
    out: list[Any] = []
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_ONELEVEL, flt, attrs, serverctrls=[ctrl])
        _, data, _, sctrls = conn.result3(msgid)
        out += data
        cookies = [c.cookie for c in sctrls if c.controlType == ctrl.controlType]
        if not cookies or not cookies[0]:
            return out
        ctrl.cookie = cookies[0]


def _seed(info: SandboxInfo) -> list[dict[str, Any]]:
    with info.directory_seed_file.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _bal(info: SandboxInfo) -> str:
    return f"ou=bal,{info.ldap_base}"


@pytest.fixture(scope="module")
def anonymous(mssante_sandbox: SandboxInfo) -> Any:
    conn = _connect(mssante_sandbox, mssante_sandbox.ldap_uri, starttls=True)
    conn.simple_bind_s("", "")
    yield conn
    conn.unbind_s()


def test_paged_search_counts_the_requested_entries(
    mssante_sandbox: SandboxInfo, anonymous: Any
) -> None:
    found = _paged(anonymous, _bal(mssante_sandbox), "(objectClass=mssBoiteAuxLettres)", ["mail"])
    assert len(found) == mssante_sandbox.directory_entries
    assert mssante_sandbox.directory_entries >= 1000


def test_unpaged_search_hits_the_size_limit(mssante_sandbox: SandboxInfo, anonymous: Any) -> None:
    with pytest.raises(ldap.SIZELIMIT_EXCEEDED):
        anonymous.search_s(_bal(mssante_sandbox), ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["mail"])


def test_seed_file_matches_ldap(mssante_sandbox: SandboxInfo, anonymous: Any) -> None:
    seed = _seed(mssante_sandbox)
    mailboxes = {e["mail"]: e for e in seed if e["kind"] == "mailbox"}
    assert len(mailboxes) == mssante_sandbox.directory_entries
    found = _paged(anonymous, _bal(mssante_sandbox), "(objectClass=mssBoiteAuxLettres)")
    by_mail = {attrs["mail"][0].decode(): (dn, attrs) for dn, attrs in found}
    assert set(by_mail) == set(mailboxes)
    for address in list(mailboxes)[:: max(1, len(mailboxes) // 200)]:
        dn, attrs = by_mail[address]
        expected = mailboxes[address]
        assert dn == expected["dn"]
        for name, value in expected.items():
            if name in ("kind", "dn"):
                continue
            values = value if isinstance(value, list) else [value]
            want = [("TRUE" if v else "FALSE") if isinstance(v, bool) else str(v) for v in values]
            assert sorted(v.decode() for v in attrs[name]) == sorted(want), (address, name)
    structures = [e for e in seed if e["kind"] == "structure"]
    base = f"ou=structures,{mssante_sandbox.ldap_base}"
    assert len(_paged(anonymous, base, "(objectClass=mssStructure)", ["o"])) == len(structures)


def test_multi_criteria_search_agrees_with_the_seed(
    mssante_sandbox: SandboxInfo, anonymous: Any
) -> None:
    seed = [e for e in _seed(mssante_sandbox) if e["kind"] == "mailbox"]
    expected = {
        e["mail"]
        for e in seed
        if e["mssTypeBAL"] == "PER"
        and e.get("mssCodeProfession") == "10"
        and e.get("mssCodeSavoirFaire") == "SM04"
        and e["l"] == "LYON"
    }
    flt = filter_format(
        "(&(mssTypeBAL=%s)(mssCodeProfession=%s)(mssCodeSavoirFaire=%s)(l=%s))",
        ["PER", "10", "SM04", "LYON"],
    )
    found = _paged(anonymous, _bal(mssante_sandbox), flt, ["mail"])
    assert {a["mail"][0].decode() for _, a in found} == expected
    assert expected, "the seed should contain Lyon cardiologists"


def test_accented_names_are_searchable(mssante_sandbox: SandboxInfo, anonymous: Any) -> None:
    flt = filter_format("(&(sn=%s)(givenName=%s))", ["LEFÈBVRE", "Hélène"])
    found = anonymous.search_s(_bal(mssante_sandbox), ldap.SCOPE_ONELEVEL, flt, ["mail", "cn"])
    mails = {a["mail"][0].decode() for _, a in found}
    assert "helene.lefebvre@medecin.mssante.test" in mails
    assert all(a["cn"][0].decode() == "Hélène LEFÈBVRE" for _, a in found)


def test_seed_identifiers_and_codes_are_valid(mssante_sandbox: SandboxInfo) -> None:
    seed = [e for e in _seed(mssante_sandbox) if e["kind"] in ("mailbox", "structure")]
    types = Counter(e.get("mssTypeBAL") for e in seed if e["kind"] == "mailbox")
    assert set(types) == {"PER", "ORG", "APP", "CAB"}
    for e in seed:
        if "mssRPPS" in e:
            assert e["mssIdNatPS"] == "8" + str(RPPS(e["mssRPPS"]))
        if "mssFINESS" in e:
            assert e["mssIdNatStruct"] == "1" + str(FINESS(e["mssFINESS"]))
        if "postalCode" in e:
            dept = e["mssDepartement"]
            assert e["postalCode"].startswith("20" if dept in ("2A", "2B") else dept)
    jean = next(e for e in seed if e.get("mail") == "jean.dupont@medecin.mssante.test")
    assert (jean["mssCodeProfession"], jean["mssCodeSavoirFaire"]) == ("10", "SM26")


def test_sasl_external_maps_the_certificate_to_its_entry(mssante_sandbox: SandboxInfo) -> None:
    jean = mssante_sandbox.account("jean.dupont@medecin.mssante.test")
    assert jean.chain_file and jean.key_file
    conn = _connect(mssante_sandbox, mssante_sandbox.ldaps_uri, (jean.chain_file, jean.key_file))
    try:
        conn.sasl_non_interactive_bind_s("EXTERNAL")
        assert conn.whoami_s() == f"dn:uid=fixed-jean.dupont,ou=bal,{mssante_sandbox.ldap_base}"
    finally:
        conn.unbind_s()


def test_revoked_certificate_is_dropped_by_slapd(mssante_sandbox: SandboxInfo) -> None:
    revoked = mssante_sandbox.revoked_cert
    conn = _connect(
        mssante_sandbox, mssante_sandbox.ldaps_uri, (revoked.chain_file, revoked.key_file)
    )
    with pytest.raises(ldap.SERVER_DOWN):
        conn.sasl_non_interactive_bind_s("EXTERNAL")


def test_admin_bind(mssante_sandbox: SandboxInfo) -> None:
    conn = _connect(mssante_sandbox, mssante_sandbox.ldaps_uri)
    try:
        conn.simple_bind_s(mssante_sandbox.ldap_admin_dn, mssante_sandbox.ldap_admin_password)
        assert conn.whoami_s() == f"dn:{mssante_sandbox.ldap_admin_dn}"
    finally:
        conn.unbind_s()
    conn = _connect(mssante_sandbox, mssante_sandbox.ldap_uri, starttls=True)
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        conn.simple_bind_s(mssante_sandbox.ldap_admin_dn, "wrong")


def test_sasl_external_over_starttls(mssante_sandbox: SandboxInfo) -> None:
    dpi = mssante_sandbox.account("dpi.cardio@hopital.mssante.test")
    assert dpi.chain_file and dpi.key_file
    conn = _connect(
        mssante_sandbox, mssante_sandbox.ldap_uri, (dpi.chain_file, dpi.key_file), starttls=True
    )
    try:
        conn.sasl_non_interactive_bind_s("EXTERNAL")
        assert conn.whoami_s() == f"dn:uid=fixed-dpi.cardio,ou=bal,{mssante_sandbox.ldap_base}"
    finally:
        conn.unbind_s()


def test_page_size_above_500_is_refused(mssante_sandbox: SandboxInfo, anonymous: Any) -> None:
    ctrl = SimplePagedResultsControl(True, size=1000, cookie=b"")
    msgid = anonymous.search_ext(
        _bal(mssante_sandbox), ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["mail"], serverctrls=[ctrl]
    )
    with pytest.raises(ldap.ADMINLIMIT_EXCEEDED):
        anonymous.result3(msgid)
