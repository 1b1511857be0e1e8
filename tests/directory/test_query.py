"""The query model: validation into QueryError and the reference matching semantics."""

from __future__ import annotations

from typing import Any

import pytest

from mssante_client.directory import (
    CodedConcept,
    DirectoryMailbox,
    DirectoryQuery,
    Organisation,
    PostalAddress,
    Professional,
)
from mssante_client.directory.models import department_of
from mssante_client.errors import QueryError
from mssante_client.identity import (
    FINESS,
    RPPS,
    IdNatPS,
    MailboxType,
    generate_finess,
    generate_rpps,
)

RPPS_1, RPPS_2 = (str(r) for r in generate_rpps(2, seed=5))
FINESS_1 = str(next(generate_finess(1, seed=3, department="69")))

HELENE = Professional(
    family_name="LEFÈBVRE",
    given_name="Hélène",
    rpps=RPPS_1,
    id_nat_ps="8" + RPPS_1,
    profession=CodedConcept.profession("60"),
    mailboxes=[DirectoryMailbox(address="helene.lefebvre@medecin.mssante.fr", type="PER")],
    addresses=[PostalAddress(city="SAINT-ÉTIENNE", postal_code="42000")],
)
JEAN = Professional(
    family_name="DUPONT",
    given_name="Jean",
    rpps=RPPS_2,
    profession=CodedConcept.profession("10"),
    specialty=CodedConcept.specialty("SM26"),
    mailboxes=[DirectoryMailbox(address="jean.dupont@medecin.mssante.fr", type="PER")],
    addresses=[PostalAddress(city="PARIS", postal_code="75015")],
)
SECRETARIAT = Organisation(
    name="Secrétariat cardiologie",
    organisation_name="CH TEST DE LYON",
    finess=FINESS_1,
    mailboxes=[
        DirectoryMailbox(
            address="secretariat.cardio@hopital.mssante.fr", type="ORG", service="cardiologie"
        )
    ],
    addresses=[PostalAddress(city="LYON", postal_code="69003")],
)
ALL = [HELENE, JEAN, SECRETARIAT]


def names(query: DirectoryQuery) -> list[str]:
    return [e.display_name for e in query.filter(ALL)]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ["Hélène LEFÈBVRE", "Jean DUPONT", "Secrétariat cardiologie"]),
        ({"family_name": "lefebvre"}, ["Hélène LEFÈBVRE"]),
        ({"family_name": "LEF", "given_name": "helene"}, ["Hélène LEFÈBVRE"]),
        ({"family_name": "efebvre"}, []),
        ({"rpps": RPPS_2}, ["Jean DUPONT"]),
        ({"id_nat_ps": "8" + RPPS_2}, ["Jean DUPONT"]),  # derived from the RPPS
        ({"profession": "G15_10"}, ["Jean DUPONT"]),
        ({"specialty": "sm26"}, ["Jean DUPONT"]),
        ({"organisation": "ch test"}, ["Secrétariat cardiologie"]),
        ({"finess": FINESS_1}, ["Secrétariat cardiologie"]),
        ({"city": "saint etienne"}, ["Hélène LEFÈBVRE"]),
        ({"postal_code": "75015"}, ["Jean DUPONT"]),
        ({"department": "69"}, ["Secrétariat cardiologie"]),
        ({"mailbox_type": "ORGANISATIONNELLE"}, ["Secrétariat cardiologie"]),
        ({"mailbox_type": MailboxType.PER, "city": "paris"}, ["Jean DUPONT"]),
        ({"text": "cardio lyon"}, ["Secrétariat cardiologie"]),
        ({"text": "infirmier"}, ["Hélène LEFÈBVRE"]),
        ({"family_name": "*"}, []),
        ({"text": "*"}, []),
        ({"family_name": "DUP*"}, []),
    ],
)
def test_matches(criteria: dict[str, Any], expected: list[str]) -> None:
    assert names(DirectoryQuery(**criteria)) == expected


def test_identifiers_are_typed() -> None:
    q = DirectoryQuery(rpps=RPPS_1, finess=FINESS_1)
    assert q.rpps == RPPS(RPPS_1)
    assert q.finess == FINESS(FINESS_1)
    assert HELENE.id_nat_ps == IdNatPS("8" + RPPS_1)


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"rpps": "12345"}, "rpps"),
        ({"finess": "123456789"}, "finess"),
        ({"postal_code": "7501"}, "postal_code"),
        ({"postal_code": "٧٥٠١٥"}, "postal_code"),  # Arabic-Indic digits are not a French code
        ({"department": "٧٥"}, "department"),
        ({"department": "99"}, "department"),
        ({"mailbox_type": "PERSO"}, "mailbox_type"),
        ({"family_name": "   "}, "family_name"),
        ({"family_name": "x" * 201}, "family_name"),
        ({"profession": "10;DROP"}, "profession"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 5000}, "page_size"),
        ({"limit": 0}, "limit"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_criteria_raise_query_error(criteria: dict[str, Any], field: str) -> None:
    with pytest.raises(QueryError) as info:
        DirectoryQuery(**criteria)
    assert info.value.field == field


def test_fingerprint_ignores_paging_but_not_criteria() -> None:
    a = DirectoryQuery(city="PARIS", page_size=10)
    assert a.fingerprint() == DirectoryQuery(city="PARIS", page_size=20).fingerprint()
    assert a.fingerprint() != DirectoryQuery(city="LYON").fingerprint()
    assert DirectoryQuery().is_empty
    assert DirectoryQuery(city="PARIS").criteria == {"city": "PARIS"}


@pytest.mark.parametrize(
    ("postal_code", "department"),
    [
        ("75015", "75"),
        ("97411", "974"),
        ("20000", "2A"),
        ("20200", "2B"),
        ("7501", None),
        ("2020²", None),
    ],
)
def test_department_of(postal_code: str, department: str | None) -> None:
    assert department_of(postal_code) == department


def test_code_labels_come_from_the_kit_tables() -> None:
    assert CodedConcept.profession("10").label == "Médecin"
    assert CodedConcept.specialty("SM26").label is not None
    assert CodedConcept.profession("10", "Docteur").label == "Docteur"
