"""SMTP submission transport over ``smtplib`` (ECO.1.0.1): STARTTLS, SASL, one transaction per send.

The edge: sockets, TLS and smtplib live here and nowhere else; every smtplib / ssl / socket error is
translated into the errors.py families. Rules:

* STARTTLS is mandatory on the submission port: a server that does not offer it, or a failed
  handshake, raises :class:`TLSRequiredError` and nothing (no AUTH, no MAIL) is sent in clear.
* Per-recipient results: each ``RCPT TO`` answer is kept; 4xx answers make the whole transaction
  be retried (RSET, bounded backoff); 5xx answers are final.
* No blind resend: once the message body has been handed over, if the final reply to DATA never
  arrives we raise :class:`DeliveryUncertainError` (``maybe_sent=True``) instead of sending again.
  A connection found dead *before* that point is reopened once, transparently.
* DSN (RFC 3461, ECO.2.3.1): ``RET``/``ENVID`` on MAIL FROM and ``NOTIFY`` on RCPT TO when the
  server advertises DSN.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLostError,
    MessageError,
    MssanteError,
    RecipientsRefusedError,
    SMTPError,
    TLSRequiredError,
    TokenError,
)
from ..errors import TimeoutError as MssTimeoutError
from ..tls import translate_ssl_error
from . import sasl
from ._redact import mask_address, redact
from .credentials import Credentials, OAuth2Token
from .endpoint import Endpoint, Security, error_ack, initial_response
from .message import ComposedMessage

__all__ = [
    "AllRecipientsRefusedError",
    "DeliveryUncertainError",
    "RecipientResult",
    "RetryPolicy",
    "SendResult",
    "SmtpTransport",
    "reply_class",
]

_log = logging.getLogger("mssante_client.mail")


class DeliveryUncertainError(ConnectionLostError):
    """The connection dropped after the message body was sent, before the server's final reply.

    The message may or may not have been accepted: it is NOT resent automatically (that could
    deliver it twice). Check the recipient side / DSN before sending again.
    """

    maybe_sent = True

    def __init__(self, message: str, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What the server answered to ``RCPT TO`` for one recipient (after retries)."""

    address: str
    accepted: bool
    code: int
    text: str

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __repr__(self) -> str:
        return (
            f"RecipientResult({mask_address(self.address)!r}, accepted={self.accepted}, "
            f"code={self.code}, text={redact(self.text)!r})"
        )


class AllRecipientsRefusedError(RecipientsRefusedError):
    """Every recipient was refused at RCPT TO; nothing was sent. ``results`` has the details."""

    def __init__(self, results: Sequence[RecipientResult]) -> None:
        self.results = tuple(results)
        detail = "; ".join(f"{mask_address(r.address)}: {r.code}" for r in self.results)
        code = self.results[0].code if self.results else None
        super().__init__(f"all recipients refused ({detail})", code)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of :meth:`SmtpTransport.send`: per-recipient answers and the Message-ID."""

    message_id: str
    recipients: tuple[RecipientResult, ...]
    attempts: int = 1

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[RecipientResult, ...]:
        return tuple(r for r in self.recipients if not r.accepted)


def reply_class(code: int) -> str:
    """``ok`` (2xx/3xx), ``temporary`` (4xx) or ``permanent`` (5xx and anything else)."""
    if 200 <= code < 400:
        return "ok"
    if 400 <= code < 500:
        return "temporary"
    return "permanent"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff for 4xx answers."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (attempt counts from 1)."""
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class _Temporary(Exception):
    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text


class _DeadBeforeData(Exception):
    """The connection died before the body was handed over: reopening and retrying is safe."""


_DOT = re.compile(rb"(?m)^\.")
_LONE_LF = re.compile(rb"(?<!\r)\n")


def _text(msg: bytes | str) -> str:
    t = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
    return redact(t.replace("\r", " ").replace("\n", " ").strip())


@dataclass(eq=False)
class SmtpTransport:
    """One lazily opened, reused SMTP submission connection for one mailbox."""

    endpoint: Endpoint
    user: str
    credentials: Credentials = field(repr=False)
    context_factory: Callable[[], ssl.SSLContext] = field(repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    local_hostname: str | None = None
    _conn: smtplib.SMTP | None = field(default=None, init=False, repr=False)

    # -- connection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def connection(self) -> smtplib.SMTP:
        """The open, authenticated connection (opened now if needed)."""
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> smtplib.SMTP:
        where = f"SMTP {self.endpoint}"
        ep = self.endpoint
        ctx = self.context_factory()
        local = self.local_hostname or socket.gethostname()
        conn: smtplib.SMTP
        try:
            if self.endpoint.security is Security.IMPLICIT:
                conn = smtplib.SMTP_SSL(
                    ep.host, ep.port, local_hostname=local, timeout=ep.timeout, context=ctx
                )
            else:
                conn = smtplib.SMTP(ep.host, ep.port, local_hostname=local, timeout=ep.timeout)
        except ssl.SSLError as exc:
            raise translate_ssl_error(exc, where) from exc
        except TimeoutError as exc:
            raise MssTimeoutError(f"{where}: connection timed out") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectError(f"{where}: cannot connect ({exc.__class__.__name__})") from exc
        try:
            self._ehlo(conn, where)
            if self.endpoint.security is Security.STARTTLS:
                if not conn.has_extn("starttls"):
                    raise TLSRequiredError(f"{where}: the server does not offer STARTTLS")
                try:
                    conn.starttls(context=ctx)
                except smtplib.SMTPNotSupportedError as exc:
                    raise TLSRequiredError(f"{where}: the server does not offer STARTTLS") from exc
                except smtplib.SMTPResponseException as exc:
                    raise TLSRequiredError(f"{where}: STARTTLS refused ({exc.smtp_code})") from exc
                except ssl.SSLError as exc:
                    raise translate_ssl_error(exc, where) from exc
                self._ehlo(conn, where)
            if self._authenticate(conn, where):
                self._ehlo(conn, where)  # servers add extensions after AUTH (Dovecot: DSN)
        except MssanteError:
            conn.close()
            raise
        except ssl.SSLError as exc:
            conn.close()
            raise translate_ssl_error(exc, where) from exc
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise ConnectionLostError(f"{where}: connection lost while opening") from exc
        except BaseException:
            conn.close()
            raise
        _log.debug("%s: connected and authenticated as %s", where, mask_address(self.user))
        return conn

    @staticmethod
    def _ehlo(conn: smtplib.SMTP, where: str) -> None:
        try:
            code, _ = conn.ehlo()
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectionLostError(f"{where}: EHLO failed ({exc.__class__.__name__})") from exc
        if code != 250:
            raise SMTPError(f"{where}: EHLO refused", code)

    # -- authentication ----------------------------------------------------------------------

    def _mechanisms(self, conn: smtplib.SMTP) -> set[str]:
        return {m.upper() for m in conn.esmtp_features.get("auth", "").split()}

    def _authenticate(self, conn: smtplib.SMTP, where: str) -> bool:
        """Run the SASL exchange; False when the TLS client certificate alone identifies us."""
        if not isinstance(conn.sock, ssl.SSLSocket):  # pragma: no cover - guarded above
            raise TLSRequiredError(f"{where}: refusing to authenticate without TLS")
        token = isinstance(self.credentials, OAuth2Token)
        for attempt in (1, 2):  # ECO.1.2.7: a refused token is retried once with a fresh one
            response = initial_response(self.credentials, self.user, self.endpoint)
            if response is None:
                return False  # TLS client authentication only
            try:
                self._auth_exchange(conn, where, response, token=token)
                return True
            except TokenError:
                if attempt == 2:
                    raise
                _log.debug("%s: token refused, asking the provider for a fresh one", where)
            finally:
                del response
        return False  # pragma: no cover - the loop returns or raises

    def _auth_exchange(
        self, conn: smtplib.SMTP, where: str, response: sasl.InitialResponse, *, token: bool
    ) -> None:
        mech = response.mechanism.value
        if mech not in self._mechanisms(conn):
            raise AuthenticationError(f"{where}: the server does not offer AUTH {mech}")
        try:
            code, msg = conn.docmd("AUTH", f"{mech} {response.encoded()}")
            if code == 334:  # an error challenge (RFC 7628 / XOAUTH2): acknowledge it
                ack = error_ack(response.mechanism)
                code, msg = conn.docmd(sasl.encode_response(ack) if ack else "")
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectionLostError(f"{where}: connection lost during AUTH {mech}") from exc
        if code == 235:
            return
        err = TokenError if token else AuthenticationError
        raise err(f"{where}: AUTH {mech} refused ({code} {_text(msg)})")

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: ComposedMessage) -> SendResult:
        """Submit ``message``; per-recipient results; see the module docstring for the rules."""
        if not message.recipients:
            raise MessageError("recipients", "at least one recipient is needed")
        reopened = False
        attempt = 0
        while True:
            attempt += 1
            conn = self.connection()
            try:
                results = self._transaction(conn, message, last=attempt >= self.retry.attempts)
            except _DeadBeforeData as exc:
                self._drop()
                if reopened:
                    raise ConnectionLostError(
                        f"SMTP {self.endpoint}: connection lost twice before DATA"
                    ) from exc.__cause__
                reopened = True
                attempt -= 1
                _log.debug("SMTP connection found closed; reopening once")
                continue
            except _Temporary as tmp:
                self._rset()
                if attempt >= self.retry.attempts:
                    raise SMTPError(
                        f"temporary failure persisted after {attempt} attempts: "
                        f"{tmp.code} {tmp.text}",
                        tmp.code,
                    ) from None
                delay = self.retry.delay(attempt)
                _log.info("SMTP temporary failure %s; retrying in %.1f s", tmp.code, delay)
                time.sleep(delay)
                continue
            return SendResult(message.message_id, results, attempt)

    def _rset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _cmd(self, conn: smtplib.SMTP, line: str) -> tuple[int, bytes]:
        try:
            return conn.docmd(line)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _DeadBeforeData() from exc

    def _transaction(
        self, conn: smtplib.SMTP, message: ComposedMessage, *, last: bool
    ) -> tuple[RecipientResult, ...]:
        where = f"SMTP {self.endpoint}"
        limit = conn.esmtp_features.get("size", "").strip()
        if limit.isascii() and limit.isdigit() and int(limit) and message.size > int(limit):
            raise MessageError(
                "message", f"{message.size} bytes exceed the server's limit of {limit} bytes"
            )
        mail_opts: list[str] = []
        rcpt_opts: list[str] = []
        if conn.has_extn("size"):
            mail_opts.append(f"SIZE={message.size}")
        if conn.has_extn("8bitmime") and not message.data.isascii():
            mail_opts.append("BODY=8BITMIME")
        if message.dsn is not None:
            if conn.has_extn("dsn"):
                mail_opts += message.mail_options()
                rcpt_opts = message.rcpt_options()
            else:
                _log.warning("%s: the server does not offer DSN; no DSN will be requested", where)

        line = f"MAIL FROM:<{message.mail_from}>" + "".join(" " + o for o in mail_opts)
        code, msg = self._cmd(conn, line)
        kind = reply_class(code)
        if kind == "temporary":
            raise _Temporary(code, _text(msg))
        if kind == "permanent":
            self._rset()
            raise SMTPError(f"{where}: MAIL FROM refused ({code} {_text(msg)})", code)

        results: list[RecipientResult] = []
        for rcpt in message.recipients:
            code, msg = self._cmd(conn, f"RCPT TO:<{rcpt}>" + "".join(" " + o for o in rcpt_opts))
            results.append(RecipientResult(rcpt, reply_class(code) == "ok", code, _text(msg)))
        temporary = [r for r in results if r.temporary]
        if temporary and not last:
            raise _Temporary(temporary[0].code, temporary[0].text)
        if not any(r.accepted for r in results):
            self._rset()
            raise AllRecipientsRefusedError(results)

        code, msg = self._cmd(conn, "DATA")
        if code != 354:
            if reply_class(code) == "temporary":
                raise _Temporary(code, _text(msg))
            self._rset()
            raise SMTPError(f"{where}: DATA refused ({code} {_text(msg)})", code)
        body = message.data
        if body.count(b"\n") != body.count(b"\r\n"):  # compose() already gives CRLF
            body = _LONE_LF.sub(b"\r\n", body)
        body = _DOT.sub(b"..", body)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        try:
            conn.send(body + b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # sendall failed: the terminating dot did not leave, the server cannot have accepted.
            raise _DeadBeforeData() from exc
        try:
            code, msg = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise DeliveryUncertainError(
                f"{where}: connection lost after the message was sent, before the server's "
                "final reply; it may have been delivered and is not resent automatically",
                message.message_id,
            ) from exc
        kind = reply_class(code)
        if kind == "temporary":
            raise _Temporary(code, _text(msg))
        if kind == "permanent":
            raise SMTPError(f"{where}: message refused after DATA ({code} {_text(msg)})", code)
        _log.debug(
            "%s: message %s accepted for %d of %d recipients",
            where,
            message.message_id,
            sum(r.accepted for r in results),
            len(results),
        )
        return tuple(results)
