"""Liste blanche: parsing (pure), is_trusted, and fetching from the sandbox's HTTPS server
(verification, cache, max_age, conditional GET / 304, new publication, refused send)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest

from mssante_client.directory.whitelist import NAMESPACE, Whitelist
from mssante_client.errors import (
    CertificateVerificationError,
    ConnectError,
    UntrustedDomainError,
    XMLError,
)
from mssante_client.identity import INS
from mssante_client.sandbox import SandboxInfo

SAMPLE = f"""<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche xmlns="{NAMESPACE}">
  <DateDeGeneration>2026-03-01T04:00:00+01:00</DateDeGeneration>
  <Domaine>
    <Nom>Medecin.MSSante.fr</Nom>
    <Description>Opérateur des médecins</Description>
    <DNCertificatOperateur>CN=mx,OU=0002 1234,O=OP,ST=Paris (75),C=FR</DNCertificatOperateur>
    <ResponsableContact>resp@medecin.mssante.fr</ResponsableContact>
    <SupportContact>support@medecin.mssante.fr</SupportContact>
    <DateMAJ>2025-12-24</DateMAJ>
  </Domaine>
  <Domaine><Nom>patient.mssante.fr</Nom></Domaine>
  <Domaine><Nom>ch-exemple.mssante.fr</Nom><DateMAJ>n/a</DateMAJ></Domaine>
</ListeBlanche>
""".encode()


def test_parse() -> None:
    wl = Whitelist.parse(SAMPLE)
    assert len(wl) == 3
    assert wl.generated_at == dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    d = wl.domains["medecin.mssante.fr"]
    assert d.description == "Opérateur des médecins"
    assert d.operator_certificate_dn is not None and "ST=Paris (75)" in d.operator_certificate_dn
    assert d.support_contact == "support@medecin.mssante.fr"
    assert d.updated_at == dt.datetime(2025, 12, 24, tzinfo=dt.UTC)
    assert wl.domains["ch-exemple.mssante.fr"].updated_at is None  # unreadable date ignored


def test_is_trusted_is_an_exact_domain_match() -> None:
    wl = Whitelist.parse(SAMPLE)
    assert wl.is_trusted("jean.dupont@medecin.mssante.fr")
    assert wl.is_trusted("Jean.Dupont@MEDECIN.mssante.fr")
    assert not wl.is_trusted("x@sous.medecin.mssante.fr")
    assert not wl.is_trusted("x@mssante.fr")
    assert not wl.is_trusted("x@gmail.com")
    assert not wl.is_trusted("not an address")
    patient = INS.from_matricule("2850275123456", qualified=True).patient_address()
    assert wl.is_trusted(patient)  # through patient.mssante.fr
    assert "medecin.mssante.fr" in wl and "gmail.com" not in wl


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"<ListeBlanche", "well-formed"),
        (b"<ListeBlanche xmlns='urn:other'><Domaine/></ListeBlanche>", "namespace"),
        (f"<L xmlns='{NAMESPACE}'><Domaine><Description>x</Description></Domaine></L>", "Nom"),
        (f"<L xmlns='{NAMESPACE}'><DateDeGeneration/></L>", "no Domaine"),
        (
            f"""<?xml version="1.0"?><!DOCTYPE L [<!ENTITY a "aaaaaaaaaa">
            <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
            <L xmlns='{NAMESPACE}'><Domaine><Nom>&b;</Nom></Domaine></L>""",
            "DOCTYPE",
        ),
        (
            f"""<?xml version="1.0"?><!DOCTYPE L [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <L xmlns='{NAMESPACE}'><Domaine><Nom>&x;</Nom></Domaine></L>""",
            "DOCTYPE",
        ),
    ],
)
def test_malformed_or_hostile_xml(data: bytes | str, match: str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(XMLError, match=match):
        Whitelist.parse(raw)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(XMLError):
        Whitelist.load(tmp_path / "absent.xml")


def test_fetch_refuses_plain_http(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="https"):
        Whitelist.fetch("http://127.0.0.1:1/list.xml", cache_dir=tmp_path)


# --- live: the sandbox's HTTPS server -----------------------------------------------------


@pytest.mark.sandbox
def test_fetch_cache_and_conditional_get(sandbox: SandboxInfo, tmp_path: Path) -> None:
    t0 = dt.datetime.now(dt.UTC)
    url, ca = sandbox.whitelist_url, sandbox.ca_file
    first = Whitelist.fetch(url, ca_file=ca, cache_dir=tmp_path, now=t0)
    assert not first.from_cache and not first.not_modified
    assert set(sandbox.operator_domains) <= set(first.domains)
    assert first.is_trusted("jean.dupont@medecin.mssante.test")
    assert first.etag and first.last_modified
    assert first.age(t0) == dt.timedelta(0)

    # younger than max_age: no request at all, and the age of the copy is known
    later = t0 + dt.timedelta(hours=3)
    cached = Whitelist.fetch(url, ca_file=ca, cache_dir=tmp_path, now=later)
    assert cached.from_cache and not cached.not_modified
    assert cached.age(later) == dt.timedelta(hours=3)
    assert set(cached.domains) == set(first.domains)

    # older than max_age: conditional GET, the server answers 304, the age restarts
    next_day = t0 + dt.timedelta(days=2)
    revalidated = Whitelist.fetch(url, ca_file=ca, cache_dir=tmp_path, now=next_day)
    assert revalidated.not_modified and not revalidated.from_cache
    assert revalidated.age(next_day) == dt.timedelta(0)
    assert set(revalidated.domains) == set(first.domains)


@pytest.mark.sandbox
def test_new_publication_replaces_the_cache(sandbox: SandboxInfo, tmp_path: Path) -> None:
    url, ca = sandbox.whitelist_url, sandbox.ca_file
    assert Whitelist.fetch(url, ca_file=ca, cache_dir=tmp_path).etag
    published = sandbox.whitelist_file.read_bytes()
    extra = f"nouveau-{uuid.uuid4().hex[:8]}.mssante.test"
    new = published.replace(
        b"</ListeBlanche>",
        f"<Domaine><Nom>{extra}</Nom></Domaine></ListeBlanche>".encode(),
    )
    try:
        sandbox.whitelist_file.write_bytes(new)
        fresh = Whitelist.fetch(url, ca_file=ca, cache_dir=tmp_path, max_age=dt.timedelta(0))
        assert not fresh.not_modified
        assert fresh.is_trusted(f"x@{extra}")
    finally:
        sandbox.whitelist_file.write_bytes(published)


@pytest.mark.sandbox
def test_fetch_verifies_the_server_certificate(sandbox: SandboxInfo, tmp_path: Path) -> None:
    # default trust anchor: IGC-Santé only; the sandbox's test CA is not trusted
    with pytest.raises(CertificateVerificationError):
        Whitelist.fetch(sandbox.whitelist_url, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.xml"))


@pytest.mark.sandbox
def test_unreachable_server_falls_back_to_a_stale_copy(
    sandbox: SandboxInfo, tmp_path: Path
) -> None:
    good = Whitelist.fetch(sandbox.whitelist_url, ca_file=sandbox.ca_file, cache_dir=tmp_path)
    # same cache key as a dead URL: copy the cache files under that URL's key
    dead = "https://127.0.0.1:9/listeblanchemssante.xml"
    with pytest.raises(ConnectError):
        Whitelist.fetch(dead, ca_file=sandbox.ca_file, cache_dir=tmp_path / "empty", timeout=3)
    from mssante_client.directory.whitelist import _Cache

    src, dst = _Cache(tmp_path, sandbox.whitelist_url), _Cache(tmp_path, dead)
    dst.list_file.write_bytes(src.list_file.read_bytes())
    dst.meta_file.write_bytes(src.meta_file.read_bytes())
    stale = Whitelist.fetch(
        dead, ca_file=sandbox.ca_file, cache_dir=tmp_path, max_age=dt.timedelta(0), timeout=3
    )
    assert stale.stale and set(stale.domains) == set(good.domains)


# --- the liste blanche as the Mailbox's trust policy ----------------------------------------


@pytest.mark.sandbox
def test_mailbox_refuses_an_untrusted_domain_and_delivers_nothing(
    sandbox: SandboxInfo, tmp_path: Path
) -> None:
    from mssante_client.mail.credentials import Password
    from mssante_client.mail.mailbox import Mailbox
    from mssante_client.mail.message import Message, Sender

    jean = "jean.dupont@medecin.mssante.test"
    helene = "helene.lefebvre@medecin.mssante.test"
    secretariat = "secretariat.cardio@hopital.mssante.test"
    # the sandbox's own list trusts every sandbox domain; a list without hopital.mssante.test:
    published = Whitelist.fetch(sandbox.whitelist_url, ca_file=sandbox.ca_file, cache_dir=tmp_path)
    assert published.is_trusted(secretariat)
    without_hopital = Whitelist(
        {k: v for k, v in published.domains.items() if k != "hopital.mssante.test"},
        published.generated_at,
    )

    def mailbox(address: str, policy: Whitelist | None) -> Mailbox:
        password = sandbox.account(address).password
        assert password is not None
        return Mailbox(
            address,
            Password(password),
            host=sandbox.host,
            smtp_port=sandbox.submission_port,
            imap_port=sandbox.imap_port,
            ca_file=sandbox.ca_file,
            nil="DEV000001",
            trust_policy=policy,
            timeout=15,
        )

    def message(to: list[str], subject: str) -> Message:
        return Message(
            sender=Sender.entity(jean, "Dr Jean DUPONT"), to=to, subject=subject, body="Bonjour"
        )

    refused = f"refused {uuid.uuid4().hex[:10]}"
    with mailbox(jean, without_hopital) as sender:
        with pytest.raises(UntrustedDomainError):
            sender.send(message([secretariat], refused))
        with pytest.raises(UntrustedDomainError):  # one untrusted recipient stops everything
            sender.send(message([helene, secretariat], refused))
        with pytest.raises(UntrustedDomainError):
            mailbox(jean, published).send(message(["x@autre-operateur.test"], refused))
    # canary on the same path, without policy: once it is there, the refused ones would be too
    canary = f"canary {uuid.uuid4().hex[:10]}"
    with mailbox(jean, None) as sender:
        sender.send(message([secretariat, helene], canary))
    for address in (secretariat, helene):
        with mailbox(address, None) as box:
            deadline = time.monotonic() + 30
            subjects: list[str] = []
            while canary not in subjects:
                assert time.monotonic() < deadline, "canary not delivered"
                subjects = [str(e.subject) for e in box.envelopes().envelopes]
                time.sleep(0.2)
            assert refused not in subjects


@pytest.mark.sandbox
def test_http_error_status(sandbox: SandboxInfo, tmp_path: Path) -> None:
    from mssante_client.errors import HTTPStatusError

    url = sandbox.whitelist_url.replace("listeblanchemssante.xml", "absent.xml")
    with pytest.raises(HTTPStatusError) as info:
        Whitelist.fetch(url, ca_file=sandbox.ca_file, cache_dir=tmp_path)
    assert info.value.status_code == 404
