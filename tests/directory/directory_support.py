"""Helpers for the directory tests: an oracle computed from the sandbox's seed file.

The oracle reads ``seed.jsonl`` (every entry slapd was loaded with) and answers each criterion
with its own, deliberately simple code (its own accent folding), so LDAP results are checked
against data, not against the SDK's matching code.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

PERSON_TYPES = {"PER", "CAB"}


def simple_fold(text: str) -> str:
    """Accents and case away; hyphens/apostrophes as spaces (written apart from _text.fold)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    for sep in "-'’.":
        text = text.replace(sep, " ")
    return " ".join(text.split())


class Oracle:
    """Expected answers, computed from the seed file."""

    def __init__(self, seed_file: Path) -> None:
        lines = seed_file.read_text("utf-8").splitlines()
        entries = [json.loads(line) for line in lines]
        self.all = [e for e in entries if e["kind"] == "mailbox"]
        self.published = [e for e in self.all if not e.get("mssListeRouge")]

    @staticmethod
    def _matches(e: dict[str, Any], criterion: str, value: str) -> bool:
        person = e["mssTypeBAL"] in PERSON_TYPES
        get = e.get
        if criterion == "family_name":
            return person and simple_fold(get("sn", "")).startswith(simple_fold(value))
        if criterion == "given_name":
            return person and simple_fold(get("givenName", "")).startswith(simple_fold(value))
        exact = {
            "rpps": "mssRPPS",
            "id_nat_ps": "mssIdNatPS",
            "adeli": "mssADELI",
            "profession": "mssCodeProfession",
            "specialty": "mssCodeSavoirFaire",
            "postal_code": "postalCode",
            "department": "mssDepartement",
            "mailbox_type": "mssTypeBAL",
        }
        if criterion in exact:
            return get(exact[criterion]) == value
        if criterion == "finess":
            return get("mssFINESS") == value or get("mssIdNatStruct") == "1" + value
        if criterion == "city":
            return simple_fold(get("l", "")) == simple_fold(value)
        if criterion == "organisation":
            names = [get("o", "")] if person else [get("o", ""), get("displayName", "")]
            return any(simple_fold(value) in simple_fold(n) for n in names)
        if criterion == "text":
            hay = " | ".join(
                simple_fold(str(get(a, "")))
                for a in (
                    "sn",
                    "givenName",
                    "o",
                    "displayName",
                    "l",
                    "mail",
                    "ou",
                    "description",
                    "mssLibelleProfession",
                    "mssLibelleSavoirFaire",
                )
            )
            return all(w in hay for w in simple_fold(value).split())
        raise AssertionError(f"oracle does not know {criterion}")

    def expected(self, **criteria: str) -> set[str]:
        return {
            e["mail"]
            for e in self.published
            if all(self._matches(e, k, v) for k, v in criteria.items())
        }

    def first(self, **attrs: Any) -> dict[str, Any]:
        for e in self.published:
            if all(e.get(k) == v if v is not ... else k in e for k, v in attrs.items()):
                return e
        raise AssertionError(f"no seed entry with {attrs}")


def mails(results: Any) -> list[str]:
    return [str(e.mailboxes[0].address) for e in results]
