"""Pure IMAP response parsing (RFC 3501 / 9051, CONDSTORE RFC 7162): no socket, no imaplib object.

The transport (:mod:`.imap`) hands in what ``imaplib`` collected — the data list of a FETCH (lines
and ``(line, literal)`` tuples), the untagged responses of a SELECT, capability lines — and gets
typed values back. Kept apart so that every rule about the wire format is testable on bytes.

Speed matters for :func:`parse_envelopes` (listing a 10,000-message folder): each FETCH response is
tokenised with one ``re.findall`` per line segment (literals spliced in, never re-scanned), then a
single loop with a stack builds the nested lists; dates are parsed lazily.
"""

from __future__ import annotations

import base64
import contextlib
import email.errors
import email.header
import email.utils
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..errors import IMAPError
from ._redact import mask_address

__all__ = [
    "Envelope",
    "EnvelopeAddress",
    "FetchItem",
    "FolderInfo",
    "IdleEvent",
    "SelectInfo",
    "decode_folder_name",
    "encode_folder_name",
    "parse_capabilities",
    "parse_copyuid",
    "parse_envelopes",
    "parse_fetch",
    "parse_idle_line",
    "parse_list",
    "parse_select",
    "quote",
]

# One token: ( ) "quoted" {literal} or an atom (which may carry a [section] with spaces, e.g.
# BODY[HEADER.FIELDS (FROM)] and a <partial> suffix).
_TOKEN = re.compile(
    rb'[()]|"[^"\\]*(?:\\.[^"\\]*)*"|\{\d+\+?\}$|[^\s()"\[{]+(?:\[[^\]]*\][^\s()"]*)?|\[[^\]]*\]'
)
_NIL = b"NIL"
_UNESCAPE = re.compile(rb"\\(.)")

Value = bytes | None | list["Value"]


# --- tokenising ----------------------------------------------------------------------------


def _responses(data: Iterable[bytes | tuple[bytes, bytes] | None]) -> Iterator[list[bytes]]:
    """Group imaplib's FETCH data into responses: [text, literal, text, literal, ..., text].

    imaplib appends ``(line_ending_in_{n}, literal)`` then the line that follows the literal; a
    plain ``bytes`` item not following a tuple starts a new response.
    """
    cur: list[bytes] | None = None
    after_literal = False
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            if after_literal and cur is not None:
                cur.extend(item)  # a second literal in the same response
            else:
                if cur is not None:
                    yield cur
                cur = [item[0], item[1]]
            after_literal = True
        elif after_literal and cur is not None:
            cur.append(item)  # the line that follows a literal: same response
            after_literal = False
        else:
            if cur is not None:
                yield cur
            cur = [item]
    if cur is not None:
        yield cur


def _parse_segments(segments: Sequence[bytes]) -> list[Value]:
    """Parse one response (texts at even indexes, literals at odd ones) into nested lists."""
    root: list[Value] = []
    cur = root
    stack: list[list[Value]] = []
    findall = _TOKEN.findall
    n = len(segments)
    for i in range(0, n, 2):
        for tok in findall(segments[i]):
            c = tok[0]
            if c == 40:  # (
                new: list[Value] = []
                cur.append(new)
                stack.append(cur)
                cur = new
            elif c == 41:  # )
                if not stack:
                    raise IMAPError("unbalanced parenthesis in a server response")
                cur = stack.pop()
            elif c == 34:  # "
                s = tok[1:-1]
                cur.append(_UNESCAPE.sub(rb"\1", s) if b"\\" in s else s)
            elif c == 123:  # {n} : the literal follows as the next segment
                if i + 1 < n:
                    cur.append(segments[i + 1])
            elif tok == _NIL:
                cur.append(None)
            else:
                cur.append(tok)
    if stack:
        raise IMAPError("truncated server response (unclosed parenthesis)")
    return root


def tokenize(line: bytes) -> list[Value]:
    """Parse one response line without literals (handy for STATUS, LIST, tests)."""
    return _parse_segments([line])


# --- strings --------------------------------------------------------------------------------


def _text(v: Value) -> str | None:
    if v is None or isinstance(v, list):
        return None
    s = v.decode("utf-8", "replace")
    if "\n" in s:  # a folded header arrives as a literal: unfold (RFC 5322 §2.2.3)
        s = s.replace("\r\n", "").replace("\n", "")
    if "=?" in s:
        with contextlib.suppress(LookupError, ValueError, email.errors.HeaderParseError):
            s = str(email.header.make_header(email.header.decode_header(s)))
    return s


def quote(s: str) -> str:
    """An IMAP quoted string (for folder names and search keys)."""
    if any(c in s for c in "\r\n\x00"):
        raise IMAPError("a quoted IMAP string cannot hold CR, LF or NUL")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- modified UTF-7 folder names (RFC 3501 §5.1.3) -----------------------------------------


def decode_folder_name(raw: bytes | str) -> str:
    """Decode an IMAP modified-UTF-7 mailbox name."""
    s = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    if "&" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "&":
            out.append(c)
            i += 1
            continue
        j = s.find("-", i)
        if j < 0:
            raise IMAPError("malformed modified UTF-7 mailbox name")
        chunk = s[i + 1 : j]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise IMAPError("malformed modified UTF-7 mailbox name") from exc
        i = j + 1
    return "".join(out)


def encode_folder_name(name: str) -> str:
    """Encode a mailbox name to IMAP modified UTF-7."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            buf.clear()

    for c in name:
        if 0x20 <= ord(c) <= 0x7E:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            buf.append(c)
    flush()
    return "".join(out)


# --- capabilities, SELECT, LIST -----------------------------------------------------------


def parse_capabilities(lines: Iterable[bytes]) -> frozenset[str]:
    """Capability names (upper-case) from CAPABILITY data or an ``[CAPABILITY ...]`` code."""
    caps: set[str] = set()
    for line in lines:
        text = line.decode("ascii", "replace")
        if text.startswith("[CAPABILITY "):
            text = text[len("[CAPABILITY ") : text.index("]")]
        caps.update(w.upper() for w in text.split())
    caps.discard("CAPABILITY")
    return frozenset(caps)


@dataclass(frozen=True, slots=True)
class SelectInfo:
    """What a SELECT told us about a folder."""

    exists: int
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None  # None when the server has no CONDSTORE (or NOMODSEQ)
    flags: frozenset[str]


def _first_int(values: Sequence[object] | None) -> int | None:
    if not values:
        return None
    v = values[-1]
    if isinstance(v, bytes):
        m = re.match(rb"\s*(\d+)", v)
        if m:
            return int(m.group(1))
    return None


def parse_select(untagged: Mapping[str, Sequence[object]]) -> SelectInfo:
    """Build :class:`SelectInfo` from imaplib's untagged responses after SELECT/EXAMINE."""
    uidvalidity = _first_int(untagged.get("UIDVALIDITY"))
    exists = _first_int(untagged.get("EXISTS"))
    if uidvalidity is None or exists is None:
        raise IMAPError("the server did not report UIDVALIDITY/EXISTS for the folder")
    flags: frozenset[str] = frozenset()
    raw_flags = untagged.get("FLAGS")
    if raw_flags and isinstance(raw_flags[-1], bytes):
        parsed = tokenize(raw_flags[-1])
        if parsed and isinstance(parsed[0], list):
            flags = frozenset(f.decode() for f in parsed[0] if isinstance(f, bytes))
    return SelectInfo(
        exists=exists,
        uidvalidity=uidvalidity,
        uidnext=_first_int(untagged.get("UIDNEXT")),
        highestmodseq=_first_int(untagged.get("HIGHESTMODSEQ")),
        flags=flags,
    )


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """One LIST entry."""

    name: str
    delimiter: str | None
    attributes: frozenset[str]

    @property
    def selectable(self) -> bool:
        return "\\NOSELECT" not in {a.upper() for a in self.attributes}


def parse_list(data: Iterable[bytes | tuple[bytes, bytes] | None]) -> list[FolderInfo]:
    """Parse LIST responses: ``(\\HasNoChildren) "/" "INBOX"`` (name may be a literal)."""
    out: list[FolderInfo] = []
    for segs in _responses(data):
        parts = _parse_segments(segs)
        if len(parts) < 3 or not isinstance(parts[0], list):
            raise IMAPError("malformed LIST response")
        attrs = frozenset(a.decode() for a in parts[0] if isinstance(a, bytes))
        delim = parts[1].decode() if isinstance(parts[1], bytes) else None
        name = parts[2]
        if not isinstance(name, bytes):
            raise IMAPError("malformed LIST response (no name)")
        out.append(FolderInfo(decode_folder_name(name), delim, attrs))
    return out


def parse_copyuid(code: bytes | None) -> dict[int, int]:
    """Old UID -> new UID from a ``[COPYUID validity src dst]`` response code (UIDPLUS)."""
    if not code:
        return {}
    m = re.search(rb"COPYUID \d+ ([\d:,]+) ([\d:,]+)", code)
    if not m:
        return {}
    src, dst = _expand(m.group(1)), _expand(m.group(2))
    return dict(zip(src, dst, strict=False))


def _expand(uidset: bytes) -> list[int]:
    out: list[int] = []
    for part in uidset.split(b","):
        if b":" in part:
            a, b = (int(x) for x in part.split(b":"))
            step = 1 if b >= a else -1
            out.extend(range(a, b + step, step))
        else:
            out.append(int(part))
    return out


# --- FETCH ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One FETCH response: the message sequence number and its data items (keys upper-case)."""

    seq: int
    items: dict[str, Value]

    @property
    def uid(self) -> int | None:
        v = self.items.get("UID")
        return int(v) if isinstance(v, bytes) else None


def _items(pairs: list[Value]) -> dict[str, Value]:
    it = iter(pairs)
    out: dict[str, Value] = {}
    for key in it:
        if not isinstance(key, bytes):
            raise IMAPError("malformed FETCH response (item name)")
        out[key.decode("ascii", "replace").upper()] = next(it, None)
    return out


def parse_fetch(data: Iterable[bytes | tuple[bytes, bytes] | None]) -> list[FetchItem]:
    """Parse FETCH data as returned by ``imaplib`` (``b'12 (UID 40 FLAGS (\\Seen) ...)'``)."""
    out: list[FetchItem] = []
    for segs in _responses(data):
        parts = _parse_segments(segs)
        if len(parts) < 2 or not isinstance(parts[0], bytes) or not isinstance(parts[1], list):
            raise IMAPError("malformed FETCH response")
        if not parts[0].isdigit():
            continue  # not a FETCH (e.g. an unsolicited response mixed in)
        out.append(FetchItem(int(parts[0]), _items(parts[1])))
    return out


def flags_of(v: Value) -> frozenset[str]:
    """FLAGS value -> frozenset of flag names."""
    if not isinstance(v, list):
        return frozenset()
    return frozenset(f.decode("ascii", "replace") for f in v if isinstance(f, bytes))


# --- ENVELOPE ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeAddress:
    """One address of an ENVELOPE: display name (decoded) and ``local@domain``."""

    name: str | None
    address: str

    def __str__(self) -> str:
        return email.utils.formataddr((self.name or "", self.address))

    def __repr__(self) -> str:
        # a patient's address is its INS, and its display name the patient's name
        if mask_address(self.address) != self.address:
            return f"EnvelopeAddress(name=<hidden>, address={mask_address(self.address)!r})"
        return f"EnvelopeAddress(name={self.name!r}, address={self.address!r})"


class Envelope(NamedTuple):
    """A message's summary from ``UID FETCH (UID FLAGS RFC822.SIZE ENVELOPE [MODSEQ])``.

    Immutable. A NamedTuple rather than a frozen dataclass because a folder listing builds
    thousands of them and a tuple is several times cheaper to construct. ``date`` is parsed on
    access (it is the slow part and listings rarely need all of them).
    """

    uid: int
    flags: frozenset[str]
    size: int
    date_header: str | None
    subject: str | None
    sender: tuple[EnvelopeAddress, ...]
    from_: tuple[EnvelopeAddress, ...]
    reply_to: tuple[EnvelopeAddress, ...]
    to: tuple[EnvelopeAddress, ...]
    cc: tuple[EnvelopeAddress, ...]
    in_reply_to: str | None
    message_id: str | None
    modseq: int | None = None

    def __repr__(self) -> str:
        # the subject of a document mail names the patient (ECO.2.1.3): not shown
        return (
            f"Envelope(uid={self.uid}, flags={sorted(self.flags)}, size={self.size}, "
            f"from={list(self.from_)!r}, to={list(self.to)!r}, message_id={self.message_id!r})"
        )

    @property
    def date(self) -> datetime | None:
        if not self.date_header:
            return None
        try:
            return email.utils.parsedate_to_datetime(self.date_header)
        except (TypeError, ValueError):
            return None

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags

    @property
    def recipients(self) -> tuple[EnvelopeAddress, ...]:
        return self.to + self.cc


def _addresses(v: Value) -> tuple[EnvelopeAddress, ...]:
    if not isinstance(v, list):
        return ()
    out: list[EnvelopeAddress] = []
    for a in v:
        if not isinstance(a, list) or len(a) != 4:
            continue
        mailbox, host = a[2], a[3]
        if host is None or not isinstance(mailbox, bytes) or not isinstance(host, bytes):
            continue  # RFC 3501 group start/end markers
        name = a[0]
        out.append(
            EnvelopeAddress(
                _text(name) if name is not None else None,
                (mailbox + b"@" + host).decode("utf-8", "replace"),
            )
        )
    return tuple(out)


def _envelope(uid: int, items: dict[str, Value]) -> Envelope:
    env = items.get("ENVELOPE")
    if not isinstance(env, list) or len(env) < 10:
        raise IMAPError("malformed ENVELOPE in FETCH response")
    size = items.get("RFC822.SIZE")
    modseq = items.get("MODSEQ")
    date = env[0]
    return Envelope(
        uid=uid,
        flags=flags_of(items.get("FLAGS")),
        size=int(size) if isinstance(size, bytes) else 0,
        date_header=date.decode("ascii", "replace") if isinstance(date, bytes) else None,
        subject=_text(env[1]),
        from_=_addresses(env[2]),
        sender=_addresses(env[3]),
        reply_to=_addresses(env[4]),
        to=_addresses(env[5]),
        cc=_addresses(env[6]),
        in_reply_to=_text(env[8]),
        message_id=_text(env[9]),
        modseq=int(modseq[0])
        if isinstance(modseq, list) and modseq and isinstance(modseq[0], bytes)
        else None,
    )


# Fast path for the common case (no backslash in the ENVELOPE's quoted strings): the ENVELOPE
# s-expression is turned into JSON with a few C-level bytes operations (outside the quoted strings
# only: parens -> brackets, spaces -> commas, NIL -> null; literals, e.g. a folded subject, become
# JSON strings) and decoded by the C JSON parser. This is what makes a 10,000-message listing
# cheap. Anything else goes through the generic tokenizer.
_OUTSIDE = bytes.maketrans(b"() ", b"[],")
_JSON = json.JSONDecoder()
_UID_RE = re.compile(rb"\bUID (\d+)")
_SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")
_MODSEQ_RE = re.compile(rb"\bMODSEQ \((\d+)\)")
_MODSEQ_TAIL_RE = re.compile(r"MODSEQ,\[([0-9]+)\]")
_EnvJSON = list[Any]
_LITERAL_MARK = re.compile(rb"\{\d+\+?\}$")


def _to_json_text(text: bytes) -> bytes | None:
    """One text segment of the ENVELOPE (no literal inside) translated to JSON syntax."""
    if b"\\" in text:
        return None  # an escaped quote would break the split on '"'
    parts = text.split(b'"')
    if len(parts) % 2 == 0:
        return None
    outside = b"\x00".join(parts[0::2]).translate(_OUTSIDE)
    outside = outside.replace(b"NIL", b"null").replace(b"][", b"],[")
    parts[0::2] = outside.split(b"\x00")
    return b'"'.join(parts)


def _envelope_json(
    texts: Sequence[bytes], literals: Sequence[bytes]
) -> tuple[_EnvJSON, str] | None:
    """The ENVELOPE list parsed through JSON, and the (translated) text after it.

    ``texts`` are the text segments from the ENVELOPE's opening parenthesis on, ``literals`` the
    literals between them (each one becomes a JSON string; its ``{n}`` marker is dropped).
    """
    pieces: list[bytes] = []
    for k, text in enumerate(texts):
        if k < len(literals):
            text = _LITERAL_MARK.sub(b"", text)
        translated = _to_json_text(text)
        if translated is None:
            return None
        pieces.append(translated)
        if k < len(literals):
            pieces.append(json.dumps(literals[k].decode("utf-8", "replace")).encode("ascii"))
    try:
        text_all = b"".join(pieces).decode("utf-8")
        obj, end = _JSON.raw_decode(text_all)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, list) or len(obj) != 10:
        return None
    return obj, text_all[end:]


def _str(v: object) -> str | None:
    if not isinstance(v, str):
        return None
    if "\n" in v:  # a folded header arrives as a literal: unfold (RFC 5322 §2.2.3)
        v = v.replace("\r\n", "").replace("\n", "")
    if "=?" in v:
        with contextlib.suppress(LookupError, ValueError, email.errors.HeaderParseError):
            return str(email.header.make_header(email.header.decode_header(v)))
    return v


class _Fast:
    """Per-call caches: senders, recipients and flag sets repeat across a folder."""

    __slots__ = ("addr", "flags")

    def __init__(self) -> None:
        self.addr: dict[tuple[object, ...], EnvelopeAddress] = {}
        self.flags: dict[bytes, frozenset[str]] = {}

    def addresses(self, v: object) -> tuple[EnvelopeAddress, ...]:
        if not isinstance(v, list):
            return ()
        out: list[EnvelopeAddress] = []
        cache = self.addr
        for a in v:
            try:
                name, _adl, mailbox, host = a
            except (TypeError, ValueError):
                continue
            if host is None or mailbox is None:
                continue  # RFC 3501 group start/end markers
            key = (name, mailbox, host)
            hit = cache.get(key)
            if hit is None:
                hit = EnvelopeAddress(_str(name), f"{mailbox}@{host}")
                cache[key] = hit
            out.append(hit)
        return tuple(out)

    def flag_set(self, raw: bytes) -> frozenset[str]:
        hit = self.flags.get(raw)
        if hit is None:
            hit = frozenset(raw.decode("ascii", "replace").split())
            self.flags[raw] = hit
        return hit

    def envelope(self, segs: Sequence[bytes], min_uid: int) -> Envelope | bool | None:
        """The envelope, None to skip it, False when the fast path does not apply."""
        line = segs[0]
        i = line.find(b"ENVELOPE (")
        if i < 0:
            return False
        head = line[:i]
        um = _UID_RE.search(head)
        if um is None:
            return False
        uid = int(um.group(1))
        if uid <= min_uid:
            return None
        parsed = _envelope_json([line[i + 9 :], *segs[2::2]], segs[1::2])
        if parsed is None:
            return False
        g, tail = parsed
        sm = _SIZE_RE.search(head)
        fm = _FLAGS_RE.search(head)
        mm = _MODSEQ_RE.search(head)
        modseq = int(mm.group(1)) if mm else None
        if modseq is None and "MODSEQ" in tail:
            tm = _MODSEQ_TAIL_RE.search(tail)
            modseq = int(tm.group(1)) if tm else None
        date = g[0]
        from_ = self.addresses(g[2])
        return Envelope(
            uid=uid,
            flags=self.flag_set(fm.group(1)) if fm else frozenset(),
            size=int(sm.group(1)) if sm else 0,
            date_header=date if isinstance(date, str) else None,
            subject=_str(g[1]),
            from_=from_,
            sender=from_ if g[3] == g[2] else self.addresses(g[3]),
            reply_to=from_ if g[4] == g[2] else self.addresses(g[4]),
            to=self.addresses(g[5]),
            cc=self.addresses(g[6]),
            in_reply_to=_str(g[8]),
            message_id=_str(g[9]),
            modseq=modseq,
        )


def parse_envelopes(
    data: Iterable[bytes | tuple[bytes, bytes] | None], *, min_uid: int = 0
) -> list[Envelope]:
    """Typed envelopes from ``UID FETCH ... (UID FLAGS RFC822.SIZE ENVELOPE)`` data.

    Responses without an ENVELOPE (unsolicited flag updates) and UIDs not above ``min_uid`` are
    skipped: ``UID FETCH n:*`` returns the last message even when its UID is below ``n``.
    """
    out: list[Envelope] = []
    fast = _Fast()
    for segs in _responses(data):
        env = fast.envelope(segs, min_uid)
        if env is None:
            continue
        if env is not False:
            assert isinstance(env, Envelope)
            out.append(env)
            continue
        parts = _parse_segments(segs)
        if len(parts) < 2 or not isinstance(parts[1], list):
            raise IMAPError("malformed FETCH response")
        items = _items(parts[1])
        uid_v = items.get("UID")
        if not isinstance(uid_v, bytes) or "ENVELOPE" not in items:
            continue
        uid = int(uid_v)
        if uid > min_uid:
            out.append(_envelope(uid, items))
    return out


# --- IDLE -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdleEvent:
    """An untagged line received during IDLE (RFC 2177)."""

    kind: str  # EXISTS, EXPUNGE, FETCH, RECENT, BYE, CONTINUATION, OK, OTHER
    number: int | None = None


_IDLE_LINE = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE|FETCH|RECENT)\b|^\* (BYE|OK|NO|BAD)\b|^\+")


def parse_idle_line(line: bytes) -> IdleEvent:
    """Classify one line read while idling."""
    m = _IDLE_LINE.match(line)
    if m is None:
        return IdleEvent("OTHER")
    if m.group(2):
        return IdleEvent(m.group(2).decode(), int(m.group(1)))
    if m.group(3):
        return IdleEvent(m.group(3).decode())
    return IdleEvent("CONTINUATION")
