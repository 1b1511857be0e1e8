"""Pure FHIR mapping: query → searches, Bundle → entries (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from fhir_server import load_examples

from mssante_client.directory.fhir_mapping import (
    ID_NAT_PS_SYSTEM,
    PROFESSION_SYSTEM,
    SPECIALTY_SYSTEM,
    entries_from_bundle,
    mailboxes_of,
    next_link,
    operation_outcome_text,
    plan_searches,
)
from mssante_client.directory.models import Organisation, Professional
from mssante_client.directory.query import DirectoryQuery
from mssante_client.identity import MailboxType, luhn_check_digit

EXAMPLES = {r["id"]: r for r in load_examples()}


def _bundle(*resources: dict[str, Any], include: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in include]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def test_plan_for_professional_criteria_uses_practitioner_and_role_with_chaining() -> None:
    body = "1999999999"
    rpps = body + str(luhn_check_digit(body))
    query = DirectoryQuery(
        family_name="Dupont", given_name="Jean", rpps=rpps, profession="10", specialty="SM54",
        city="Paris",
    )  # fmt: skip
    practitioner, role = plan_searches(query, count=20)
    assert practitioner.resource == "Practitioner"
    params = dict(practitioner.params)
    assert params["identifier"] == f"{ID_NAT_PS_SYSTEM}|8{rpps}"
    assert params["family"] == "dupont" and params["given"] == "jean"
    assert params["mailbox-mss:contains"] == "@"
    assert params["_count"] == "20"
    assert params["_revinclude"] == "PractitionerRole:practitioner"
    codes = [v for k, v in practitioner.params if k == "qualification-code"]
    assert codes == [f"{PROFESSION_SYSTEM}|10", f"{SPECIALTY_SYSTEM}|SM54"]
    assert "address-city" not in params  # Practitioner has no place: filtered client side
    assert role.resource == "PractitionerRole"
    role_params = dict(role.params)
    assert role_params["practitioner.family"] == "dupont"
    assert role_params["organization.address-city"] == "paris"
    assert ("_include", "PractitionerRole:organization") in role.params


@pytest.mark.parametrize(
    ("criteria", "resources"),
    [
        ({"mailbox_type": "ORG"}, ["Organization"]),
        ({"mailbox_type": "APP", "city": "Bourges"}, ["Organization"]),
        ({"mailbox_type": "PER"}, ["Practitioner", "PractitionerRole"]),
        ({"family_name": "x"}, ["Practitioner", "PractitionerRole"]),
        ({"family_name": "x", "mailbox_type": "ORG"}, []),
        ({"city": "Paris"}, ["PractitionerRole", "Organization"]),
        ({"organisation": "cabinet"}, ["PractitionerRole", "Organization"]),
        ({"text": "dupont"}, ["Practitioner", "PractitionerRole", "Organization"]),
        ({}, ["Practitioner", "PractitionerRole", "Organization"]),
    ],
)
def test_plan_skips_legs_that_cannot_match(criteria: dict[str, str], resources: list[str]) -> None:
    assert [s.resource for s in plan_searches(DirectoryQuery(**criteria))] == resources


def test_server_gets_one_word_so_its_answer_is_a_superset() -> None:
    [practitioner, role] = plan_searches(
        DirectoryQuery(family_name="Saint-M", city="Saint Étienne")
    )
    assert dict(practitioner.params)["family"] == "saint"
    assert dict(role.params)["organization.address-city"] == "saint"
    [search] = plan_searches(DirectoryQuery(mailbox_type="ORG", organisation="ch de l'hôpital"))
    assert dict(search.params)["name:contains"] == "hopital"


def test_plan_for_organisations() -> None:
    [search] = plan_searches(
        DirectoryQuery(mailbox_type="ORG", organisation="hôpital", department="2A"), count=500
    )
    params = dict(search.params)
    assert params["name:contains"] == "hopital"
    assert params["address-postalcode"] == "20"  # 2A and 2B both start with 20
    assert params["_count"] == "50"  # the gateway's maximum


def test_practitioner_example_maps_names_and_mailbox() -> None:
    [entry] = entries_from_bundle(_bundle(EXAMPLES["mss-practitioner-bal-per-dupont"]))
    assert isinstance(entry, Professional)
    assert entry.family_name == "DUPONT" and entry.given_name == "Jean-Marie"
    [mailbox] = entry.mailboxes
    assert str(mailbox.address) == "jean-marie.dupont@infirmier.mssante.fr"
    assert mailbox.type is MailboxType.PER
    assert (
        entry.source == "fhir" and entry.source_id == "Practitioner/mss-practitioner-bal-per-dupont"
    )
    # the official example's identifier fails the Luhn check: it is dropped, not trusted
    assert entry.id_nat_ps is None


def test_role_with_included_practitioner_and_organisation() -> None:
    role = EXAMPLES["1738459DP"]
    bundle = _bundle(role, include=(EXAMPLES["334081DP"], EXAMPLES["548812DP"]))
    [entry] = entries_from_bundle(bundle)
    assert isinstance(entry, Professional)
    assert (entry.family_name, entry.given_name, entry.civility) == ("Saucier", "Arthur", "M")
    assert str(entry.mailboxes[0].address) == "arthur.saucier@cabinet-saint-antoine.mssante.fr"
    assert entry.profession is not None and entry.profession.code == "10"
    assert entry.profession.label == "Médecin"
    assert entry.specialty is not None and entry.specialty.code == "SM54"
    assert entry.organisation_name == "CABINET SAINT ANTOINE"
    assert str(entry.id_nat_struct) == "410005531586003"
    assert [(a.city, a.postal_code, a.department) for a in entry.addresses] == [
        ("PARIS", "75012", "75")
    ]


def test_practitioner_with_revincluded_role_takes_its_organisation() -> None:
    bundle = _bundle(EXAMPLES["334081DP"], include=(EXAMPLES["1738459DP"], EXAMPLES["548812DP"]))
    [entry] = entries_from_bundle(bundle)
    assert isinstance(entry, Professional)
    # the emailType MSSANTE extension alone marks a BAL (type unknown without the metadata)
    assert str(entry.mailboxes[0].address) == "jeromebonnet@pro.mssante.fr"
    assert entry.mailboxes[0].type is None
    assert str(entry.rpps) == "10003461033" if entry.rpps else entry.rpps is None
    assert entry.organisation_name == "CABINET SAINT ANTOINE"


def test_organisation_mailboxes_plain_email_and_liste_rouge_left_out() -> None:
    mailboxes = mailboxes_of(EXAMPLES["example-organization-fictive"])
    assert [(str(m.address), m.type) for m in mailboxes] == [
        ("dpi@hopital-fictif.mssante.fr", MailboxType.APP),
        ("urgences@hopital-fictif.mssante.fr", MailboxType.ORG),
    ]
    assert mailboxes[0].description == "DPI - envoi automatique des CR"
    assert mailboxes[1].service == "Urgences"
    [entry] = entries_from_bundle(_bundle(EXAMPLES["example-organization-fictive"]))
    assert isinstance(entry, Organisation)
    assert entry.organisation_name == "Hôpital fictif"
    assert entry.addresses[0].city == "BOURGES" and entry.addresses[0].department == "18"


def test_type_filter_keeps_only_matching_mailboxes_and_liste_rouge_entries_vanish() -> None:
    bundle = _bundle(
        EXAMPLES["example-organization-fictive"], EXAMPLES["mss-practitioner-liste-rouge"]
    )
    [entry] = entries_from_bundle(bundle, DirectoryQuery(mailbox_type="APP"))
    assert [m.type for m in entry.mailboxes] == [MailboxType.APP]
    assert entries_from_bundle(bundle, DirectoryQuery(mailbox_type="CAB")) == []
    assert entries_from_bundle(bundle, DirectoryQuery(family_name="dupontel")) == []


def test_client_side_filter_applies_the_reference_semantics() -> None:
    bundle = _bundle(
        EXAMPLES["mss-practitioner-bal-per-dupont"], EXAMPLES["mss-practitioner-bal-per-martin"]
    )
    found = entries_from_bundle(bundle, DirectoryQuery(given_name="jean marie"))
    assert [e.family_name for e in found if isinstance(e, Professional)] == ["DUPONT"]


def test_next_link_and_operation_outcome() -> None:
    assert (
        next_link({"link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}]})
        == "b"
    )
    assert next_link({"link": [{"relation": "self", "url": "a"}]}) is None
    text = operation_outcome_text(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "diagnostics": "Unknown  search\nparameter"},
                {"severity": "error", "details": {"text": "second"}},
            ],
        }
    )
    assert text == "Unknown search parameter; second"
    assert operation_outcome_text({"resourceType": "Bundle"}) == ""
    assert len(operation_outcome_text({"resourceType": "OperationOutcome",
                                       "issue": [{"diagnostics": "x" * 1000}]})) == 300  # fmt: skip
