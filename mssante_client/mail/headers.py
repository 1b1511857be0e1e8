"""MSSanté header rules: the X-MSS-* headers, the sender display name and header safety.

Pure functions, no I/O. Every header value that goes out passes :func:`safe_header_value`, so a
CR/LF (header injection) or another control character can never reach the wire.

Multi-valued ``X-MSS-CODECDA`` (ECO.2.4.1): the Référentiel text is not explicit; we emit ONE
header whose value is the codes joined by ``", "`` (as quoted by vendor compliance notes) and
we read both that form and repeated headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..errors import MessageError

__all__ = [
    "PATIENT_MAX_MESSAGE_SIZE",
    "X_MSS_CODECDA",
    "X_MSS_INS",
    "X_MSS_MES",
    "X_MSS_NIL",
    "entity_display_name",
    "format_codecda",
    "is_msg_id",
    "parse_codecda",
    "parse_ins_flag",
    "person_display_name",
    "safe_header_value",
    "validate_msg_id",
    "validate_nil",
]

X_MSS_NIL = "X-MSS-NIL"  # ECO.2.4.3: the software's reference number, on every mail
X_MSS_CODECDA = "X-MSS-CODECDA"  # ECO.2.4.1: CDA document type code(s) of the IHE_XDM package
X_MSS_INS = "X-MSS-INS"  # ECO.2.4.2: "O" if a qualified INS is in the package, else "N"
X_MSS_MES = "X-MSS-MES"  # ECO.2.2.8: "FIN" ends an exchange with a patient

#: Mon espace santé refuses messages over 25 MB in total (ENS Messagerie v1.3 §6).
PATIENT_MAX_MESSAGE_SIZE = 25 * 1024 * 1024

# Anything below 0x20 except TAB, and DEL: never valid inside an unstructured header value.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
# RFC 5322 msg-id, dot-atom-text / no-fold-literal on each side (we do not emit obsolete forms).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_MSG_ID = re.compile(rf"<{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[\x21-\x5a\x5e-\x7e]*\])>")


def safe_header_value(field: str, value: str, *, max_length: int = 998) -> str:
    """Return ``value`` if it can be put in a header as is, else raise MessageError.

    Refuses CR, LF, NUL and other control characters: a header value built from user data
    must not be able to start a new header (header injection).
    """
    if not isinstance(value, str):
        raise MessageError(field, f"expected text, got {type(value).__name__}")
    if _CONTROL.search(value):
        raise MessageError(field, "must not contain line breaks or control characters")
    if len(value) > max_length:
        raise MessageError(field, f"is longer than {max_length} characters")
    return value


def validate_nil(nil: str) -> str:
    """Check the X-MSS-NIL value (ECO.2.4.3), e.g. ``DEV935997``."""
    value = safe_header_value(X_MSS_NIL, nil).strip()
    if not _NIL.fullmatch(value):
        raise MessageError(X_MSS_NIL, "must be a product reference (letters, digits, . _ -)")
    return value


def validate_msg_id(field: str, value: str) -> str:
    """Check an RFC 5322 ``msg-id`` (``<left@right>``), e.g. for Message-ID or In-Reply-To."""
    value = safe_header_value(field, value).strip()
    if not _MSG_ID.fullmatch(value):
        raise MessageError(field, "must be an RFC 5322 message id like <id@domain>")
    return value


def is_msg_id(value: str | None) -> bool:
    """Whether ``value`` is an RFC 5322 msg-id we can write back (In-Reply-To, References)."""
    return bool(value) and _MSG_ID.fullmatch(value or "") is not None


def format_codecda(codes: Iterable[str]) -> str | None:
    """The X-MSS-CODECDA value for the given CDA type codes (ECO.2.4.1), None if there is none.

    Codes are de-duplicated keeping their order and joined by ``", "`` in one header.
    """
    seen: list[str] = []
    for code in codes:
        code = safe_header_value(X_MSS_CODECDA, code).strip()
        if not _CODE.fullmatch(code):
            raise MessageError(X_MSS_CODECDA, "a document type code must be a simple token")
        if code not in seen:
            seen.append(code)
    return ", ".join(seen) if seen else None


def parse_codecda(values: Sequence[str]) -> tuple[str, ...]:
    """Read X-MSS-CODECDA from one or several header values (comma or space separated)."""
    codes: list[str] = []
    for value in values:
        for token in re.split(r"[,;\s]+", value):
            if token and token not in codes:
                codes.append(token)
    return tuple(codes)


def parse_ins_flag(value: str | None) -> bool | None:
    """Read X-MSS-INS: ``O`` → True, ``N`` → False, absent or unknown → None."""
    if value is None:
        return None
    flag = value.strip().upper()
    if flag in {"O", "OUI", "Y", "YES"}:
        return True
    if flag in {"N", "NON", "NO"}:
        return False
    return None


def _name_part(field: str, value: str) -> str:
    value = safe_header_value(field, value, max_length=200).strip()
    if "_" in value:
        raise MessageError(field, "must not contain '_' (it separates the parts of the name)")
    if any(c in value for c in '<>"@'):
        raise MessageError(field, 'must not contain < > " or @')
    return " ".join(value.split())


def person_display_name(
    *,
    first_name: str,
    last_name: str,
    title: str | None = None,
    entity: str | None = None,
) -> str:
    """Display name of a personal (PER) mailbox: ``<Titre>_<Prénom>_<NOM>_<Entité>`` (ECO.2.2.7).

    Only first and last names are mandatory; NOM is upper-cased. Example:
    ``Dr_Marie_MARTIN_Cabinet Medical``.
    """
    parts: list[str] = []
    if title:
        parts.append(_name_part("title", title))
    first = _name_part("first_name", first_name)
    last = _name_part("last_name", last_name).upper()
    if not first or not last:
        raise MessageError("display_name", "first and last names are mandatory (ECO.2.2.7)")
    parts += [first, last]
    if entity:
        parts.append(_name_part("entity", entity))
    return "_".join(parts)


def entity_display_name(name: str) -> str:
    """Display name of an organisational / applicative mailbox: the functional entity name."""
    value = safe_header_value("display_name", name, max_length=200).strip()
    if not value:
        raise MessageError("display_name", "must not be empty (ECO.2.2.7)")
    if any(c in value for c in '<>"@'):
        raise MessageError("display_name", 'must not contain < > " or @')
    return " ".join(value.split())
