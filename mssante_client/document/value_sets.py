"""The CI-SIS value sets the header builder checks: J01, J02 and J04.

Data generated from the ANS kit by ``scripts/gen_catalogue.py`` into
``mssante_client/data/value_sets.json``. The header schematrons require ``displayName`` on these
codes and the profile schematron checks membership, so the builder looks codes up here: a bare
code gets its code system and display name, an unknown code is refused before anything is
written.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["VALUE_SET_NAMES", "lookup", "value_set_oid"]

VALUE_SET_NAMES = {
    "J01": "XdsAuthorSpecialty",
    "J02": "XdsHealthcareFacilityTypeCode",
    "J04": "XdsPracticeSettingCode",
}


@cache
def _data() -> dict[str, dict[str, object]]:
    raw = resources.files("mssante_client").joinpath("data/value_sets.json").read_text("utf-8")
    loaded: dict[str, dict[str, object]] = json.loads(raw)
    return loaded


@cache
def _index(name: str) -> dict[tuple[str, str | None], tuple[str, str]]:
    """(code, system) and (code, None) -> (system, display)."""
    concepts = _data()[name]["concepts"]
    assert isinstance(concepts, list)
    out: dict[tuple[str, str | None], tuple[str, str]] = {}
    for code, system, display in concepts:
        out.setdefault((code, None), (system, display))
        out[(code, system)] = (system, display)
    return out


def lookup(name: str, code: str, system: str | None = None) -> tuple[str, str] | None:
    """``(code_system, display_name)`` of ``code`` in value set ``name`` (``"J01"``...)."""
    return _index(name).get((code, system))


def value_set_oid(name: str) -> str:
    return str(_data()[name]["oid"])
