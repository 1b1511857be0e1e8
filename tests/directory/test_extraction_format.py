"""The extraction line format (rules §5.2): header, 31 columns, malformed lines, folding."""

from __future__ import annotations

import random

import pytest

from mssante_client.directory._text import fold
from mssante_client.directory.extraction_format import (
    COLUMN_COUNT,
    COLUMNS,
    ExtractionRow,
    MalformedRowError,
    city_from_routing_line,
    fast_fold,
    parse_header,
    split_row,
)
from mssante_client.directory.extraction_gen import generate_rows


def test_header_is_the_real_31_columns_with_suffixed_address_columns() -> None:
    assert COLUMN_COUNT == 31
    assert COLUMNS[0] == "Type de BAL"
    assert COLUMNS[1] == "Adresse BAL"
    assert COLUMNS[18] == "Raison Sociale structure BAL"
    address = COLUMNS[20:28]
    assert all(name.endswith(" structure BAL") for name in address)
    assert address[0].startswith("L2COMPLEMENTLOCALISATION")
    assert address[-1] == "L6LIGNEACHEMINEMENT structure BAL"
    assert COLUMNS[-3:] == (
        "Code postal structure BAL",
        "Département structure BAL",
        "Pays structure BAL",
    )


def test_parse_header_accepts_bom_trailing_separator_and_refuses_reordering() -> None:
    parse_header("\ufeff" + "|".join(COLUMNS) + "|\r\n")
    swapped = list(COLUMNS)
    swapped[9], swapped[10] = swapped[10], swapped[9]
    with pytest.raises(MalformedRowError, match="column 10"):
        parse_header("|".join(swapped))
    with pytest.raises(MalformedRowError, match="30 columns"):
        parse_header("|".join(COLUMNS[:30]))


def test_split_row_reads_a_generated_row_into_the_named_fields() -> None:
    values = next(generate_rows(1, seed=3))
    row = ExtractionRow.from_fields(split_row("|".join(values) + "\n"))
    assert row.mailbox_type == values[0]
    assert row.address == values[1].lower()
    assert row.family_name == values[9]
    assert row.postal_code == values[28]
    assert row.country == "FRANCE"
    assert row.city and row.city in row.address_l6_routing


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("PER|a@b.fr|8", "3 columns"),
        ("|".join(["XYZ", "a@b.fr", *[""] * 29]), "unknown mailbox type"),
        ("|".join(["APP", "a@b.fr", *[""] * 29]), "unknown mailbox type"),
        ("|".join(["PER", "no-at-sign", *[""] * 29]), "invalid mailbox address"),
        ("|".join(["ORG", "a@@b.fr", *[""] * 29]), "invalid mailbox address"),
        ("|".join(["PER", "a@b.fr", *[""] * 31]), "33 columns"),
    ],
)
def test_split_row_names_what_is_wrong(line: str, reason: str) -> None:
    with pytest.raises(MalformedRowError, match=reason):
        split_row(line)


def test_split_row_tolerates_one_trailing_separator() -> None:
    values = split_row("|".join(["org", " Contact@CH.fr ", *[""] * 29]) + "|")
    assert values[0] == "ORG"
    assert values[1] == "contact@ch.fr"
    assert len(values) == COLUMN_COUNT


@pytest.mark.parametrize(
    ("routing", "postal", "city"),
    [
        ("75012 PARIS", "75012", "PARIS"),
        ("18000 BOURGES CEDEX", "18000", "BOURGES"),
        ("69003 LYON CEDEX 03", "69003", "LYON"),
        ("SAINT-ÉTIENNE", "42000", "SAINT-ÉTIENNE"),
        ("", "", ""),
    ],
)
def test_city_from_routing_line(routing: str, postal: str, city: str) -> None:
    assert city_from_routing_line(routing, postal) == city


def test_fast_fold_agrees_with_the_shared_fold() -> None:
    rng = random.Random(7)
    alphabet = "aAzZéÉèçÇœŒæÆ ß-'’‘`.,_/\t\u00a0\u2010\u2013*()İıﬁ²ÅŁØ0123"
    samples = ["Éloïse-Marie  D'Arc", "LEFÈVRE", "CŒUR", " -x- ", ""]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(5000)
    ]
    for text in samples:
        assert fast_fold(text) == fold(text), text
