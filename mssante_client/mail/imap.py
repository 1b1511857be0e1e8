"""IMAP transport over ``imaplib`` (ECO.1.0.2): STARTTLS, SASL, folders, UID operations, IDLE.

The edge: the socket, TLS and imaplib live here; responses are handed to :mod:`.imap_parse`
(pure) and every imaplib / ssl / socket error is translated into errors.py. Rules:

* STARTTLS on port 143 by default; a server that does not offer it raises
  :class:`TLSRequiredError` before any credential is sent. AUTHENTICATE only (never LOGIN, whose
  command line imaplib would keep in its debug log).
* One connection per mailbox, opened lazily and reused; an operation that finds it dead is replayed
  once on a fresh connection (all operations here are idempotent: UID based).
* CONDSTORE (RFC 7162) is enabled when offered, so SELECT reports HIGHESTMODSEQ.
* IDLE (RFC 2177): imaplib 3.11 has none, so it is done here on imaplib's socket: send ``IDLE``,
  wait with ``select`` for an untagged line, send ``DONE``; restarted before the server's 30-minute
  cut (``restart_every``), and reconnected after a dropped connection.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLostError,
    IMAPError,
    TLSRequiredError,
    TokenError,
)
from ..errors import TimeoutError as MssTimeoutError
from ..tls import translate_ssl_error
from . import sasl
from ._redact import mask_address, redact
from .credentials import Credentials, OAuth2Token
from .endpoint import Endpoint, Security, error_ack, initial_response
from .imap_parse import (
    Envelope,
    FetchItem,
    FolderInfo,
    SelectInfo,
    encode_folder_name,
    flags_of,
    parse_capabilities,
    parse_envelopes,
    parse_fetch,
    parse_idle_line,
    parse_list,
    parse_select,
    quote,
)

__all__ = ["ENVELOPE_ITEMS", "FetchedMessage", "ImapTransport", "uid_set"]

_log = logging.getLogger("mssante_client.mail")
T = TypeVar("T")

#: The data items of a listing (what the benchmark compares with a raw imaplib fetch).
ENVELOPE_ITEMS = "(UID FLAGS RFC822.SIZE ENVELOPE)"

_TRANSPORT_ERRORS = (imaplib.IMAP4.abort, OSError, EOFError)
# untagged data that piles up in imaplib between commands (unsolicited updates)
_VOLATILE = ("EXISTS", "RECENT", "EXPUNGE", "FETCH", "HIGHESTMODSEQ")


class _Lost(Exception):
    """The connection dropped while idling."""


def uid_set(uids: Iterable[int]) -> str:
    """A compact UID set (``1:3,7``) for UID commands."""
    values = sorted({int(u) for u in uids})
    if not values or values[0] <= 0:
        raise IMAPError("a UID set needs positive UIDs")
    parts: list[str] = []
    start = prev = values[0]
    for v in values[1:]:
        if v == prev + 1:
            prev = v
            continue
        parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = v
    parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """Raw bytes of one message and its flags."""

    uid: int
    flags: frozenset[str]
    raw: bytes


def _folder(name: str) -> str:
    return quote(encode_folder_name(name))


@dataclass(eq=False)
class ImapTransport:
    """One lazily opened, reused IMAP connection for one mailbox."""

    endpoint: Endpoint
    user: str
    credentials: Credentials = field(repr=False)
    context_factory: Callable[[], ssl.SSLContext] = field(repr=False)
    _conn: imaplib.IMAP4 | None = field(default=None, init=False, repr=False)
    _caps: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    _selected: str | None = field(default=None, init=False, repr=False)
    _select_info: SelectInfo | None = field(default=None, init=False, repr=False)

    @property
    def _where(self) -> str:
        return f"IMAP {self.endpoint}"

    # -- connection ------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        self.connection()
        return self._caps

    def connection(self) -> imaplib.IMAP4:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._selected = None
        if conn is None:
            return
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            _shutdown(conn)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._selected = None
        if conn is not None:
            _shutdown(conn)

    def _open(self) -> imaplib.IMAP4:
        where = self._where
        ep = self.endpoint
        ctx = self.context_factory()
        conn: imaplib.IMAP4
        try:
            if self.endpoint.security is Security.IMPLICIT:
                conn = imaplib.IMAP4_SSL(ep.host, ep.port, ssl_context=ctx, timeout=ep.timeout)
            else:
                conn = imaplib.IMAP4(ep.host, ep.port, timeout=ep.timeout)
        except ssl.SSLError as exc:
            raise translate_ssl_error(exc, where) from exc
        except TimeoutError as exc:
            raise MssTimeoutError(f"{where}: connection timed out") from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ConnectError(f"{where}: cannot connect ({exc.__class__.__name__})") from exc
        with contextlib.suppress(OSError):  # imaplib writes a literal and its CRLF apart
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.endpoint.security is Security.STARTTLS:
                if "STARTTLS" not in {c.upper() for c in conn.capabilities}:
                    raise TLSRequiredError(f"{where}: the server does not offer STARTTLS")
                try:
                    conn.starttls(ssl_context=ctx)
                except ssl.SSLError as exc:
                    raise translate_ssl_error(exc, where) from exc
                except imaplib.IMAP4.error as exc:
                    raise TLSRequiredError(f"{where}: STARTTLS failed") from exc
            if not isinstance(conn.sock, ssl.SSLSocket):  # pragma: no cover - guarded above
                raise TLSRequiredError(f"{where}: refusing to authenticate without TLS")
            self._authenticate(conn)
            self._caps = self._fresh_capabilities(conn)
            if "CONDSTORE" in self._caps and "ENABLE" in self._caps:
                conn.enable("CONDSTORE")
        except _TRANSPORT_ERRORS as exc:
            _shutdown(conn)
            if isinstance(exc, ssl.SSLError):
                raise translate_ssl_error(exc, where) from exc
            raise ConnectionLostError(f"{where}: connection lost while opening") from exc
        except imaplib.IMAP4.error as exc:
            _shutdown(conn)
            raise IMAPError(f"{where}: the server refused a command while opening") from exc
        except BaseException:
            _shutdown(conn)
            raise
        _log.debug("%s: connected and authenticated as %s", where, mask_address(self.user))
        return conn

    @staticmethod
    def _fresh_capabilities(conn: imaplib.IMAP4) -> frozenset[str]:
        _typ, data = conn.capability()
        return parse_capabilities(d for d in data if isinstance(d, bytes))

    # -- authentication ----------------------------------------------------------------------

    def _authenticate(self, conn: imaplib.IMAP4) -> None:
        token = isinstance(self.credentials, OAuth2Token)
        for attempt in (1, 2):  # ECO.1.2.7: a refused token is retried once with a fresh one
            response = initial_response(self.credentials, self.user, self.endpoint)
            if response is None:
                return  # identity from the TLS client certificate alone
            try:
                self._auth(conn, response, token=token)
                return
            except TokenError:
                if attempt == 2:
                    raise
                _log.debug("%s: token refused, asking the provider again", self._where)
            finally:
                del response

    def _auth(self, conn: imaplib.IMAP4, response: sasl.InitialResponse, *, token: bool) -> None:
        mech = response.mechanism.value
        if f"AUTH={mech}" not in {c.upper() for c in conn.capabilities}:
            raise AuthenticationError(f"{self._where}: the server does not offer {mech}")
        ack = error_ack(response.mechanism)
        # A one-shot closure: the payload is dropped as soon as the exchange ends.
        state: list[bytes | None] = [response.payload]

        def step(_challenge: bytes) -> bytes:
            payload, state[0] = state[0], None
            return payload if payload is not None else ack

        del response
        try:
            conn.authenticate(mech, step)
        except imaplib.IMAP4.abort as exc:
            raise ConnectionLostError(f"{self._where}: connection lost during {mech}") from exc
        except imaplib.IMAP4.error:
            err = TokenError if token else AuthenticationError
            raise err(f"{self._where}: AUTHENTICATE {mech} refused") from None
        finally:
            state[0] = None

    # -- running operations ------------------------------------------------------------------

    def _run(self, what: str, op: Callable[[imaplib.IMAP4], T]) -> T:
        """Run ``op`` on the connection, replaying it once on a fresh one if it dropped."""
        for attempt in (1, 2):
            conn = self.connection()
            try:
                return op(conn)
            except _TRANSPORT_ERRORS as exc:
                self._drop()
                if attempt == 2:
                    raise ConnectionLostError(f"{self._where}: connection lost ({what})") from exc
                _log.debug("%s: connection lost during %s; reopening once", self._where, what)
            except imaplib.IMAP4.error as exc:
                raise IMAPError(f"{self._where}: {what} failed: {redact(str(exc))}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _ok(typ: str, data: Sequence[Any], what: str) -> None:
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise imaplib.IMAP4.error(f"{what}: {typ} {text}")

    def _select(self, conn: imaplib.IMAP4, folder: str, *, force: bool = False) -> SelectInfo:
        if self._selected == folder and self._select_info is not None and not force:
            return self._select_info
        typ, data = conn.select(_folder(folder))
        self._ok(typ, data, f"SELECT {folder}")
        untagged: dict[str, Sequence[object]] = dict(conn.untagged_responses)
        untagged["EXISTS"] = data
        info = parse_select(untagged)
        self._selected, self._select_info = folder, info
        return info

    # -- operations --------------------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        def op(conn: imaplib.IMAP4) -> list[FolderInfo]:
            typ, data = conn.list('""', "*")
            self._ok(typ, data, "LIST")
            return parse_list(data)

        return self._run("LIST", op)

    def select(self, folder: str, *, quick: bool = False) -> SelectInfo:
        """Counters of ``folder``: a fresh SELECT (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ).

        ``quick=True``: if the folder is already selected on this connection, a NOOP is enough
        (UIDVALIDITY cannot change while selected; reopening a large folder costs the server far
        more). The result then has ``uidnext`` and ``highestmodseq`` set to None (unknown).
        """

        def op(conn: imaplib.IMAP4) -> SelectInfo:
            cached = self._select_info
            if not quick or self._selected != folder or cached is None:
                return self._select(conn, folder, force=True)
            for key in _VOLATILE:
                conn.untagged_responses.pop(key, None)
            typ, data = conn.noop()
            self._ok(typ, data, "NOOP")
            exists = conn.untagged_responses.pop("EXISTS", None)
            for key in _VOLATILE:
                conn.untagged_responses.pop(key, None)
            last = exists[-1] if exists else None
            count = int(last) if isinstance(last, bytes) else cached.exists
            self._select_info = SelectInfo(count, cached.uidvalidity, None, None, cached.flags)
            return self._select_info

        return self._run("SELECT", op)

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.capabilities

    def envelopes(
        self, folder: str, uid_range: str, *, min_uid: int = 0, modseq: bool = False
    ) -> list[Envelope]:
        """Typed envelopes of ``uid_range`` in ``folder`` (one ``UID FETCH``).

        ``modseq=True`` also asks for MODSEQ (CONDSTORE), to advance a sync watermark.
        """
        items = ENVELOPE_ITEMS[:-1] + " MODSEQ)" if modseq else ENVELOPE_ITEMS

        def op(conn: imaplib.IMAP4) -> list[Envelope]:
            self._select(conn, folder)
            typ, data = conn.uid("FETCH", uid_range, items)
            self._ok(typ, data, "UID FETCH")
            return parse_envelopes(data, min_uid=min_uid)

        return self._run("UID FETCH envelopes", op)

    def changed_flags(
        self, folder: str, uid_range: str, modseq: int
    ) -> tuple[dict[int, frozenset[str]], int | None]:
        """Flags of messages in ``uid_range`` changed since ``modseq`` (CONDSTORE CHANGEDSINCE),
        and the highest MODSEQ among them."""

        def op(conn: imaplib.IMAP4) -> tuple[dict[int, frozenset[str]], int | None]:
            self._select(conn, folder)
            typ, data = conn.uid("FETCH", uid_range, f"(UID FLAGS) (CHANGEDSINCE {modseq})")
            self._ok(typ, data, "UID FETCH CHANGEDSINCE")
            out: dict[int, frozenset[str]] = {}
            top: int | None = None
            for item in parse_fetch(data):
                if item.uid is None:
                    continue
                out[item.uid] = flags_of(item.items.get("FLAGS"))
                ms = item.items.get("MODSEQ")
                if isinstance(ms, list) and ms and isinstance(ms[0], bytes):
                    top = max(top or 0, int(ms[0]))
            return out, top

        return self._run("UID FETCH CHANGEDSINCE", op)

    def fetch(self, folder: str, uids: Iterable[int]) -> list[FetchedMessage]:
        """Whole messages (``BODY.PEEK[]``: fetching does not mark them seen)."""
        return self.fetch_range(folder, uid_set(uids))

    def fetch_range(self, folder: str, uidset: str, min_uid: int = 0) -> list[FetchedMessage]:
        """Whole messages of a UID set such as ``41:*``, skipping UIDs <= ``min_uid``."""

        def op(conn: imaplib.IMAP4) -> list[FetchedMessage]:
            self._select(conn, folder)
            typ, data = conn.uid("FETCH", uidset, "(UID FLAGS BODY.PEEK[])")
            self._ok(typ, data, "UID FETCH BODY")
            found = (self._fetched(i) for i in parse_fetch(data))
            return [m for m in found if m is not None and m.uid > min_uid]

        return self._run("UID FETCH BODY", op)

    @staticmethod
    def _fetched(item: FetchItem) -> FetchedMessage | None:
        raw = item.items.get("BODY[]")
        if item.uid is None or not isinstance(raw, bytes):
            return None
        return FetchedMessage(item.uid, flags_of(item.items.get("FLAGS")), raw)

    def store(self, folder: str, uids: Iterable[int], flags: str, *, add: bool = True) -> None:
        """Add (or remove) ``flags`` (e.g. ``\\Seen``) on ``uids``."""
        uidset = uid_set(uids)

        def op(conn: imaplib.IMAP4) -> None:
            self._select(conn, folder)
            typ, data = conn.uid(
                "STORE", uidset, "+FLAGS.SILENT" if add else "-FLAGS.SILENT", f"({flags})"
            )
            self._ok(typ, data, "UID STORE")

        self._run("UID STORE", op)

    def move(self, folder: str, uids: Iterable[int], destination: str) -> None:
        """MOVE (RFC 6851) when offered; else COPY + \\Deleted + UID EXPUNGE (UIDPLUS)."""
        uidset = uid_set(uids)
        dest = _folder(destination)

        def op(conn: imaplib.IMAP4) -> None:
            self._select(conn, folder)
            if "MOVE" in self._caps:
                typ, data = conn.uid("MOVE", uidset, dest)
                self._ok(typ, data, "UID MOVE")
                return
            typ, data = conn.uid("COPY", uidset, dest)
            self._ok(typ, data, "UID COPY")
            self._expunge(conn, uidset)

        self._run("MOVE", op)

    def delete(self, folder: str, uids: Iterable[int]) -> None:
        """Flag ``\\Deleted`` and expunge exactly these UIDs."""
        uidset = uid_set(uids)

        def op(conn: imaplib.IMAP4) -> None:
            self._select(conn, folder)
            self._expunge(conn, uidset)

        self._run("DELETE", op)

    def _expunge(self, conn: imaplib.IMAP4, uidset: str) -> None:
        if "UIDPLUS" not in self._caps:
            raise IMAPError(f"{self._where}: no UIDPLUS; refusing a folder-wide EXPUNGE")
        typ, data = conn.uid("STORE", uidset, "+FLAGS.SILENT", "(\\Deleted)")
        self._ok(typ, data, "UID STORE \\Deleted")
        typ, data = conn.uid("EXPUNGE", uidset)
        self._ok(typ, data, "UID EXPUNGE")

    def append(self, folder: str, raw: bytes, flags: str = "") -> None:
        """Store ``raw`` in ``folder`` (e.g. a copy in Sent, or filling a test folder)."""

        def op(conn: imaplib.IMAP4) -> None:
            typ, data = conn.append(_folder(folder), f"({flags})" if flags else None, None, raw)
            self._ok(typ, data, "APPEND")

        self._run("APPEND", op)

    def create_folder(self, folder: str) -> None:
        def op(conn: imaplib.IMAP4) -> None:
            typ, data = conn.create(_folder(folder))
            if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(
                d for d in data if isinstance(d, bytes)
            ):
                self._ok(typ, data, "CREATE")

        self._run("CREATE", op)

    # -- IDLE --------------------------------------------------------------------------------

    def idle(
        self,
        folder: str,
        timeout: float,
        *,
        restart_every: float = 25 * 60,
        reconnect_delay: float = 0.5,
    ) -> bool:
        """Wait until a new message arrives in ``folder`` (True) or ``timeout`` passes (False).

        IDLE is re-issued every ``restart_every`` seconds (servers may cut an IDLE after 30
        minutes, RFC 2177). A dropped connection is reopened (retrying until the deadline) and the
        folder's UIDNEXT compared, so a message that arrived meanwhile is not missed.
        """
        deadline = time.monotonic() + timeout
        base = self.select(folder)
        exists = base.exists
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                conn = self.connection()
                self._select(conn, folder)
                if "IDLE" not in self._caps:  # fall back to polling with NOOP/SELECT
                    if self._poll(folder, base, min(remaining, restart_every)):
                        return True
                    continue
                got, exists = self._idle_once(conn, min(remaining, restart_every), exists)
                if got:
                    return True
            except (_Lost, *_TRANSPORT_ERRORS) as exc:  # IMAP4.abort before IMAP4.error
                _log.info("%s: connection lost while idling; reconnecting", self._where)
                self._drop()
                info = self._reselect_until(folder, deadline, reconnect_delay, exc)
                if info is None:
                    return False
                if _grew(base, info):
                    return True
                exists = info.exists
            except imaplib.IMAP4.error as exc:
                raise IMAPError(f"{self._where}: IDLE failed: {redact(str(exc))}") from exc

    def _reselect_until(
        self, folder: str, deadline: float, delay: float, cause: BaseException
    ) -> SelectInfo | None:
        while True:
            try:
                return self.select(folder)
            except (ConnectError, ConnectionLostError, MssTimeoutError):
                if time.monotonic() + delay >= deadline:
                    return None
                time.sleep(delay)

    def _poll(self, folder: str, base: SelectInfo, seconds: float) -> bool:
        time.sleep(min(seconds, 5.0))
        return _grew(base, self.select(folder))

    def _idle_once(self, conn: imaplib.IMAP4, seconds: float, exists: int) -> tuple[bool, int]:
        tag = conn._new_tag()
        conn.send(tag + b" IDLE\r\n")
        new_mail = False
        try:
            while True:  # until the continuation "+ idling"
                line = self._readline(conn)
                if line.startswith(b"+"):
                    break
                if line.startswith(tag):
                    raise imaplib.IMAP4.error(f"IDLE refused: {line!r}")
                new_mail, exists = _track(parse_idle_line(line), new_mail, exists)
            end = time.monotonic() + seconds
            while not new_mail:
                remaining = end - time.monotonic()
                if remaining <= 0 or not _readable(conn, remaining):
                    break
                new_mail, exists = _track(parse_idle_line(self._readline(conn)), new_mail, exists)
            conn.send(b"DONE\r\n")
            while True:  # until the tagged completion of IDLE
                line = self._readline(conn)
                if line.startswith(tag + b" "):
                    if not line[len(tag) + 1 :].startswith(b"OK"):
                        raise imaplib.IMAP4.error("IDLE ended with an error")
                    break
                new_mail, exists = _track(parse_idle_line(line), new_mail, exists)
        finally:
            conn.tagged_commands.pop(tag, None)
        if new_mail:
            self._select_info = None  # counters changed: next operation re-selects
        return new_mail, exists

    @staticmethod
    def _readline(conn: imaplib.IMAP4) -> bytes:
        line = conn.readline()
        if not line:
            raise _Lost("EOF")
        if parse_idle_line(line).kind == "BYE":
            raise _Lost("BYE")
        return line.rstrip(b"\r\n")


def _shutdown(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown()


def _track(event: Any, new_mail: bool, exists: int) -> tuple[bool, int]:
    if event.kind == "EXISTS" and event.number is not None:
        if event.number > exists:
            new_mail = True
        exists = event.number
    elif event.kind == "EXPUNGE":
        exists = max(0, exists - 1)
    return new_mail, exists


def _grew(base: SelectInfo, now: SelectInfo) -> bool:
    if base.uidvalidity != now.uidvalidity:
        return now.exists > 0
    if base.uidnext is not None and now.uidnext is not None:
        return now.uidnext > base.uidnext
    return now.exists > base.exists


def _readable(conn: imaplib.IMAP4, seconds: float) -> bool:
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        ready, _, _ = select.select([sock], [], [], seconds)
    except (OSError, ValueError) as exc:
        raise _Lost("select failed") from exc
    return bool(ready)
