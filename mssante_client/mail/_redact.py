"""Scrub patient data out of text we did not write (server replies) before it reaches a log or an
exception message: a patient mailbox's local part is the INS (ECO.2.2.6)."""

from __future__ import annotations

import re

from ..identity import PATIENT_DOMAINS

__all__ = ["mask_address", "redact"]

_PATIENT = re.compile(
    r"[^\s<>@\"',;:]+@(" + "|".join(re.escape(d) for d in sorted(PATIENT_DOMAINS)) + r")\b",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every patient address replaced by ``<patient>@domain``."""
    return _PATIENT.sub(lambda m: f"<patient>@{m.group(1)}", text)


def mask_address(address: str) -> str:
    """One address, masked if it is a patient's."""
    return redact(address)
