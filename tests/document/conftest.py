"""Shared fixtures of the document tests: fictitious but valid header data and a tiny PDF."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mssante_client.document import (
    Encounter,
    HealthProfessional,
    Organization,
    Patient,
    ServiceEvent,
    facility_type,
    practice_setting,
    specialty,
)
from mssante_client.identity import INS, IdNatPS, generate_finess, generate_rpps

REPO = Path(__file__).resolve().parents[2]
PARIS = timezone(timedelta(hours=1))

MINI_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def kit_path() -> Path | None:
    env = os.environ.get("MSSANTE_VALIDATION_KIT")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "validation"]:
        if (candidate / "ansforge-TestContenuCDA-3-0").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def kit() -> Path:
    found = kit_path()
    if found is None:
        pytest.skip("ANS validation kit absent (MSSANTE_VALIDATION_KIT or ../shared/validation)")
    return found


@pytest.fixture
def pdf() -> bytes:
    return MINI_PDF


@pytest.fixture
def patient() -> Patient:
    return Patient(
        ins=INS.from_matricule("2790351215189", oid=INS.OID_TEST_NIR, qualified=True),
        ipp={"root": "1.2.3.4.567.8.9.10", "extension": "1234567890121"},
        birth_family_name="PAT-TROIS",
        given_names=("DOMINIQUE", "MARIE-LOUISE"),
        birth_date=date(1979, 3, 28),
        sex="F",
        birthplace_insee="51215",
    )


@pytest.fixture
def custodian() -> Organization:
    finess = next(generate_finess(1, seed=3))
    return Organization(id=finess.id_nat_struct, name="CH de Test")


@pytest.fixture
def author(custodian: Organization) -> HealthProfessional:
    rpps = next(generate_rpps(1, seed=7))
    return HealthProfessional(
        id=IdNatPS.from_rpps(rpps),
        family_name="DUMAS",
        given_name="Olivier",
        prefix="M",
        suffix="DR",
        specialty=specialty("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
        organization=custodian,
        practice_setting=practice_setting("ETABLISSEMENT", "Établissement de santé"),
    )


@pytest.fixture
def encounter(custodian: Organization) -> Encounter:
    return Encounter(
        facility_type=facility_type("SA01", "Etablissement Public de santé"),
        facility_id=custodian.id,
        facility_name="CH de Test",
        start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
        end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
    )


@pytest.fixture
def service_event() -> ServiceEvent:
    return ServiceEvent(
        start=datetime(2024, 5, 2, 9, 0, tzinfo=PARIS),
        end=datetime(2024, 5, 6, 11, 0, tzinfo=PARIS),
    )


@pytest.fixture
def header(
    patient: Patient,
    author: HealthProfessional,
    custodian: Organization,
    encounter: Encounter,
    service_event: ServiceEvent,
) -> dict[str, object]:
    return {
        "patient": patient,
        "author": author,
        "custodian": custodian,
        "encounter": encounter,
        "service_event": service_event,
        "effective_time": datetime(2024, 5, 6, 12, 30, tzinfo=PARIS),
    }
