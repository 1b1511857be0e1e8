"""Deterministic synthetic directory: MSSanté mailboxes of professionals and structures.

Why: the directory backends need a realistic, large (1,000 to 100,000 entries) and
*reproducible* directory to test multi-criteria search (SC.MSS/UX.41: RPPS, name, profession,
specialty, place) and paging. Values follow the real code systems (TRE_G15 professions,
TRE_R38 savoir-faire, TRE_R257 mailbox types), identifiers carry valid Luhn keys, places are
real French postal codes. Pure: entries are plain dicts keyed by LDAP attribute name, rendered
both as LDIF (for ``slapadd``) and as JSON lines (so tests can compute expected answers
independently of LDAP).
"""

from __future__ import annotations

import base64
import functools
import json
import random
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import SandboxError
from ..identity import RPPS, luhn_check_digit
from . import accounts as acc

__all__ = [
    "BAL_OU",
    "BASE_DN",
    "CH_TEST_FINESS",
    "CITIES",
    "MAX_ENTRIES",
    "MIN_ENTRIES",
    "PROFESSIONS",
    "SPECIALTIES",
    "STRUCTURE_OU",
    "DirectoryEntry",
    "check_entry_count",
    "generate_directory",
    "write_jsonl",
    "write_ldif",
    "write_seed",
]

BASE_DN = "dc=annuaire,dc=mssante,dc=test"
BAL_OU = f"ou=bal,{BASE_DN}"
STRUCTURE_OU = f"ou=structures,{BASE_DN}"
MAX_ENTRIES = 100_000
#: The fixed entries matching the mail accounts (see ``_fixed``).
MIN_ENTRIES = 6
DEFAULT_SEED = 20240601

#: TRE_G15-ProfessionSante codes and labels (as in the ANS JDV J01), with rough weights.
PROFESSIONS: tuple[tuple[str, str, float], ...] = (
    ("10", "Médecin", 0.42),
    ("21", "Pharmacien", 0.10),
    ("40", "Chirurgien-Dentiste", 0.08),
    ("50", "Sage-Femme", 0.05),
    ("60", "Infirmier", 0.20),
    ("70", "Masseur-Kinésithérapeute", 0.10),
    ("80", "Pédicure-Podologue", 0.02),
    ("91", "Orthophoniste", 0.03),
)
#: TRE_R38-SpecialiteOrdinale codes (savoir-faire of physicians) and labels.
SPECIALTIES: tuple[tuple[str, str], ...] = (
    ("SM26", "Qualifié en Médecine Générale"),
    ("SM54", "Médecine Générale"),
    ("SM04", "Cardiologie et maladies vasculaires"),
    ("SM40", "Pédiatrie"),
    ("SM15", "Dermatologie et Vénéréologie"),
    ("SM32", "Neurologie"),
    ("SM42", "Psychiatrie"),
    ("SM44", "Radio-diagnostic"),
    ("SM20", "Gynécologie-obstétrique"),
    ("SM38", "Ophtalmologie"),
)
#: City, department code, real postal codes.
CITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("PARIS", "75", tuple(f"750{i:02d}" for i in range(1, 21))),
    ("LYON", "69", tuple(f"6900{i}" for i in range(1, 10))),
    ("MARSEILLE", "13", tuple(f"130{i:02d}" for i in range(1, 17))),
    ("TOULOUSE", "31", ("31000", "31100", "31200", "31300", "31400", "31500")),
    ("NANTES", "44", ("44000", "44100", "44200", "44300")),
    ("LILLE", "59", ("59000", "59160", "59260", "59800")),
    ("BORDEAUX", "33", ("33000", "33100", "33200", "33300", "33800")),
    ("RENNES", "35", ("35000", "35200", "35700")),
    ("STRASBOURG", "67", ("67000", "67100", "67200")),
    ("MONTPELLIER", "34", ("34000", "34070", "34080", "34090")),
    ("NÎMES", "30", ("30000", "30900")),
    ("SAINT-ÉTIENNE", "42", ("42000", "42100")),
    ("BREST", "29", ("29200",)),
    ("AJACCIO", "2A", ("20000", "20090")),
)
FIRST_NAMES = (
    "Jean",
    "Marie",
    "Pierre",
    "Hélène",
    "Luc",
    "Anne",
    "Éric",
    "Sophie",
    "Nicolas",
    "Camille",
    "François",
    "Chloé",
    "Julien",
    "Léa",
    "Thomas",
    "Inès",
    "Mathieu",
    "Zoé",
    "Benoît",
    "Agnès",
    "Gaëlle",
    "Loïc",
    "Maëlys",
    "Jérôme",
    "Céline",
    "Noël",
)
LAST_NAMES = (
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFÈBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
    "MOREL",
    "GIRARD",
    "ANDRÉ",
    "MERCIER",
    "DUPONT",
    "LAMBERT",
    "BONNET",
    "FRANÇOIS",
    "MARTINEZ",
    "N'DIAYE",
    "LE GOFF",
    "CHÂTEAU",
    "D'ALMEIDA",
)
STRUCTURE_KINDS = (
    ("CH TEST DE {city}", "ch"),
    ("CLINIQUE SAINT-{city} TEST", "clinique"),
    ("CENTRE DE SANTÉ {city} TEST", "cds"),
    ("LABORATOIRE {city} TEST", "labo"),
    ("EHPAD LES TILLEULS {city} TEST", "ehpad"),
)
SERVICES = (
    "cardiologie",
    "urgences",
    "radiologie",
    "pediatrie",
    "secretariat",
    "admissions",
    "pharmacie",
    "maternite",
)
APPLICATIONS = ("dpi", "lgc", "ris", "sil", "dmp-connecteur")

CH_TEST_FINESS = acc.CH_TEST_FINESS

Entry = dict[str, Any]


@dataclass(frozen=True)
class DirectoryEntry:
    """One LDAP entry: its DN and attributes (LDAP names; str, bool or list of str)."""

    dn: str
    kind: str  # "mailbox" or "structure"
    attributes: Entry

    def as_json(self) -> Entry:
        return {"kind": self.kind, "dn": self.dn, **self.attributes}


@functools.lru_cache(maxsize=1024)
def _slug(value: str) -> str:
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in text).split())


def _finess(rng: random.Random, department: str, seen: set[str]) -> str:
    while True:
        body = f"{department}{rng.randrange(10**6):06d}"
        value = body + str(luhn_check_digit(body))
        if value not in seen and value != CH_TEST_FINESS:
            seen.add(value)
            return value


def _rpps(rng: random.Random, seen: set[str]) -> str:
    while True:
        body = f"1{rng.randrange(10**9):09d}"
        value = body + str(luhn_check_digit(body))
        if value not in seen:
            seen.add(value)
            return value


def _structure(finess: str, name: str, city: str, dept: str, postal_code: str) -> DirectoryEntry:
    id_nat = "1" + finess
    attrs: Entry = {
        "objectClass": ["top", "mssStructure"],
        "mssIdNatStruct": id_nat,
        "mssFINESS": finess,
        "o": name,
        "l": city,
        "postalCode": postal_code,
        "mssDepartement": dept,
    }
    return DirectoryEntry(f"mssIdNatStruct={id_nat},{STRUCTURE_OU}", "structure", attrs)


def _mailbox(uid: str, **fields: Any) -> DirectoryEntry:
    attrs: Entry = {"objectClass": ["top", "mssBoiteAuxLettres"], "uid": uid}
    attrs.update({k: v for k, v in fields.items() if v is not None})
    return DirectoryEntry(f"uid={uid},{BAL_OU}", "mailbox", attrs)


def _person(
    uid: str,
    mail: str,
    mailbox_type: str,
    first: str,
    last: str,
    prof: tuple[str, str],
    rpps: str,
    city: str,
    dept: str,
    postal_code: str,
    specialty: tuple[str, str] | None = None,
    structure: DirectoryEntry | None = None,
    service: str | None = None,
    adeli: str | None = None,
    demat: bool = True,
    liste_rouge: bool = False,
) -> DirectoryEntry:
    title = "Dr" if prof[0] in ("10", "40") else None
    s = structure.attributes if structure else {}
    return _mailbox(
        uid,
        mail=mail,
        mssTypeBAL=mailbox_type,
        cn=f"{first} {last}",
        sn=last,
        givenName=first,
        displayName=" ".join(p for p in (title, first, last) if p),
        title=title,
        mssRPPS=rpps,
        mssIdNatPS="8" + rpps,  # IdNatPS of an RPPS (checked by the tests with identity.IdNatPS)
        mssADELI=adeli,
        mssCodeProfession=prof[0],
        mssLibelleProfession=prof[1],
        mssCodeSavoirFaire=specialty[0] if specialty else None,
        mssLibelleSavoirFaire=specialty[1] if specialty else None,
        o=s.get("o"),
        ou=service,
        mssIdNatStruct=s.get("mssIdNatStruct"),
        mssFINESS=s.get("mssFINESS"),
        mssStructure=structure.dn if structure else None,
        l=city,
        postalCode=postal_code,
        mssDepartement=dept,
        mssDematerialisation=demat,
        mssListeRouge=liste_rouge,
    )


def _service_box(
    uid: str,
    mail: str,
    mailbox_type: str,
    label: str,
    structure: DirectoryEntry,
    service: str,
    description: str,
) -> DirectoryEntry:
    s = structure.attributes
    return _mailbox(
        uid,
        mail=mail,
        mssTypeBAL=mailbox_type,
        cn=label,
        displayName=label,
        description=description,
        o=s["o"],
        ou=service,
        mssIdNatStruct=s["mssIdNatStruct"],
        mssFINESS=s["mssFINESS"],
        mssStructure=structure.dn,
        l=s["l"],
        postalCode=s["postalCode"],
        mssDepartement=s["mssDepartement"],
        mssDematerialisation=True,
        mssListeRouge=False,
    )


def _fixed(ch_test: DirectoryEntry) -> list[DirectoryEntry]:
    """Entries matching the sandbox's mail accounts (same addresses, see accounts.py)."""
    return [
        _person(
            "fixed-jean.dupont",
            acc.JEAN,
            "PER",
            "Jean",
            "DUPONT",
            PROFESSIONS[0][:2],
            str(RPPS("10001234565")),
            "PARIS",
            "75",
            "75015",
            specialty=SPECIALTIES[0],
        ),
        _person(
            "fixed-helene.lefebvre",
            acc.HELENE,
            "PER",
            "Hélène",
            "LEFÈBVRE",
            PROFESSIONS[4][:2],
            str(RPPS("10009876540")),
            "SAINT-ÉTIENNE",
            "42",
            "42000",
        ),
        _person(
            "fixed-revoque",
            acc.REVOQUE,
            "PER",
            "Rémi",
            "VOQUÉ",
            PROFESSIONS[0][:2],
            str(RPPS("10001111110")),
            "LYON",
            "69",
            "69003",
            specialty=SPECIALTIES[2],
        ),
        _service_box(
            "fixed-secretariat.cardio",
            acc.SECRETARIAT,
            "ORG",
            "Secrétariat cardiologie CH TEST",
            ch_test,
            "cardiologie",
            "Secrétariat du service de cardiologie",
        ),
        _service_box(
            "fixed-accueil",
            acc.ACCUEIL,
            "ORG",
            "Accueil CH TEST",
            ch_test,
            "accueil",
            "Accueil et admissions",
        ),
        _service_box(
            "fixed-dpi.cardio",
            acc.DPI,
            "APP",
            "DPI Cardiologie CH TEST",
            ch_test,
            "cardiologie",
            "Dossier patient informatisé du service de cardiologie",
        ),
    ]


def check_entry_count(n: int) -> None:
    """SandboxError unless ``MIN_ENTRIES <= n <= MAX_ENTRIES`` (the fixed entries always exist)."""
    if not MIN_ENTRIES <= n <= MAX_ENTRIES:
        raise SandboxError(f"directory entries must be between {MIN_ENTRIES} and {MAX_ENTRIES}")


def generate_directory(n: int, *, seed: int = DEFAULT_SEED) -> Iterator[DirectoryEntry]:
    """Yield the base/OU entries, the structures, then exactly ``n`` mailbox entries.

    The same ``(n, seed)`` always gives the same entries. About 78 % PER, 15 % ORG, 5 % APP,
    2 % CAB; ~2 % flagged liste rouge; ~90 % accept dematerialisation.
    """
    check_entry_count(n)
    ch_test = _structure(CH_TEST_FINESS, "CH TEST", "LYON", "69", "69003")
    fixed = _fixed(ch_test)
    rng = random.Random(seed)  # noqa: S311 - synthetic test data
    yield DirectoryEntry(
        BASE_DN,
        "base",
        {
            "objectClass": ["top", "dcObject", "organization"],
            "dc": "annuaire",
            "o": "Annuaire MSSanté TEST",
        },
    )
    yield DirectoryEntry(BAL_OU, "ou", {"objectClass": ["top", "organizationalUnit"], "ou": "bal"})
    yield DirectoryEntry(
        STRUCTURE_OU, "ou", {"objectClass": ["top", "organizationalUnit"], "ou": "structures"}
    )
    finess_seen: set[str] = set()
    structures = [ch_test]
    for i in range(max(4, n // 25)):
        city, dept, codes = rng.choice([c for c in CITIES if c[1].isdigit()])
        template, _ = STRUCTURE_KINDS[i % len(STRUCTURE_KINDS)]
        structures.append(
            _structure(
                _finess(rng, dept, finess_seen),
                template.format(city=city),
                city,
                dept,
                rng.choice(codes),
            )
        )
    yield from structures
    yield from fixed

    book = _AddressBook({str(e.attributes["mail"]) for e in fixed})
    rpps_seen = {str(e.attributes["mssRPPS"]) for e in fixed if "mssRPPS" in e.attributes}
    weights = [p[2] for p in PROFESSIONS]
    for i in range(1, n - len(fixed) + 1):
        uid = f"bal{i:06d}"
        r = rng.random()
        if r < 0.80:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            code, label, _ = rng.choices(PROFESSIONS, weights)[0]
            specialty = rng.choice(SPECIALTIES) if code == "10" else None
            in_structure = rng.random() < 0.25
            structure = rng.choice(structures) if in_structure else None
            if structure is not None:
                city, dept = (
                    str(structure.attributes["l"]),
                    str(structure.attributes["mssDepartement"]),
                )
                postal_code = str(structure.attributes["postalCode"])
            else:
                city, dept, codes = rng.choice(CITIES)
                postal_code = rng.choice(codes)
            domain = acc.HOPITAL_DOMAIN if structure is not None else acc.MEDECIN_DOMAIN
            mail = book.unique(f"{_slug(first)}.{_slug(last)}".replace("-", ""), domain)
            adeli = None
            if code in ("60", "70") and rng.random() < 0.3:
                adeli = (dept if dept.isdigit() else "20") + f"{rng.randrange(10**7):07d}"
            mailbox_type = "CAB" if r >= 0.78 else "PER"
            yield _person(
                uid,
                mail,
                mailbox_type,
                first,
                last,
                (code, label),
                _rpps(rng, rpps_seen),
                city,
                dept,
                postal_code,
                specialty=specialty,
                structure=structure,
                service=rng.choice(SERVICES) if structure else None,
                adeli=adeli,
                demat=rng.random() < 0.9,
                liste_rouge=rng.random() < 0.02,
            )
        else:
            structure = rng.choice(structures)
            service = rng.choice(SERVICES)
            kind = str(structure.attributes["o"]).split()[0].lower()
            if r < 0.95:
                mail = book.unique(f"{service}.{_slug(kind)}", acc.HOPITAL_DOMAIN)
                yield _service_box(
                    uid,
                    mail,
                    "ORG",
                    f"{service.capitalize()} {structure.attributes['o']}",
                    structure,
                    service,
                    f"Boîte organisationnelle {service}",
                )
            else:
                app = rng.choice(APPLICATIONS)
                mail = book.unique(f"{app}.{service}", acc.HOPITAL_DOMAIN)
                yield _service_box(
                    uid,
                    mail,
                    "APP",
                    f"{app.upper()} {service} {structure.attributes['o']}",
                    structure,
                    service,
                    f"Boîte applicative {app.upper()}",
                )


class _AddressBook:
    """Hands out unique addresses: ``local@domain``, then ``local.2@domain``, ... (O(1))."""

    def __init__(self, taken: set[str]) -> None:
        self._taken = set(taken)
        self._next: dict[str, int] = {}

    def unique(self, local: str, domain: str) -> str:
        key = f"{local}@{domain}"
        k = self._next.get(key, 1)
        candidate = key if k == 1 else f"{local}.{k}@{domain}"
        while candidate in self._taken:
            k += 1
            candidate = f"{local}.{k}@{domain}"
        self._next[key] = k + 1
        self._taken.add(candidate)
        return candidate


# --- rendering -------------------------------------------------------------------------------


def _ldif_line(attr: str, value: str) -> str:
    safe = (
        value.isascii()
        and value.isprintable()
        and not value.startswith((" ", ":", "<"))
        and not value.endswith(" ")
    )
    if safe:
        return f"{attr}: {value}"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}"


def _values(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["TRUE" if value else "FALSE"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def write_ldif(entries: Iterable[DirectoryEntry], out: IO[str]) -> None:
    """LDIF for ``slapadd`` (non-ASCII values base64-encoded, RFC 2849)."""
    for entry in entries:
        lines = [_ldif_line("dn", entry.dn)]
        for attr, value in entry.attributes.items():
            lines.extend(_ldif_line(attr, v) for v in _values(value))
        out.write("\n".join(lines) + "\n\n")


def write_jsonl(entries: Iterable[DirectoryEntry], out: IO[str]) -> None:
    """One JSON object per entry: ``kind``, ``dn`` and every attribute (LDAP names)."""
    for entry in entries:
        out.write(json.dumps(entry.as_json(), ensure_ascii=False) + "\n")


def write_seed(n: int, ldif_path: Path, jsonl_path: Path, *, seed: int = DEFAULT_SEED) -> int:
    """Write both renderings; returns the number of mailbox entries (``n``)."""
    entries = list(generate_directory(n, seed=seed))
    ldif_path.parent.mkdir(parents=True, exist_ok=True)
    jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        ldif_path.open("w", encoding="utf-8") as ldif,
        jsonl_path.open("w", encoding="utf-8") as js,
    ):
        write_ldif(entries, ldif)
        write_jsonl(entries, js)
    return sum(1 for e in entries if e.kind == "mailbox")
