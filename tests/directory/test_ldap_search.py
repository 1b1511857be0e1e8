"""LDAP backend against the sandbox's real slapd (≥ 10,000 entries): every criterion alone and
combined, paging past the server's size limit, cursors, and filter injection."""

from __future__ import annotations

from typing import Any

import pytest
from directory_support import Oracle, mails

import mssante_client.directory.ldap as ldap_backend
from mssante_client.directory import Directory, DirectoryQuery, Organisation, Professional
from mssante_client.identity import MailboxType

pytestmark = pytest.mark.sandbox


def check(directory: Directory, oracle: Oracle, **criteria: Any) -> set[str]:
    expected = oracle.expected(**criteria)
    got = mails(directory.iter_search(page_size=500, **criteria))
    assert len(got) == len(set(got)), "duplicates across pages"
    assert set(got) == expected
    return expected


def test_seed_is_large(oracle: Oracle) -> None:
    assert len(oracle.all) >= 10_000


@pytest.mark.parametrize(
    "criteria",
    [
        {"family_name": "lefebvre"},  # stored LEFÈBVRE: accents folded
        {"family_name": "Lefè"},
        {"family_name": "chateau"},
        {"family_name": "n diaye"},
        {"given_name": "helene"},
        {"given_name": "ZOE"},
        {"profession": "60"},
        {"specialty": "SM04"},
        {"organisation": "clinique"},
        {"organisation": "centre de sante"},
        {"city": "saint etienne"},
        {"city": "Nîmes"},
        {"postal_code": "69003"},
        {"department": "2A"},
        {"department": "75"},
        {"mailbox_type": "PER"},
        {"mailbox_type": "ORG"},
        {"mailbox_type": "APP"},
        {"mailbox_type": "CAB"},
        {"text": "cardiologie lyon"},
        {"text": "pediatrie"},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_each_criterion_alone(
    ldap_directory: Directory, oracle: Oracle, criteria: dict[str, str]
) -> None:
    assert check(ldap_directory, oracle, **criteria), "criterion selects nothing in the seed"


def test_identifiers(ldap_directory: Directory, oracle: Oracle) -> None:
    person = oracle.first(mssTypeBAL="PER", mssADELI=...)
    assert check(ldap_directory, oracle, rpps=person["mssRPPS"]) == {person["mail"]}
    assert check(ldap_directory, oracle, id_nat_ps=person["mssIdNatPS"]) == {person["mail"]}
    assert person["mail"] in check(ldap_directory, oracle, adeli=person["mssADELI"])
    structure = oracle.first(mssTypeBAL="ORG", mssFINESS=...)
    assert structure["mail"] in check(ldap_directory, oracle, finess=structure["mssFINESS"])


def test_fixed_entries_are_typed(ldap_directory: Directory) -> None:
    (jean,) = ldap_directory.search(rpps="10001234565").results
    assert isinstance(jean, Professional)
    assert (jean.family_name, jean.given_name) == ("DUPONT", "Jean")
    assert str(jean.id_nat_ps) == "810001234565"
    assert jean.profession is not None and jean.profession.label == "Médecin"
    assert jean.specialty is not None and jean.specialty.code == "SM26"
    assert jean.addresses[0].postal_code == "75015" and jean.addresses[0].department == "75"
    assert jean.mailboxes[0].type is MailboxType.PER
    page = ldap_directory.search(organisation="ch test", mailbox_type="APP", city="lyon")
    dpi = next(e for e in page.results if "dpi.cardio" in str(e.mailboxes[0].address))
    assert isinstance(dpi, Organisation)
    assert dpi.organisation_name == "CH TEST" and str(dpi.finess) == "690999990"
    assert dpi.mailboxes[0].service == "cardiologie"


@pytest.mark.parametrize(
    "criteria",
    [
        {"family_name": "dup", "city": "paris"},
        {"family_name": "le", "given_name": "é", "department": "69"},
        {"profession": "10", "specialty": "SM26", "mailbox_type": "PER", "department": "13"},
        {"organisation": "ch test", "mailbox_type": "APP"},
        {"profession": "60", "postal_code": "42000"},
        {"text": "secretariat", "city": "lyon", "mailbox_type": "ORG"},
        {"given_name": "anne", "text": "masseur"},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_combined_criteria(
    ldap_directory: Directory, oracle: Oracle, criteria: dict[str, str]
) -> None:
    assert check(ldap_directory, oracle, **criteria)


def test_paging_past_the_server_size_limit(ldap_directory: Directory, oracle: Oracle) -> None:
    expected = oracle.expected(mailbox_type="PER")
    assert len(expected) > 5 * 500  # slapd: sizelimit 500 per search
    pages = list(ldap_directory.iter_pages(mailbox_type="PER", page_size=1000))
    assert all(len(p.results) == 1000 for p in pages[:-1])
    got = [m for p in pages for m in mails(p.results)]
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == expected


def test_each_entry_is_mapped_once_across_pages(
    ldap_directory: Directory, oracle: Oracle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry that tells a full page there is a next one is not mapped (nor logged) twice."""
    mapped: list[str] = []
    real = ldap_backend.entry_to_model

    def counting(dn: str, entry: Any, mapping: Any) -> Any:
        mapped.append(dn)
        return real(dn, entry, mapping)

    monkeypatch.setattr(ldap_backend, "entry_to_model", counting)
    got = mails(ldap_directory.iter_search(mailbox_type="PER", page_size=300))
    assert set(got) == oracle.expected(mailbox_type="PER")
    assert len(mapped) == len(set(mapped)) == len(got)


def test_empty_query_walks_every_published_mailbox(
    ldap_directory: Directory, oracle: Oracle
) -> None:
    got = mails(ldap_directory.iter_search(page_size=1000))
    assert set(got) == {e["mail"] for e in oracle.published}
    assert len(oracle.published) < len(oracle.all)  # liste rouge entries stay hidden


def test_cursor_survives_an_interleaved_search(ldap_directory: Directory, oracle: Oracle) -> None:
    """slapd keeps one paged search per connection: resuming re-runs and skips."""
    q = DirectoryQuery(department="75", page_size=150)
    first = ldap_directory.search(q)
    other = ldap_directory.search(city="lyon", page_size=10)  # takes over the connection
    assert other.results
    got = mails(first.results)
    cursor = first.next_cursor
    while cursor is not None:
        page = ldap_directory.search(q, cursor=cursor)
        got += mails(page.results)
        cursor = page.next_cursor
    assert len(got) == len(set(got))
    assert set(got) == oracle.expected(department="75")


def test_limit(ldap_directory: Directory) -> None:
    got = list(ldap_directory.iter_search(mailbox_type="PER", limit=1234, page_size=500))
    assert len(got) == 1234
    page = ldap_directory.search(mailbox_type="PER", limit=10, page_size=50)
    assert len(page.results) == 10 and page.next_cursor is None


@pytest.mark.parametrize(
    "criteria",
    [
        {"family_name": "*"},
        {"family_name": "DUP*"},
        {"given_name": "*)(objectClass=*"},
        {"family_name": ")("},
        {"family_name": "\\"},
        {"family_name": "\\2a"},
        {"family_name": "a\x00"},
        {"organisation": "*"},
        {"city": "*"},
        {"text": "*"},
        {"text": "*)(|(mail=*"},
    ],
    ids=repr,
)
def test_filter_injection_is_impossible(
    ldap_directory: Directory, criteria: dict[str, str]
) -> None:
    page = ldap_directory.search(page_size=20, **criteria)
    assert page.results == ()
    assert page.next_cursor is None
