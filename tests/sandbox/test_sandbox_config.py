"""Configuration rendering and the liste blanche document (pure, no daemon)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from mssante_client.errors import SandboxError
from mssante_client.identity import INS, MailboxType, MSSanteAddress
from mssante_client.sandbox import SandboxAccount, SandboxPorts
from mssante_client.sandbox import accounts as acc
from mssante_client.sandbox.config import render, render_all
from mssante_client.sandbox.layout import SandboxLayout
from mssante_client.sandbox.whitelist import NAMESPACE, build_whitelist, sandbox_domains


def _accounts() -> list[SandboxAccount]:
    return [
        SandboxAccount(
            address=a.address,
            mailbox_type=a.mailbox_type,
            display_name=a.display_name,
            password="pw",
            cert_file=Path("/x.crt") if a.cert else None,
            can_act_as=list(a.can_act_as),
            is_patient=a.is_patient,
        )
        for a in acc.ACCOUNT_SPECS
    ]


def test_everything_renders_without_placeholders() -> None:
    layout = SandboxLayout(Path("/srv/sbx"))
    files = render_all(
        layout,
        SandboxPorts.from_base(30000),
        _accounts(),
        ldap_admin_dn="cn=admin",
        ldap_admin_password="secret",
        instance_name="t",
    )
    by_name = {f.path.name: f for f in files}
    assert all("@@" not in f.content for f in files)
    dovecot = by_name["dovecot.conf"].content
    assert "port = 30143" in dovecot and "port = 30993" in dovecot
    assert "listen = 127.0.0.1, 127.0.0.2" in dovecot
    main = by_name["main.cf"].content
    assert "jean.dupont@medecin.mssante.test=ok" in main and "@hopital.mssante.test=ok" in main
    assert "dpi.cardio@hopital.mssante.test=ok" not in main  # hopital is a catch-all
    assert "127.0.0.1:30025" in by_name["master.cf"].content
    assert by_name["slapd.conf"].mode == 0o600 and "rootpw secret" in by_name["slapd.conf"].content
    delegation = by_name["secretariat.cardio@hopital.mssante.test"]
    assert delegation.content == "dpi.cardio@hopital.mssante.test::::::\n"
    assert by_name["users"].mode == 0o640 and by_name["users"].group == "dovecot"


def test_missing_template_value_is_an_error() -> None:
    with pytest.raises(SandboxError, match="no value"):
        render("oauth2.conf.ext", {})


def test_patient_account_is_a_valid_test_ins() -> None:
    patient = next(a for a in acc.ACCOUNT_SPECS if a.is_patient)
    local, domain = patient.address.split("@")
    ins = INS(local, oid=INS.OID_TEST_NIR, qualified=True)
    assert ins.is_test and domain == "patient.mssante.test"
    assert int(local[13:]) == 97 - int(local[:13]) % 97
    assert patient.mailbox_type is MailboxType.PER


def test_port_layout() -> None:
    ports = SandboxPorts.from_base(10000)
    assert (ports.imap, ports.imaps, ports.submission, ports.submissions) == (
        10143,
        10993,
        10587,
        10465,
    )
    assert (ports.lmtp, ports.smtp_internal, ports.ldap, ports.ldaps, ports.whitelist) == (
        10024,
        10025,
        10389,
        10636,
        10443,
    )
    with pytest.raises(SandboxError):
        SandboxPorts.from_base(80)


def test_whitelist_document_shape() -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    root = etree.fromstring(build_whitelist(sandbox_domains(now), now))
    ns = {"lb": NAMESPACE}
    assert root.tag == f"{{{NAMESPACE}}}ListeBlanche"
    assert root.findtext("lb:DateDeGeneration", namespaces=ns) == "2026-01-02T03:04:05+00:00"
    first = root.find("lb:Domaine", ns)
    assert first is not None
    assert [child.tag.split("}")[1] for child in first] == [
        "Nom",
        "Description",
        "DNCertificatOperateur",
        "ResponsableContact",
        "SupportContact",
        "DateMAJ",
    ]
    assert "ST=Paris (75)" in (first.findtext("lb:DNCertificatOperateur", namespaces=ns) or "")


def test_reprs_hide_passwords_and_the_patient_ins() -> None:
    patient = next(a for a in _accounts() if a.is_patient)
    doctor = next(a for a in _accounts() if not a.is_patient)
    patient = patient.model_copy(update={"password": "s3cr3t-pw", "p12_password": "p12-pw"})
    text = repr(patient) + repr(doctor.model_copy(update={"password": "s3cr3t-pw"}))
    assert "s3cr3t-pw" not in text and "p12-pw" not in text
    assert patient.address.split("@")[0] not in text
    assert "***@patient.mssante.test" in text
    assert doctor.address in text
    assert patient.model_dump()["password"] == "s3cr3t-pw"  # still in the JSON document


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil
    import tempfile

    from mssante_client.sandbox import default_root

    monkeypatch.setenv("MSSANTE_SANDBOX_ROOT", str(tmp_path / "explicit"))
    assert default_root() == tmp_path / "explicit"
    monkeypatch.delenv("MSSANTE_SANDBOX_ROOT")
    open_home = Path(tempfile.mkdtemp(prefix="mssante-home-"))  # /tmp: traversable parents
    open_home.chmod(0o755)
    monkeypatch.setenv("HOME", str(open_home))
    try:
        assert default_root() == open_home / ".cache" / "mssante" / "sandbox"
    finally:
        shutil.rmtree(open_home)
    private_home = tmp_path / "private"
    private_home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(private_home))
    fallback = default_root()
    assert not fallback.is_relative_to(private_home)  # workers could not reach it
    assert fallback.name.startswith("mssante-sandbox-")


def test_unknown_account_is_a_sandbox_error() -> None:
    from mssante_client.sandbox import SandboxInfo

    info = SandboxInfo.model_construct(accounts=_accounts())
    assert info.account("JEAN.DUPONT@medecin.mssante.test").address == acc.JEAN
    assert info.account(MSSanteAddress(acc.DPI)).address == acc.DPI
    with pytest.raises(SandboxError, match="no sandbox account"):
        info.account("nobody@medecin.mssante.test")
