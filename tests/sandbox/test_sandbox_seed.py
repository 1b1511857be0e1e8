"""The synthetic directory (pure): deterministic, valid identifiers, real codes and places."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from mssante_client.errors import SandboxError
from mssante_client.identity import FINESS, RPPS, IdNatPS
from mssante_client.sandbox.directory_seed import (
    CITIES,
    MAX_ENTRIES,
    MIN_ENTRIES,
    PROFESSIONS,
    SPECIALTIES,
    generate_directory,
    write_jsonl,
    write_ldif,
)


def _render(n: int, seed: int = 1) -> tuple[str, str]:
    entries = list(generate_directory(n, seed=seed))
    ldif, jsonl = io.StringIO(), io.StringIO()
    write_ldif(entries, ldif)
    write_jsonl(entries, jsonl)
    return ldif.getvalue(), jsonl.getvalue()


def test_same_seed_same_directory() -> None:
    assert _render(300) == _render(300)
    assert _render(300)[1] != _render(300, seed=2)[1]


@pytest.mark.parametrize("n", [MIN_ENTRIES, 10, 2000])
def test_exactly_n_mailboxes(n: int) -> None:
    entries = list(generate_directory(n))
    assert sum(e.kind == "mailbox" for e in entries) == n
    mails = [e.attributes["mail"] for e in entries if e.kind == "mailbox"]
    assert len(set(mails)) == n


def test_bounds_are_enforced() -> None:
    for n in (MIN_ENTRIES - 1, MAX_ENTRIES + 1):
        with pytest.raises(SandboxError, match="directory entries"):
            list(generate_directory(n))


def test_values_are_valid_and_from_the_code_lists() -> None:
    entries = [e.attributes for e in generate_directory(3000) if e.kind == "mailbox"]
    professions = {c: label for c, label, _ in PROFESSIONS}
    specialties = dict(SPECIALTIES)
    postal = {code: (city, dept) for city, dept, codes in CITIES for code in codes}
    kinds = Counter(e["mssTypeBAL"] for e in entries)
    assert kinds["PER"] > kinds["ORG"] > kinds["APP"] > 0 and kinds["CAB"] > 0
    for e in entries:
        if "mssRPPS" in e:
            assert IdNatPS(e["mssIdNatPS"]).rpps == RPPS(e["mssRPPS"])
            assert professions[e["mssCodeProfession"]] == e["mssLibelleProfession"]
        if "mssCodeSavoirFaire" in e:
            assert e["mssCodeProfession"] == "10"
            assert specialties[e["mssCodeSavoirFaire"]] == e["mssLibelleSavoirFaire"]
        if "mssFINESS" in e:
            FINESS(e["mssFINESS"])
        assert postal[e["postalCode"]] == (e["l"], e["mssDepartement"])
    assert any("è" in e["cn"].lower() or "é" in e["cn"].lower() for e in entries)


def test_fixed_entries_match_the_mail_accounts() -> None:
    entries = {e.attributes.get("mail"): e.attributes for e in generate_directory(MIN_ENTRIES)}
    jean = entries["jean.dupont@medecin.mssante.test"]
    assert jean["mssRPPS"] == "10001234565" and jean["mssIdNatPS"] == "810001234565"
    assert entries["dpi.cardio@hopital.mssante.test"]["mssTypeBAL"] == "APP"
    assert entries["secretariat.cardio@hopital.mssante.test"]["mssTypeBAL"] == "ORG"
    assert entries["helene.lefebvre@medecin.mssante.test"]["cn"] == "Hélène LEFÈBVRE"


def test_ldif_base64_encodes_non_ascii_and_jsonl_keeps_it() -> None:
    ldif, jsonl = _render(MIN_ENTRIES)
    assert "cn:: SMOpbMOobmUgTEVGw4hCVlJF" in ldif  # "Hélène LEFÈBVRE"
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert any(r.get("cn") == "Hélène LEFÈBVRE" for r in rows)
    assert {r["kind"] for r in rows} == {"base", "ou", "structure", "mailbox"}
