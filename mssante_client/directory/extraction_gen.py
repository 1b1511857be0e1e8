"""Synthetic "Extraction Correspondance MSSanté" files, for tests and benchmarks.

The real extraction is public but large and not reachable from CI; this generator writes files in
the exact format of rules §5.2 (UTF-8, ``|``, the real 31-column header), deterministically from a
seed, with the features the importer must handle: accented names, PER and ORG mailboxes, the same
mailbox repeated on several lines (several activities, and exact duplicates), and optionally
malformed lines (wrong column count, unknown mailbox type, invalid UTF-8) whose line numbers are
returned so that tests compare them with what the importer reports.

All identifiers are valid (Luhn) but fictitious: RPPS bodies start with ``1000``-like fixed
prefixes and FINESS use department 99 unless the row is placed in a real department for search
tests. No real person is described.
"""

from __future__ import annotations

import functools
import io
import random
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from ..identity import luhn_check_digit
from ._text import fold
from .extraction_format import COLUMN_COUNT, COLUMNS, SEPARATOR, ExtractionRow

__all__ = [
    "FAMILY_NAMES",
    "GIVEN_NAMES",
    "PLACES",
    "GeneratedExtraction",
    "generate_rows",
    "write_extraction",
]

FAMILY_NAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFÈVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRÉ", "LEFEBVRE", "MERCIER", "DUPONT",
    "LAMBERT", "BONNET", "FRANÇOIS", "MARTINEZ", "LEGRAND", "GARNIER", "FAURE", "ROUSSEAU",
    "BLANC", "GUERIN", "MULLER", "HENRY", "ROUSSEL", "NICOLAS", "PERRIN", "MORIN", "MATHIEU",
    "CLÉMENT", "GAUTHIER", "DUMONT", "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN", "MASSON",
    "SANCHEZ", "GÉRARD", "NGUYEN", "BOYER", "DENIS", "LEMAIRE", "DUVAL", "JOLY", "GAUTIER",
    "ROGER", "ROCHE", "ROY", "NOËL", "MEYER", "LUCAS", "MEUNIER", "JEAN", "PEREZ", "MARCHAND",
    "DUFOUR", "BLANCHARD", "MARIE", "BARBIER", "BRUN", "DUMAS", "BRUNET", "SCHMITT", "LEROUX",
    "COLIN", "FERNANDEZ", "PIERRE", "RENARD", "ARNAUD", "ROLLAND", "CARON", "AUBERT", "GIRAUD",
    "LECLERC", "VIDAL", "BOURGEOIS", "RENAUD", "LEMOINE", "PICARD", "GAILLARD", "PHILIPPE",
    "LECLERCQ", "LACROIX", "FABRE", "DUPUIS", "OLIVIER", "RODRIGUEZ", "DA SILVA", "HUBERT",
    "LOUIS", "CHARLES", "GUILLOT", "RIVIÈRE", "LE GALL", "GUILLAUME", "ADAM", "REY", "MOULIN",
    "GONZALEZ", "BERGER", "LECOMTE", "MENARD", "FLEURY", "DESCHAMPS", "CARPENTIER", "JULIEN",
    "BENOIT", "PARIS", "MAILLARD", "MARCHAL", "AUBRY", "VASSEUR", "LE ROUX", "RENAULT",
    "JACQUET", "COLLET", "PRÉVOST", "POIRIER", "CHARPENTIER", "ROYER", "HUET", "BAILLY",
    "D'ALMEIDA", "HÉBERT", "LE GOFF", "BÉNARD", "CORDIER", "ÉTIENNE", "COUSIN", "SAINT-MARTIN",
)  # fmt: skip

GIVEN_NAMES = (
    "Jean", "Marie", "Pierre", "Michel", "André", "Philippe", "Nathalie", "Isabelle", "Sylvie",
    "Catherine", "Françoise", "Hélène", "Éric", "Stéphane", "Frédéric", "Jérôme", "Céline",
    "Aurélie", "Sébastien", "Laurent", "Anne", "Valérie", "Christine", "Sophie", "Nicolas",
    "Julien", "Camille", "Léa", "Chloé", "Zoé", "Noël", "Joël", "Anaïs", "Maël", "Gaëlle",
    "Jean-Marie", "Marie-Hélène", "Jean-François", "Anne-Sophie", "Thomas", "Lucas", "Emma",
    "Inès", "Raphaël", "Loïc", "Benoît", "Jérémie", "Agnès", "Cécile", "Clémence",
)  # fmt: skip

# (postal code, routing line city, department code)
PLACES = (
    ("75012", "PARIS", "75"), ("75015", "PARIS", "75"), ("69003", "LYON", "69"),
    ("13005", "MARSEILLE", "13"), ("31000", "TOULOUSE", "31"), ("06000", "NICE", "06"),
    ("44000", "NANTES", "44"), ("67000", "STRASBOURG", "67"), ("34000", "MONTPELLIER", "34"),
    ("33000", "BORDEAUX", "33"), ("59000", "LILLE", "59"), ("35000", "RENNES", "35"),
    ("51100", "REIMS", "51"), ("42000", "SAINT-ÉTIENNE", "42"), ("83000", "TOULON", "83"),
    ("38000", "GRENOBLE", "38"), ("21000", "DIJON", "21"), ("49000", "ANGERS", "49"),
    ("30000", "NÎMES", "30"), ("63000", "CLERMONT-FERRAND", "63"), ("18000", "BOURGES", "18"),
    ("97400", "SAINT-DENIS", "974"), ("20000", "AJACCIO", "2A"), ("20200", "BASTIA", "2B"),
    ("29200", "BREST", "29"), ("87000", "LIMOGES", "87"), ("37000", "TOURS", "37"),
    ("80000", "AMIENS", "80"), ("57000", "METZ", "57"), ("25000", "BESANÇON", "25"),
)  # fmt: skip

# (profession code TRE_G15, label, category code TRE_R09, category label, savoir-faire options)
PROFESSIONS = (
    ("10", "Médecin", "C", "Civil", (("SM54", "Médecine Générale (SM)"),
                                      ("SM26", "Qualifié en Médecine Générale (SM)"),
                                      ("SM04", "Cardiologie et maladies vasculaires (SM)"),
                                      ("SM53", "Spécialiste en Médecine Générale (SM)"),
                                      ("SM40", "Pédiatrie (SM)"))),
    ("21", "Pharmacien", "C", "Civil", (("", ""),)),
    ("40", "Chirurgien-Dentiste", "C", "Civil", (("SCD01", "Orthopédie dento-faciale"), ("", ""))),
    ("50", "Sage-Femme", "C", "Civil", (("", ""),)),
    ("60", "Infirmier", "C", "Civil", (("", ""),)),
    ("70", "Masseur-Kinésithérapeute", "C", "Civil", (("", ""),)),
)  # fmt: skip

STREET_TYPES = ("R", "AV", "BD", "PL", "CHE", "ALL")
STREETS = (
    "DE LA RÉPUBLIQUE", "VICTOR HUGO", "DE LA LIBERTÉ", "JEAN JAURÈS", "PASTEUR", "DES ÉCOLES",
    "DU GÉNÉRAL DE GAULLE", "DE LA GARE", "DU MARCHÉ", "SAINT-MICHEL",
)  # fmt: skip
ORG_KINDS = (
    "CENTRE HOSPITALIER", "CLINIQUE", "CABINET MÉDICAL", "MAISON DE SANTÉ", "LABORATOIRE",
    "CENTRE DE SANTÉ", "EHPAD", "PHARMACIE",
)  # fmt: skip
ORG_SERVICES = ("", "", "SECRÉTARIAT", "URGENCES", "CARDIOLOGIE", "RADIOLOGIE", "PÉDIATRIE")
DOMAINS = ("medecin.mssante.fr", "pharmacien.mssante.fr", "infirmier.mssante.fr",
           "ch-exemple.mssante.fr", "chu-fictif.mssante.fr", "pro.mssante.fr")  # fmt: skip


@dataclass(frozen=True)
class GeneratedExtraction:
    """What was written, so tests can check the importer against the generator's own count."""

    path: Path
    rows: int
    """Data lines written (header excluded), malformed ones included."""
    malformed_lines: tuple[int, ...]
    """1-based line numbers (header = line 1) of the lines deliberately broken."""
    distinct_addresses: int
    """Mailboxes among the well-formed lines (each address once)."""
    zipped: bool
    entry_name: str


def _rpps(index: int) -> str:
    body = f"1{index:09d}"
    return body + str(luhn_check_digit(body))


def _finess(index: int) -> str:
    body = f"99{index % 10**6:06d}"
    return body + str(luhn_check_digit(body))


def _place_fields(rng: random.Random) -> tuple[list[str], str]:
    postal_code, city, department = rng.choice(PLACES)
    cedex = " CEDEX" if rng.random() < 0.05 else ""
    return [
        "",  # L2 complément localisation
        rng.choice(("", "", "", "BATIMENT A", "2E ÉTAGE")),  # L3
        str(rng.randrange(1, 200)),  # L4 numéro
        rng.choice(("", "", "", "", "BIS", "TER")),  # L4 complément
        rng.choice(STREET_TYPES),  # L4 type de voie
        rng.choice(STREETS),  # L4 libellé
        "",  # L5
        f"{postal_code} {city}{cedex}",  # L6 ligne d'acheminement
        postal_code,
        department,
        "FRANCE",
    ], city


@functools.cache
def _slug(text: str) -> str:
    return fold(text).replace(" ", "-")


def generate_rows(count: int, *, seed: int = 0) -> Iterator[tuple[str, ...]]:
    """``count`` well-formed rows of 31 fields, deterministic for a seed.

    About 85 % PER (professionals, 10 % of them on two lines: a second activity, or the very same
    line twice) and 15 % ORG (services of structures). Addresses are unique per mailbox.
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    produced = 0
    person = 0
    org = 0
    while produced < count:
        if rng.random() < 0.85:
            person += 1
            family = rng.choice(FAMILY_NAMES)
            given = rng.choice(GIVEN_NAMES)
            rpps = _rpps(person)
            code, label, category, category_label, specialties = rng.choice(PROFESSIONS)
            specialty_code, specialty_label = rng.choice(specialties)
            domain = rng.choice(DOMAINS[:3]) if rng.random() < 0.8 else DOMAINS[5]
            address = f"{_slug(given)}.{_slug(family)}.{person}@{domain}"
            activities = 1
            roll = rng.random()
            if roll < 0.05:
                activities = 2  # a second place of activity: same mailbox, another structure
            duplicate = 0.05 <= roll < 0.10  # the same line published twice
            for activity in range(activities):
                place, city = _place_fields(rng)
                structure = _finess(person * 3 + activity)
                row = (
                    "PER",
                    address,
                    "8",
                    rpps,
                    "8" + rpps,
                    "1",
                    "1" + structure,
                    "",
                    rng.choice(("DR", "M", "MME", "")) if code == "10" else "",
                    family,
                    given,
                    category,
                    category_label,
                    code,
                    label,
                    specialty_code,
                    specialty_label,
                    rng.choice(("O", "N")),
                    f"CABINET {family} {city}" if activity == 0 else f"CLINIQUE DU {city}",
                    "",
                    *place,
                )
                for _ in range(2 if duplicate else 1):
                    if produced >= count:
                        return
                    yield row
                    produced += 1
        else:
            org += 1
            kind = rng.choice(ORG_KINDS)
            place, city = _place_fields(rng)
            service = rng.choice(ORG_SERVICES)
            name = f"{kind} {rng.choice(FAMILY_NAMES)} {city}"
            domain = DOMAINS[3 + org % 2]
            local = _slug(service or "contact")
            row = (
                "ORG",
                f"{local}.{org}@{domain}",
                "",
                "",
                "",
                "1",
                "1" + _finess(500000 + org),
                service,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "O",
                name,
                kind if rng.random() < 0.3 else "",
                *place,
            )
            yield row
            produced += 1


def _malformed_line(kind: int, rng: random.Random) -> bytes:
    base = SEPARATOR.join(["PER", "broken@medecin.mssante.fr", *[""] * (COLUMN_COUNT - 2)])
    if kind == 0:  # wrong column count
        return SEPARATOR.join(["PER", "short@medecin.mssante.fr", "8"]).encode()
    if kind == 1:  # unknown mailbox type
        return base.replace("PER", "XYZ", 1).encode()
    # invalid UTF-8 (a latin-1 "é" where UTF-8 is required)
    return base.encode().replace(b"broken", b"br\xe9ken", 1)


def write_extraction(
    path: Path,
    rows: int,
    *,
    seed: int = 0,
    malformed_every: int = 0,
    extra_rows: Iterable[ExtractionRow | tuple[str, ...]] = (),
    zipped: bool = False,
    entry_name: str = "Extraction_Correspondance_MSSante_202601010000.txt",
    trailing_separator: bool = False,
) -> GeneratedExtraction:
    """Write an extraction file of ``rows`` data lines (plus ``extra_rows``) to ``path``.

    ``malformed_every=n`` replaces every n-th data line by a broken one, cycling through the three
    kinds of damage. With ``zipped`` the text is stored as the single entry ``entry_name`` of a
    zip archive, as the ANS serves it.
    """
    rng = random.Random(seed + 1)  # noqa: S311 - test data, not security
    malformed: list[int] = []
    addresses: set[str] = set()
    buffer = io.BytesIO()
    header = SEPARATOR.join(COLUMNS) + (SEPARATOR if trailing_separator else "")
    buffer.write(header.encode() + b"\n")
    line_number = 1
    data_index = 0
    written = 0

    def all_rows() -> Iterator[tuple[str, ...]]:
        yield from generate_rows(rows, seed=seed)
        for extra in extra_rows:
            if isinstance(extra, ExtractionRow):
                yield tuple(getattr(extra, item.name) for item in fields(extra))
            else:
                yield extra

    for row in all_rows():
        line_number += 1
        data_index += 1
        written += 1
        if malformed_every and data_index % malformed_every == 0:
            buffer.write(_malformed_line(len(malformed) % 3, rng) + b"\n")
            malformed.append(line_number)
            continue
        addresses.add(row[1].lower())
        text = SEPARATOR.join(row) + (SEPARATOR if trailing_separator else "")
        buffer.write(text.encode() + b"\n")
    data = buffer.getvalue()
    path = Path(path)
    if zipped:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(entry_name, data)
    else:
        path.write_bytes(data)
    return GeneratedExtraction(
        path=path,
        rows=written,
        malformed_lines=tuple(malformed),
        distinct_addresses=len(addresses),
        zipped=zipped,
        entry_name=entry_name,
    )
