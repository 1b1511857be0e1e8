"""Health identifiers: valid and invalid samples, keys, Corsica, OIDs, qualification."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mssante_client import (
    ADELI,
    FINESS,
    INS,
    RPPS,
    SIRET,
    AddressError,
    IdentifierError,
    IdNatPS,
    IdNatStruct,
    InsKind,
    MailboxType,
    MSSanteAddress,
    MssanteError,
)
from mssante_client.identity import generate_finess, generate_rpps, luhn_check_digit, luhn_is_valid


def nir_key(matricule: str) -> int:
    """Independent re-statement of the standard: 97 - (number mod 97), 2A->19, 2B->18."""
    digits = matricule.replace("2A", "19", 1) if matricule[5:7] == "2A" else matricule
    digits = digits.replace("2B", "18", 1) if matricule[5:7] == "2B" else digits
    return 97 - int(digits) % 97


# --- INS -----------------------------------------------------------------------------------


def test_ins_key_of_a_published_example() -> None:
    # worked example of the NIR key: 1 89 12 75 125 012 -> key 82
    assert INS.compute_key("1891275125012") == 82
    ins = INS("189127512501282")
    assert ins.value == "189127512501282"
    assert ins.kind is InsKind.NIR
    assert ins.oid == "1.2.250.1.213.1.4.8"
    assert not ins.is_test
    assert not ins.qualified


@pytest.mark.parametrize("matricule", ["189122A125012", "289032B045123"])
def test_ins_corsica(matricule: str) -> None:
    key = nir_key(matricule)
    ins = INS(f"{matricule}{key:02d}")
    assert ins.value[5:7] in {"2A", "2B"}
    assert INS.compute_key(matricule) == key
    # the same number with 19/18 instead of 2A/2B has the same key, but 20 does not
    swapped = matricule[:5] + ("19" if matricule[5:7] == "2A" else "18") + matricule[7:]
    assert INS.compute_key(swapped) == key
    assert INS.compute_key(matricule[:5] + "20" + matricule[7:]) != key or matricule[5:7] == "2B"


def test_ins_lowercase_corsica_and_spaces_are_normalised() -> None:
    key = nir_key("189122A125012")
    ins = INS(f"1 89 12 2a 125 012 {key:02d}")
    assert ins.value == f"189122A125012{key:02d}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("18912751250128", "15 characters"),
        ("1891275125012820", "15 characters"),
        ("189127512501283", "key"),
        ("18912751250X282", "digits"),
        ("989127512501282", "first character"),
        ("", "15 characters"),
    ],
)
def test_ins_invalid(value: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        INS(value)
    assert info.value.field == "INS"
    assert reason in info.value.reason
    assert isinstance(info.value, MssanteError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("oid", "kind", "test"),
    [
        (INS.OID_NIR, InsKind.NIR, False),
        (INS.OID_NIA, InsKind.NIA, False),
        (INS.OID_TEST_NIR, InsKind.NIR, True),
        (INS.OID_TEST_NIA, InsKind.NIA, True),
    ],
)
def test_ins_oids(oid: str, kind: InsKind, test: bool) -> None:
    ins = INS("189127512501282", oid=oid)
    assert ins.kind is kind
    assert ins.is_test is test


def test_ins_unknown_oid() -> None:
    with pytest.raises(IdentifierError) as info:
        INS("189127512501282", oid="1.2.250.1.213.1.4.2")
    assert info.value.field == "INS.oid"


def test_patient_address_needs_a_qualified_ins() -> None:
    ins = INS("189127512501282", qualified=False)
    with pytest.raises(IdentifierError, match="qualified"):
        ins.patient_address()
    address = ins.with_qualified().patient_address()
    assert str(address) == "189127512501282@patient.mssante.fr"
    assert address.is_patient
    assert address.ins == INS("189127512501282", qualified=True)


def test_ins_repr_is_masked_and_value_object_semantics() -> None:
    ins = INS("189127512501282", qualified=True)
    assert "189127512501282" not in repr(ins)
    assert "12751" not in repr(ins)
    assert str(ins) == "189127512501282"
    assert ins == INS("189127512501282", qualified=True)
    assert ins != INS("189127512501282", qualified=False)
    assert len({ins, INS("189127512501282", qualified=True)}) == 1
    with pytest.raises(AttributeError):
        ins._value = "x"  # type: ignore[misc]


def test_ins_from_matricule() -> None:
    ins = INS.from_matricule("2800275123456", oid=INS.OID_TEST_NIR)
    assert ins.value == "2800275123456" + f"{nir_key('2800275123456'):02d}"
    assert ins.is_test


# --- RPPS / ADELI / IdNatPS -------------------------------------------------------------------


def test_luhn() -> None:
    assert luhn_is_valid("79927398713")  # the textbook Luhn example
    assert not luhn_is_valid("79927398710")
    assert luhn_check_digit("7992739871") == 3
    assert not luhn_is_valid("7")


def _textbook_luhn(body: str) -> int:
    """Independent re-statement: double every second digit from the right, sum digits."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def test_luhn_agrees_with_the_textbook_algorithm() -> None:
    import random

    rng = random.Random(7)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
        assert luhn_check_digit(body) == _textbook_luhn(body), body


@pytest.mark.parametrize("digits", ["", "12a4", "١٢٣", "12²"])
def test_luhn_refuses_what_is_not_ascii_digits(digits: str) -> None:
    with pytest.raises(IdentifierError, match="ASCII digits"):
        luhn_check_digit(digits)
    assert not luhn_is_valid(digits + "0")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (RPPS, "1000123456²"),  # str.isdigit() is True, int() raises
        (RPPS, "١٠٠٠١٢٣٤٥٦٥"),  # Arabic-Indic digits: int() would accept them
        (FINESS, "75000001²"),
        (SIRET, "1234567890123²"),
        (ADELI, "75123456²"),
        (ADELI, "7512345٦٧"),  # regex \d would match these
        (FINESS, "2A000001٠"),
    ],
)
def test_identifiers_refuse_non_ascii_digits_with_a_typed_error(kind: type, value: str) -> None:
    with pytest.raises(IdentifierError):
        kind(value)


def test_ins_refuses_non_ascii_digits() -> None:
    with pytest.raises(IdentifierError):
        INS.compute_key("28002751234５6"[:13])


def test_rpps_valid_and_idnatps() -> None:
    rpps = RPPS("10001234565")
    assert rpps.id_nat_ps == IdNatPS("810001234565")
    assert IdNatPS.from_rpps("10001234565").rpps == rpps
    assert IdNatPS("810001234565").adeli is None
    assert IdNatPS.OID == "1.2.250.1.71.4.2.1"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("10001234567", "Luhn"), ("1000123456", "11 characters"), ("1000123456a", "digits")],
)
def test_rpps_invalid(value: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        RPPS(value)
    assert info.value.field == "RPPS"
    assert reason in info.value.reason


def test_adeli_and_idnatps() -> None:
    adeli = ADELI("751234567")
    assert adeli.id_nat_ps == IdNatPS("0751234567")
    assert IdNatPS("0751234567").adeli == adeli
    assert ADELI("2A1234567").value == "2A1234567"
    with pytest.raises(IdentifierError):
        ADELI("75123456")


@pytest.mark.parametrize("value", ["910001234565", "810001234567", "07512345", ""])
def test_idnatps_invalid(value: str) -> None:
    with pytest.raises(IdentifierError) as info:
        IdNatPS(value)
    assert info.value.field == "IdNatPS"


def test_generated_rpps_are_valid_and_distinct() -> None:
    values = list(generate_rpps(500, seed=3))
    assert len({v.value for v in values}) == 500
    assert all(luhn_is_valid(v.value) for v in values)
    assert [v.value for v in generate_rpps(5, seed=3)] == [v.value for v in values[:5]]


# --- FINESS / SIRET / IdNatStruct ----------------------------------------------------------


def test_finess() -> None:
    body = "75000001"
    finess = FINESS(body + str(luhn_check_digit(body)))
    assert finess.key_verified
    assert finess.id_nat_struct.finess == finess
    corsica = FINESS("2A0000010")
    assert not corsica.key_verified
    with pytest.raises(IdentifierError, match="Luhn"):
        FINESS(body + str((luhn_check_digit(body) + 1) % 10))
    with pytest.raises(IdentifierError, match="9 characters"):
        FINESS("12345")
    assert all(f.key_verified for f in generate_finess(50))


def test_siret_and_idnatstruct() -> None:
    siret = SIRET("732 829 320 00074")
    assert siret.value == "73282932000074"
    assert IdNatStruct("3" + siret.value).siret == siret
    with pytest.raises(IdentifierError, match="Luhn"):
        SIRET("73282932000075")
    practice = IdNatStruct("410001234565")
    assert practice.finess is None and practice.siret is None
    with pytest.raises(IdentifierError) as info:
        IdNatStruct("2123")
    assert info.value.field == "IdNatStruct"
    with pytest.raises(IdentifierError, match="FINESS"):
        IdNatStruct("1123")


# --- addresses and mailbox types -----------------------------------------------------------


def test_address() -> None:
    a = MSSanteAddress("Jean.Dupont@Medecin.MSSante.Test")
    assert str(a) == "Jean.Dupont@medecin.mssante.test"
    assert a.domain == "medecin.mssante.test"
    assert a.local_part == "Jean.Dupont"
    assert not a.is_patient
    assert a.ins is None


@pytest.mark.parametrize(
    "value", ["no-at-sign", "a@b", "x@medecin.mssante.fr\r\nBcc: y@z.fr", "a@@b.fr", "é@b.fr"]
)
def test_address_invalid(value: str) -> None:
    with pytest.raises(AddressError) as info:
        MSSanteAddress(value)
    assert info.value.field == "address"


def test_patient_address_repr_hides_the_ins() -> None:
    a = MSSanteAddress("189127512501282@patient.mssante.fr")
    assert a.is_patient
    assert "189127512501282" not in repr(a)
    assert MSSanteAddress("189127512501282@patient.mssante.test").is_patient


def test_mailbox_type() -> None:
    assert MailboxType.parse("NOMINATIVE") is MailboxType.PER
    assert MailboxType.parse("organisationnelle") is MailboxType.ORG
    assert MailboxType.parse("APP") is MailboxType.APP
    assert MailboxType.CAB.label == "Cabinet"
    with pytest.raises(IdentifierError):
        MailboxType.parse("XYZ")


# --- pydantic integration ------------------------------------------------------------------


class _Model(BaseModel):
    rpps: RPPS
    ins: INS
    address: MSSanteAddress


def test_pydantic_fields_validate_and_serialise() -> None:
    m = _Model(
        rpps="10001234565",  # type: ignore[arg-type]
        ins={"value": "189127512501282", "oid": INS.OID_TEST_NIR, "qualified": True},  # type: ignore[arg-type]
        address="a@medecin.mssante.test",  # type: ignore[arg-type]
    )
    assert m.rpps == RPPS("10001234565")
    assert m.ins.is_test and m.ins.qualified
    dumped = m.model_dump(mode="json")
    assert dumped["rpps"] == "10001234565"
    assert dumped["ins"] == {"value": "189127512501282", "oid": INS.OID_TEST_NIR, "qualified": True}
    assert _Model.model_validate(dumped) == m


def test_pydantic_reports_the_identifier_error() -> None:
    with pytest.raises(ValidationError) as info:
        _Model(rpps="10001234567", ins="189127512501282", address="a@b.fr")  # type: ignore[arg-type]
    assert "Luhn" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "jean.dupont@medecin.mssante.fr",
        "Jean.Dupont@Medecin.MSSante.FR",
        "a+b_c{x}@hopital.mssante.test",
        "285077512345655@patient.mssante.fr",
        "x@a-b.c.fr",
        "u@xn--hpital-fsa.fr",
        '"quoted local"@medecin.mssante.fr',
        "é@medecin.mssante.fr",
        "jean@localhost",
        "jean@host.local",
        "a..b@medecin.mssante.fr",
        ".a@medecin.mssante.fr",
        "a@-bad.fr",
        "a@bad-.fr",
        "a@123.456",
        ("x" * 65) + "@medecin.mssante.fr",
        "a@" + ("b" * 64) + ".fr",
        "a@b@c.fr",
        "@c.fr",
        "a@",
        "a@b",
        "a@b..fr",
        "a@b.fr.",
        "a b@c.fr",
        ("x" * 64) + "@c.fr",
        "a@x--y.fr",
        "a@MEDECIN.mssante.fr",
    ],
)
def test_address_fast_path_agrees_with_email_validator(value: str) -> None:
    """The fast path never accepts what the full check refuses, nor changes the result."""
    from email_validator import EmailNotValidError, validate_email

    try:
        full = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, test_environment=True
        ).normalized
        local, _, domain = full.rpartition("@")
        expected: str | None = f"{local}@{domain.lower()}"
    except EmailNotValidError:
        expected = None
    if expected is None:
        with pytest.raises(AddressError):
            MSSanteAddress(value)
    else:
        assert MSSanteAddress(value).value == expected


def test_address_fast_path_agrees_with_email_validator_on_random_shapes() -> None:
    import random

    rng = random.Random(5)
    alphabet = 'aB9.-@_+é"x'
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) + rng.choice(
            ["", ".fr", "@a.fr", "@B.Fr", "@a-.fr", "@x--y.fr"]
        )
        test_address_fast_path_agrees_with_email_validator(value)
