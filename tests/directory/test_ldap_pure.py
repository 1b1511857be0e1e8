"""LDAP filter building and attribute mapping, without a server."""

from __future__ import annotations

import ldap.filter
import pytest

from mssante_client.directory import (
    DirectoryMailbox,
    DirectoryQuery,
    LDAPMapping,
    Organisation,
    Professional,
)
from mssante_client.directory.ldap_filter import build_filter, tolerant_substring
from mssante_client.directory.ldap_mapping import entry_to_model
from mssante_client.errors import AddressError
from mssante_client.identity import MailboxType, MSSanteAddress, generate_rpps

RPPS = str(next(generate_rpps(1, seed=11)))


@pytest.mark.parametrize(
    ("folded", "start", "end", "expected"),
    [
        ("lefebvre", True, False, "(sn=l*f*bvr*)"),
        ("75015", True, True, "(sn=75015)"),
        ("brest", True, True, "(sn=br*st)"),
        ("saint etienne", True, True, "(sn=s*t*t*)"),
        ("test", False, False, "(sn=*t*st*)"),
        ("aie", True, False, "(sn=*)"),
        ("*", True, False, "(sn=\\2a*)"),
        ("dup*)(", True, False, "(sn=d*p\\2a\\29\\28*)"),
        ("a\\b", True, False, "(sn=*\\5cb*)"),
        ("\x00", True, False, "(sn=\\00*)"),
    ],
)
def test_tolerant_substring(folded: str, start: bool, end: bool, expected: str) -> None:
    assert tolerant_substring("sn", folded, anchor_start=start, anchor_end=end) == expected


def _values(flt: str) -> list[str]:
    """Every assertion value of a filter (between '=' and ')')."""
    out = []
    for part in flt.split("=")[1:]:
        out.append(part.split(")")[0])
    return out


@pytest.mark.parametrize(
    "hostile", ["*", ")(objectClass=*", "\\", "\x00", "*)(|(mail=*", "a)(uid=*"]
)
@pytest.mark.parametrize("criterion", ["family_name", "given_name", "organisation", "city", "text"])
def test_every_value_is_escaped(criterion: str, hostile: str) -> None:
    flt = build_filter(DirectoryQuery(**{criterion: hostile}))
    for value in _values(flt):
        for char in "()\\\x00":
            # escaped characters only appear as \XX sequences
            assert char not in value.replace("\\2a", "").replace("\\28", "").replace(
                "\\29", ""
            ).replace("\\5c", "").replace("\\00", "")
    # the structure is unchanged: one (& ...) with balanced parentheses and no stray clause
    assert flt.count("(") == flt.count(")")
    assert "(objectClass=*" not in flt and "(uid=*" not in flt and "(mail=*)" not in flt


def test_build_filter_combines_criteria() -> None:
    q = DirectoryQuery(
        family_name="Lefèbvre", rpps=RPPS, mailbox_type="PER", department="2A", finess="690999990"
    )
    flt = build_filter(q)
    assert flt.startswith("(&(objectClass=mssBoiteAuxLettres)(!(mssListeRouge=TRUE))")
    assert "(sn=l*f*bvr*)" in flt
    assert f"(|(mssIdNatPS=8{RPPS})(mssRPPS={RPPS}))" in flt
    assert "(|(mssTypeBAL=PER)(mssTypeBAL=NOMINATIVE))" in flt
    assert "(mssDepartement=2A)" in flt
    assert "(|(mssFINESS=690999990)(mssIdNatStruct=1690999990))" in flt
    assert ldap.filter.escape_filter_chars("x") == "x"  # python-ldap does the escaping


def test_mapping_without_department_uses_postal_codes_and_folded_attributes() -> None:
    m = LDAPMapping(department=None, red_list=None, folded={"family_name": "mssNomAscii"})
    flt = build_filter(DirectoryQuery(department="2B", family_name="Lefèbvre"), m)
    assert "(|(postalCode=202*)(postalCode=203*)" in flt
    assert "(mssNomAscii=lefebvre*)" in flt
    assert "mssListeRouge" not in flt


def _raw(**attrs: str) -> dict[str, list[bytes]]:
    return {k: [v.encode()] for k, v in attrs.items()}


def test_entry_to_professional_equals_a_validated_model() -> None:
    entry = _raw(
        mail="Helene.Lefebvre@MEDECIN.mssante.fr",
        mssTypeBAL="NOMINATIVE",
        sn="LEFÈBVRE",
        givenName="Hélène",
        mssRPPS=RPPS,
        mssIdNatPS="8" + RPPS,
        mssCodeProfession="60",
        postalcode="42000",  # attribute names are matched case-insensitively
        l="SAINT-ÉTIENNE",
        mssDematerialisation="TRUE",
    )
    model = entry_to_model("uid=x,ou=bal", entry)
    assert isinstance(model, Professional)
    assert str(model.mailboxes[0].address) == "Helene.Lefebvre@medecin.mssante.fr"
    assert model.mailboxes[0].type is MailboxType.PER
    assert model.profession is not None and model.profession.label == "Infirmier"
    assert model.addresses[0].department == "42"
    # the fast construction gives exactly what full validation gives
    again = Professional.model_validate(model.model_dump())
    assert again == model
    assert again.model_dump(mode="json") == model.model_dump(mode="json")


def test_entry_to_organisation_and_invalid_values() -> None:
    entry = _raw(
        mail="dpi@hopital.mssante.fr",
        mssTypeBAL="APP",
        cn="DPI",
        o="CH TEST",
        mssFINESS="690999991",  # wrong Luhn key: dropped, not trusted
        mssIdNatStruct="1690999990",
    )
    model = entry_to_model("uid=y", entry)
    assert isinstance(model, Organisation)
    assert model.finess is None and str(model.id_nat_struct) == "1690999990"
    assert model.name == "DPI" and model.organisation_name == "CH TEST"
    assert Organisation.model_validate(model.model_dump()) == model
    assert entry_to_model("uid=z", _raw(mail="not an address", mssTypeBAL="PER")) is None
    assert entry_to_model("uid=z", _raw(cn="no mail")) is None


@pytest.mark.parametrize(
    "address", ["a.b@medecin.mssante.fr", "x+tag@patient.mssante.fr", "o'neil@ex.mssante.fr"]
)
def test_mapped_address_agrees_with_full_validation(address: str) -> None:
    model = entry_to_model("uid=a", _raw(mail=address, mssTypeBAL="PER"))
    assert model is not None
    assert model.mailboxes[0].address == MSSanteAddress(address)


@pytest.mark.parametrize("address", ["a@b", "a b@c.fr", "@c.fr", "a@-c.fr", "a..b@c.fr"])
def test_mapped_address_falls_back_to_full_validation(address: str) -> None:
    with pytest.raises(AddressError):
        MSSanteAddress(address)
    assert entry_to_model("uid=a", _raw(mail=address, mssTypeBAL="PER")) is None


def test_mailbox_model_roundtrip() -> None:
    m = DirectoryMailbox(address="a@b.mssante.fr", type="ORG")
    assert DirectoryMailbox.model_validate_json(m.model_dump_json()) == m


def test_attribute_names_in_any_case_and_shared_between_fields() -> None:
    # a schema where the display name and the common name are one attribute, answered in
    # a case the mapping does not use
    mapping = LDAPMapping(display_name="cn", common_name="cn", city="localityName")
    entry = _raw(MAIL="dpi@hopital.mssante.fr", MSSTYPEBAL="app", CN="DPI", LOCALITYNAME="LYON")
    model = entry_to_model("uid=c", entry, mapping)
    assert isinstance(model, Organisation)
    assert model.name == "DPI"
    assert model.addresses[0].city == "LYON"
    assert model.mailboxes[0].type is MailboxType.APP


def test_models_built_fast_share_nothing_a_copy_can_change() -> None:
    a = entry_to_model("uid=a", _raw(mail="a@x.mssante.fr", mssTypeBAL="PER", sn="A"))
    b = entry_to_model("uid=b", _raw(mail="b@x.mssante.fr", mssTypeBAL="PER", sn="B"))
    assert isinstance(a, Professional) and isinstance(b, Professional)
    changed = a.model_copy(update={"family_name": "C"})
    assert changed.family_name == "C" and a.family_name == "A" and b.family_name == "B"
    assert a.model_fields_set == b.model_fields_set == set(Professional.model_fields)
    with pytest.raises(ValueError, match="frozen"):
        a.family_name = "D"  # type: ignore[misc]
    assert a.model_fields_set == set(Professional.model_fields)


def test_invalid_utf8_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    entry = {
        "mail": [b"a@x.mssante.fr"],
        "mssTypeBAL": [b"PER"],
        "sn": [b"DUP\xffONT"],  # not UTF-8: replaced, not fatal
        "mssFINESS": [b"\xff" * 9],  # invalid identifier: dropped and logged, value not logged
    }
    model = entry_to_model("uid=u", entry)
    assert isinstance(model, Professional)
    assert model.family_name == "DUP\ufffdONT" and model.finess is None
    assert "FINESS" in caplog.text and "\ufffd" not in caplog.text
    assert entry_to_model("uid=v", {"mail": [b"a\xff@x.mssante.fr"]}) is None
