"""LDAP directory backend (python-ldap): TLS always, RFC 2696 paged results, errors translated.

Why it looks like this:

- **TLS is not optional.** ``ldaps://`` uses implicit TLS, ``ldap://`` always issues StartTLS
  before anything else; the server certificate is verified (``OPT_X_TLS_REQUIRE_CERT=DEMAND``,
  host name checked by libldap) against one explicit trust anchor: the IGC-Santé root shipped
  with the SDK (ECO.1.1.10) unless ``ca_file`` names another (the sandbox's test CA); TLS ≥ 1.2
  (ECO.1.1.1). Binds: anonymous, simple (DN + password, only ever over that TLS) or SASL
  EXTERNAL with an IGC-Santé client certificate (applicative mailboxes).
- **Paging.** Directories cap what one search returns (slapd: ``sizelimit 500``). Searches use
  the Simple Paged Results control; a page size the server refuses (``adminLimitExceeded``) is
  halved until accepted; a size or time limit hit anyway returns what was allowed, flagged
  ``truncated``. The caller's page size is independent of the LDAP one: entries are read ahead
  and kept until asked for, and the next server page is requested as soon as one arrives.
- **Cursors survive a lost connection.** A cursor records how many entries (in server order) were
  consumed. The live paged search is kept while it is the connection's current one; otherwise,
  or after a reconnect, the search is re-run and that many entries skipped.
- **Reconnect once.** A dropped connection is re-opened, re-bound and the operation retried once,
  transparently; a second failure is raised.
- **Accents** are handled by :mod:`.ldap_filter` + :meth:`DirectoryQuery.matches` post-filtering.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import socket
import ssl
from collections import deque
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

import ldap
from ldap.controls import SimplePagedResultsControl

from ..errors import (
    AuthenticationError,
    ClientCertificateError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    LDAPError,
    MssanteError,
    QueryError,
    TimeoutError,
    TLSError,
)
from .backend import BackendPage, BackendState
from .ldap_filter import build_filter, needs_post_filter
from .ldap_mapping import SANDBOX_MAPPING, LDAPMapping, entry_to_model
from .models import DirectoryEntry
from .query import DirectoryQuery

__all__ = ["LDAPDirectory", "diagnose_tls"]

_log = logging.getLogger("mssante_client.directory")

_T = TypeVar("_T")
RawEntry = tuple[str, dict[str, list[bytes]]]

#: slapd's default ``size.pr``: the largest page most servers accept.
DEFAULT_LDAP_PAGE_SIZE = 500
_IGC_ROOT_RESOURCE = "igc-sante-racine-elementaire.pem"


def _default_ca_file() -> str:
    """The shipped IGC-Santé root, after checking its pinned fingerprint (ECO.1.1.10)."""
    from ..tls import igc_sante_root_pem  # the one place where the root is pinned

    igc_sante_root_pem()
    path = resources.files("mssante_client.data").joinpath(_IGC_ROOT_RESOURCE)
    if not isinstance(path, Path) or not path.is_file():
        raise ConfigurationError("the shipped IGC-Santé root is not readable as a file")
    return str(path)


def _info(exc: ldap.LDAPError) -> str:
    """``desc: info`` of a python-ldap error, without anything else it may carry."""
    arg = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    desc = str(arg.get("desc", type(exc).__name__))
    info = str(arg.get("info", "")).strip()
    return f"{desc}: {info}" if info else desc


# LDAPMessage { messageID 1, ExtendedRequest { requestName "1.3.6.1.4.1.1466.20037" } }
_STARTTLS_REQUEST = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + b"1.3.6.1.4.1.1466.20037"


def _read_ber_message(sock: socket.socket) -> bytes:
    head = sock.recv(2)
    if len(head) < 2:
        raise OSError("connection closed")
    length = head[1]
    if length & 0x80:
        size = sock.recv(length & 0x7F)
        length = int.from_bytes(size, "big")
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def diagnose_tls(
    host: str, port: int, *, starttls: bool, ca_file: str, client_cert: bool, timeout: float
) -> MssanteError:
    """Why a TLS session with an LDAP server failed, found with :mod:`ssl` (libldap won't say).

    libldap (GnuTLS build) reports an untrusted server, a revoked client certificate and a
    closed port alike as "Can't contact LDAP server". This re-plays the connection with the
    same trust anchor: TCP, then StartTLS if needed, then the handshake, and names the failure.
    """
    from ..tls import create_client_context, translate_ssl_error

    where = f"LDAP {host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return ConnectError(f"{where}: cannot connect ({exc.strerror or exc})")
    with sock:
        try:
            if starttls:
                sock.sendall(_STARTTLS_REQUEST)
                _read_ber_message(sock)
            context = create_client_context(ca_file=ca_file)
            with context.wrap_socket(sock, server_hostname=host) as tls:
                tls.getpeercert()
        except ssl.SSLError as exc:
            return translate_ssl_error(exc, where)
        except OSError as exc:
            return ConnectError(f"{where}: connection failed ({exc.strerror or exc})")
    if client_cert:
        return ClientCertificateError(
            f"{where}: the server closed the TLS session: our client certificate was refused "
            "(revoked, expired or from an unknown CA)"
        )
    return TLSError(f"{where}: the server closed the TLS session")


class _PagedSearch:
    """One search as the caller consumes it: entries read ahead, and how far it got."""

    def __init__(self, filterstr: str, position: int) -> None:
        self.filterstr = filterstr
        self.exhausted = False
        self.truncated = False
        self.buffer: deque[RawEntry] = deque()
        #: the first buffered entry and its model, when a full page stopped there (mapped once,
        #: so that its warnings are logged once)
        self.head: tuple[RawEntry, DirectoryEntry] | None = None
        #: entries consumed so far, counted in server order from the start of the search
        self.position = position
        self.reader: _PageReader | None = None


class _PageReader:
    """The server side of one paged search on one connection: cookie, read-ahead, limits.

    The request for the next page is sent as soon as a page arrives, so that the server
    prepares it while the caller maps this one to models.
    """

    def __init__(self, owner: LDAPDirectory, conn: Any, filterstr: str, skip: int) -> None:
        self.owner = owner
        self.conn = conn
        self.filterstr = filterstr
        self.generation = owner._generation
        #: server entries seen so far by this reader (those skipped included)
        self.seen = 0
        #: entries the server sends again that the caller already consumed (after a restart)
        self.skip = skip
        self.cookie = b""
        self.pending: int | None = None

    def abandon(self) -> None:
        """Tell the server to drop the page requested ahead, which nobody will read."""
        if self.pending is not None:
            with contextlib.suppress(ldap.LDAPError):
                self.conn.abandon_ext(self.pending)
        self.pending = None

    def _send(self) -> int:
        o = self.owner
        ctrl = SimplePagedResultsControl(True, size=o._page_size, cookie=self.cookie)
        msgid: int = self.conn.search_ext(
            o.base_dn,
            o._scope,
            self.filterstr,
            attrlist=o._attrs,
            serverctrls=[ctrl],
            sizelimit=o._size_limit,
        )
        return msgid

    def _keep(self, data: list[Any]) -> list[RawEntry]:
        entries = [e for e in data if e[0] is not None]  # skip referrals; keep the tuples
        self.seen += len(entries)
        if self.skip:
            dropped = min(self.skip, len(entries))
            del entries[:dropped]
            self.skip -= dropped
        return entries

    def next_page(self) -> tuple[list[RawEntry], bool, bool]:
        """The next page: (entries, truncated, done). Requests the following page at once."""
        o = self.owner
        while True:
            msgid = self.pending if self.pending is not None else self._send()
            self.pending = None
            try:
                _, data, _, controls = self.conn.result3(msgid, timeout=o._timeout)
            except ldap.ADMINLIMIT_EXCEEDED:
                if o._page_size == 1 or self.cookie:
                    raise
                o._page_size = max(1, o._page_size // 2)
                _log.info("LDAP server refused the page size; retrying with %d", o._page_size)
                continue
            except (ldap.SIZELIMIT_EXCEEDED, ldap.TIMELIMIT_EXCEEDED) as exc:
                _log.info("LDAP %s: %s; returning what the server allowed", o.uri, _info(exc))
                return self._stream_rest(), True, True
            break
        self.cookie = b""
        for c in controls or ():
            if c.controlType == SimplePagedResultsControl.controlType:
                self.cookie = c.cookie
        if self.cookie:
            self.pending = self._send()  # the server prepares it while the caller maps this one
        return self._keep(data), False, not self.cookie

    def _stream_rest(self) -> list[RawEntry]:
        """After a size/time limit: read again, one entry at a time, what the server allows.

        A limit error discards the page it ends; reading one message at a time keeps every entry
        the server sent before the error. The search is then over, flagged ``truncated``.
        """
        o = self.owner
        msgid = self.conn.search_ext(
            o.base_dn, o._scope, self.filterstr, attrlist=o._attrs, sizelimit=o._size_limit
        )
        drop, kept = self.seen + self.skip, []
        try:
            while True:
                rtype, data, _, _ = self.conn.result3(msgid, all=0, timeout=o._timeout)
                if rtype == ldap.RES_SEARCH_RESULT:
                    break
                for dn, attrs in data:
                    if dn is None:
                        continue
                    if drop:
                        drop -= 1
                    else:
                        kept.append((dn, attrs))
        except (ldap.SIZELIMIT_EXCEEDED, ldap.TIMELIMIT_EXCEEDED, ldap.ADMINLIMIT_EXCEEDED):
            _log.debug("LDAP %s: limit reached after %d more entries", o.uri, len(kept))
        return kept


class LDAPDirectory:
    """A :class:`~.backend.DirectoryBackend` over an LDAP directory.

    ``uri``: ``ldaps://host:636`` or ``ldap://host:389`` (StartTLS). ``base_dn``: where the
    mailbox entries are (searched one level below by default, ``scope="sub"`` for a subtree).
    Bind: nothing (anonymous), ``bind_dn`` + ``password`` (simple), or ``client_cert`` +
    ``client_key`` + ``sasl_external=True`` (SASL EXTERNAL, identity from the certificate).
    """

    name = "ldap"

    def __init__(
        self,
        uri: str,
        *,
        base_dn: str,
        ca_file: str | Path | None = None,
        bind_dn: str | None = None,
        password: str | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        sasl_external: bool = False,
        authzid: str | None = None,
        scope: Literal["one", "sub"] = "one",
        mapping: LDAPMapping = SANDBOX_MAPPING,
        ldap_page_size: int = DEFAULT_LDAP_PAGE_SIZE,
        size_limit: int = 0,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ConfigurationError(f"LDAP uri must be ldaps://host or ldap://host, got {uri!r}")
        if bind_dn is not None and not password:
            raise ConfigurationError("a simple bind needs a password")
        if password is not None and bind_dn is None:
            raise ConfigurationError("a password was given without bind_dn")
        if sasl_external and (client_cert is None or client_key is None):
            raise ConfigurationError("SASL EXTERNAL needs client_cert and client_key")
        if sasl_external and bind_dn is not None:
            raise ConfigurationError("choose either a simple bind or SASL EXTERNAL")
        if (client_cert is None) != (client_key is None):
            raise ConfigurationError("client_cert and client_key go together")
        if ldap_page_size < 1 or size_limit < 0 or timeout <= 0:
            raise ConfigurationError("ldap_page_size, size_limit and timeout must be positive")
        for label, path in (("ca_file", ca_file), ("client_cert", client_cert)):
            if path is not None and not Path(path).is_file():
                raise ConfigurationError(f"{label} {path!s} does not exist")
        if client_key is not None and not Path(client_key).is_file():
            raise ConfigurationError("client_key does not exist")  # never echo key paths' content
        self.uri = uri
        self.base_dn = base_dn
        self._starttls = parts.scheme == "ldap"
        self._ca_file = str(ca_file) if ca_file is not None else None
        self._bind_dn = bind_dn
        self._password = password
        self._client_cert = str(client_cert) if client_cert is not None else None
        self._client_key = str(client_key) if client_key is not None else None
        self._sasl_external = sasl_external
        self._authzid = authzid
        self._scope = ldap.SCOPE_ONELEVEL if scope == "one" else ldap.SCOPE_SUBTREE
        self.mapping = mapping
        self._page_size = ldap_page_size
        self._size_limit = size_limit
        self._timeout = timeout
        self._attrs = mapping.attributes()
        self._conn: Any = None
        self._generation = 0
        self._live: tuple[str, _PagedSearch] | None = None

    def __repr__(self) -> str:
        bind = "external" if self._sasl_external else ("simple" if self._bind_dn else "anonymous")
        return f"LDAPDirectory({self.uri!r}, base_dn={self.base_dn!r}, bind={bind})"

    # --- connection ------------------------------------------------------------------------

    @property
    def ldap_page_size(self) -> int:
        """The LDAP page size in use (smaller than asked if the server refused it)."""
        return self._page_size

    def connect(self) -> None:
        """Open, secure and bind the connection now (otherwise done on first use)."""
        if self._conn is None:
            self._conn = self._open()
            self._generation += 1

    def close(self) -> None:
        if self._live is not None:
            self._stop(self._live[1])
        conn, self._conn, self._live = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(ldap.LDAPError):  # closing a dead connection is fine
                conn.unbind_s()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> Any:
        ca_file = self._ca_file or _default_ca_file()
        conn = ldap.initialize(self.uri)
        try:
            conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
            conn.set_option(ldap.OPT_REFERRALS, 0)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, self._timeout)
            conn.set_option(ldap.OPT_TIMEOUT, self._timeout)
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_file)
            conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
            conn.set_option(ldap.OPT_X_TLS_PROTOCOL_MIN, ldap.OPT_X_TLS_PROTOCOL_TLS1_2)
            if self._client_cert is not None:
                conn.set_option(ldap.OPT_X_TLS_CERTFILE, self._client_cert)
                conn.set_option(ldap.OPT_X_TLS_KEYFILE, self._client_key)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: applies the TLS options above
        except (ValueError, ldap.LDAPError) as exc:
            raise ConfigurationError(f"LDAP TLS options refused: {exc}") from exc
        try:
            if self._starttls:
                conn.start_tls_s()
            if self._sasl_external:
                conn.sasl_non_interactive_bind_s("EXTERNAL", authz_id=self._authzid or "")
            elif self._bind_dn is not None:
                conn.simple_bind_s(self._bind_dn, self._password)
            else:
                conn.simple_bind_s("", "")
        except ldap.LDAPError as exc:
            with contextlib.suppress(ldap.LDAPError):
                conn.unbind_s()
            raise self._connect_error(exc) from exc
        _log.debug("LDAP connection to %s opened", self.uri)
        return conn

    def _connect_error(self, exc: ldap.LDAPError) -> MssanteError:
        where = f"LDAP {self.uri}"
        text = _info(exc)
        if isinstance(
            exc,
            (
                ldap.INVALID_CREDENTIALS,
                ldap.INAPPROPRIATE_AUTH,
                ldap.AUTH_UNKNOWN,
                ldap.STRONG_AUTH_REQUIRED,
                ldap.INSUFFICIENT_ACCESS,
            ),
        ):
            return AuthenticationError(f"{where}: bind refused ({text})")
        if isinstance(exc, (ldap.SERVER_DOWN, ldap.CONNECT_ERROR)):
            parts = urlsplit(self.uri)
            default_port = 389 if self._starttls else 636
            return diagnose_tls(
                parts.hostname or "",
                parts.port or default_port,
                starttls=self._starttls,
                ca_file=self._ca_file or _default_ca_file(),
                client_cert=self._client_cert is not None,
                timeout=self._timeout,
            )
        if isinstance(exc, ldap.TIMEOUT):
            return TimeoutError(f"{where}: no answer within {self._timeout:g} s")
        return LDAPError(f"{where}: {text}")

    def _with_reconnect(self, operation: Callable[[Any], _T]) -> _T:
        """Run ``operation(conn)``; after a dropped connection, reconnect and retry once."""
        self.connect()
        try:
            return operation(self._conn)
        except ldap.SERVER_DOWN as exc:
            _log.info("LDAP connection to %s lost (%s); reconnecting once", self.uri, _info(exc))
        if self._live is not None:
            self._stop(self._live[1])
        self._conn = None
        self._live = None
        self.connect()
        try:
            return operation(self._conn)
        except ldap.SERVER_DOWN as exc:
            self._conn = None
            raise ConnectionLostError(f"LDAP {self.uri}: connection lost twice") from exc

    def whoami(self) -> str:
        """The authorisation identity the server gave us (``dn:...``; ``""`` if anonymous)."""
        try:
            return str(self._with_reconnect(lambda c: c.whoami_s()) or "")
        except ldap.LDAPError as exc:
            raise LDAPError(f"LDAP {self.uri}: whoami failed ({_info(exc)})") from exc

    # --- paged search ----------------------------------------------------------------------

    def _next_chunk(self, conn: Any, *, search: _PagedSearch) -> None:
        """Read the next server page of ``search`` into its buffer."""
        reader = search.reader
        if reader is None or reader.generation != self._generation:
            # first page, or the connection changed under the search (its cookie is void):
            # run it from the start and drop what the caller already consumed
            reader = search.reader = _PageReader(self, conn, search.filterstr, search.position)
        try:
            entries, truncated, done = reader.next_page()
        except BaseException:
            search.reader = None
            raise
        search.buffer.extend(entries)
        search.truncated = search.truncated or truncated
        if done:
            search.exhausted = True
            search.reader = None

    def _stop(self, search: _PagedSearch) -> None:
        reader, search.reader = search.reader, None
        if reader is not None and reader.generation == self._generation:
            reader.abandon()

    def _peek(self, search: _PagedSearch) -> RawEntry | None:
        while not search.buffer:
            if search.exhausted:
                return None
            self._ldap_call(functools.partial(self._next_chunk, search=search))
        return search.buffer[0]

    def _ldap_call(self, operation: Callable[[Any], _T]) -> _T:
        try:
            return self._with_reconnect(operation)
        except ldap.FILTER_ERROR as exc:
            raise QueryError("query", f"the LDAP server refused the filter ({_info(exc)})") from exc
        except ldap.NO_SUCH_OBJECT as exc:
            raise LDAPError(f"LDAP {self.uri}: base {self.base_dn!r} does not exist") from exc
        except ldap.TIMEOUT as exc:
            raise TimeoutError(f"LDAP {self.uri}: no answer within {self._timeout:g} s") from exc
        except ldap.LDAPError as exc:
            raise LDAPError(f"LDAP {self.uri}: search failed ({_info(exc)})") from exc

    def _resume(self, filterstr: str, state: BackendState | None) -> _PagedSearch:
        position = 0
        token = None
        if state:
            position = state.get("position", 0)
            token = state.get("token")
            if not isinstance(position, int) or position < 0:
                raise QueryError("cursor", "invalid LDAP position")
        if self._live is not None:
            live_token, live = self._live
            self._live = None
            if token == live_token and live.filterstr == filterstr and live.position == position:
                return live
            self._stop(live)
        return _PagedSearch(filterstr, position)

    def search_page(
        self, query: DirectoryQuery, *, page_size: int, state: BackendState | None
    ) -> BackendPage:
        filterstr = build_filter(query, self.mapping)
        post_filter = needs_post_filter(query, self.mapping)
        search = self._resume(filterstr, state)
        results: list[DirectoryEntry] = []
        try:
            while True:
                raw = self._peek(search)
                if raw is None:
                    break
                head, search.head = search.head, None
                if head is not None and head[0] is raw:
                    model: DirectoryEntry | None = head[1]
                else:
                    model = entry_to_model(raw[0], raw[1], self.mapping)
                if model is not None and (not post_filter or query.matches(model)):
                    if len(results) == page_size:
                        search.head = (raw, model)
                        break  # keep it for the next page: we now know there is one
                    results.append(model)
                search.buffer.popleft()
                search.position += 1
        except BaseException:
            self._stop(search)  # no reader left behind a failed search
            raise
        if raw is None:
            return BackendPage(results=results, next_state=None, truncated=search.truncated)
        token = secrets.token_hex(8)
        self._live = (token, search)
        return BackendPage(
            results=results,
            next_state={"position": search.position, "token": token},
            truncated=search.truncated,
        )
