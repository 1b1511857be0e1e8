"""Accent / case folding shared by the directory backends."""

from __future__ import annotations

import pytest

from mssante_client.directory._text import (
    fold,
    fold_words,
    folded_contains,
    folded_equals,
    folded_prefix,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LEFÈBVRE", "lefebvre"),
        ("Éloïse-Marie  D'Arc", "eloise marie d arc"),
        ("SAINT-ÉTIENNE", "saint etienne"),
        ("NÎMES", "nimes"),
        ("Œuvre", "oeuvre"),
        ("N’DIAYE", "n diaye"),
        ("  François  ", "francois"),
    ],
)
def test_fold_removes_accents_case_and_separators(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize("symbol", ["*", "(", ")", "\\", "\x00"])
def test_fold_keeps_symbols_literal_so_they_match_only_themselves(symbol: str) -> None:
    assert fold(symbol) == symbol
    assert not folded_prefix("DUPONT", symbol)
    assert not folded_prefix("DUPONT", "DUP" + symbol)


def test_prefix_equals_contains() -> None:
    assert folded_prefix("LEFÈBVRE", "lefeb")
    assert folded_prefix("Hélène", "HELE")
    assert not folded_prefix(None, "x")
    assert not folded_prefix("MARTIN", "artin")
    assert folded_equals("SAINT-ÉTIENNE", "saint etienne")
    assert not folded_equals("SAINT-ÉTIENNE", "saint")
    assert folded_contains("CH TEST DE LYON", "test de")
    assert fold_words("  Cardio  Hélène ") == ("cardio", "helene")
