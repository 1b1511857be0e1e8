"""The MSSanté liste blanche: which domains belong to the trust space (rules §3).

The ANS publishes, over HTTPS with an IGC-Santé certificate, the list of domains whose operators
are in the MSSanté "espace de confiance". Operators enforce it; a client uses it to refuse early,
before anything leaves the machine, a recipient that could never be delivered
(``Mailbox(..., trust_policy=whitelist)`` raises ``UntrustedDomainError``).

Three parts, apart:

- :meth:`Whitelist.parse` (pure): the XML, read with a safe parser (no DTD, no entities, no
  network; a DOCTYPE is refused). Namespace ``https://listeblanche.mssante.fr/schema``,
  ``DateDeGeneration`` then ``Domaine`` elements (``Nom``, ``Description``,
  ``DNCertificatOperateur``, ``ResponsableContact``, ``SupportContact``, ``DateMAJ``). The root
  element's name is not confirmed, so any root in that namespace is accepted.
- :meth:`Whitelist.is_trusted`: exact domain match (patient addresses through their domain).
- :meth:`Whitelist.fetch`: httpx, TLS ≥ 1.2 verified against the IGC-Santé root (or
  ``ca_file``), on-disk cache with its age, ``max_age`` before asking again, conditional GET
  (``If-None-Match`` / ``If-Modified-Since``, 304 keeps the cached copy). A new list is parsed
  before it replaces the cache: a broken download never destroys a good copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import httpx
from lxml import etree
from pydantic import BaseModel, ConfigDict

from ..errors import (
    ConnectError,
    HTTPStatusError,
    IntegrityError,
    InvalidInputError,
    ProtocolError,
    TimeoutError,
    TransportError,
    XMLError,
)
from ..identity import MSSanteAddress

__all__ = [
    "DEFAULT_URL",
    "NAMESPACE",
    "Whitelist",
    "WhitelistDomain",
    "default_cache_dir",
]

_log = logging.getLogger("mssante_client.directory")

#: Where the ANS publishes the list (rules §3).
DEFAULT_URL: Final = "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml"
NAMESPACE: Final = "https://listeblanche.mssante.fr/schema"
#: The real list is a few MB (~8,700 domains); anything far larger is not it.
MAX_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_AGE: Final = dt.timedelta(days=1)

_NS = f"{{{NAMESPACE}}}"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mssante_client`` (``~/.cache/mssante_client``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mssante_client"


class WhitelistDomain(BaseModel):
    """One ``Domaine`` of the list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str | None = None
    #: DN of the operator's certificate (CN, OU, O, ST "Département (NN)", C).
    operator_certificate_dn: str | None = None
    responsible_contact: str | None = None
    support_contact: str | None = None
    updated_at: dt.datetime | None = None


def _parse_date(text: str | None) -> dt.datetime | None:
    """ISO 8601 (date or date-time) or ``dd/mm/yyyy[ hh:mm[:ss]]``; None if unreadable."""
    if not text or not text.strip():
        return None
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                parsed = dt.datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        _log.warning("liste blanche: unreadable date %r ignored", value[:40])
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(element: etree._Element, tag: str) -> str | None:
    child = element.find(_NS + tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


class Whitelist:
    """The set of trusted MSSanté domains. Usable as a Mailbox ``trust_policy``."""

    def __init__(
        self,
        domains: Mapping[str, WhitelistDomain],
        generated_at: dt.datetime | None,
        *,
        source: str | None = None,
        fetched_at: dt.datetime | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        from_cache: bool = False,
        not_modified: bool = False,
        stale: bool = False,
    ) -> None:
        self._domains = MappingProxyType(dict(domains))
        self.generated_at = generated_at
        #: URL or file the list was read from.
        self.source = source
        #: When the list was last confirmed current with the server (download or 304).
        self.fetched_at = fetched_at
        self.etag = etag
        self.last_modified = last_modified
        #: True when served from the cache without asking the server (younger than max_age).
        self.from_cache = from_cache
        #: True when the server answered 304 Not Modified.
        self.not_modified = not_modified
        #: True when the server could not be reached and an older cached copy was used.
        self.stale = stale

    def __repr__(self) -> str:
        return f"Whitelist({len(self._domains)} domains, generated_at={self.generated_at})"

    # --- the policy ------------------------------------------------------------------------

    @property
    def domains(self) -> Mapping[str, WhitelistDomain]:
        """Trusted domains by (lower-case) name."""
        return self._domains

    def __len__(self) -> int:
        return len(self._domains)

    def __iter__(self) -> Iterator[str]:
        return iter(self._domains)

    def __contains__(self, domain: object) -> bool:
        return isinstance(domain, str) and domain.strip().lower().rstrip(".") in self._domains

    def is_trusted(self, address: str | MSSanteAddress) -> bool:
        """Whether the address's domain is on the list (exact match, no sub-domains).

        Patient addresses (``<INS>@patient.mssante.fr``) are trusted through their domain. An
        address that is not valid is not trusted.
        """
        try:
            domain = MSSanteAddress(address).domain
        except InvalidInputError:
            return False
        return domain in self._domains

    def age(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """Time since the list was last confirmed current (None if never fetched)."""
        if self.fetched_at is None:
            return None
        return (now or dt.datetime.now(dt.UTC)) - self.fetched_at

    # --- parsing (pure) --------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, *, source: str | None = None) -> Whitelist:
        """Read the XML publication. Malformed or unexpected XML raises :class:`XMLError`."""
        if len(data) > MAX_BYTES:
            raise XMLError(f"liste blanche larger than {MAX_BYTES} bytes; refused")
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            raise XMLError(f"liste blanche is not well-formed XML: {exc}") from exc
        docinfo: Any = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise XMLError("liste blanche has a DOCTYPE; refused")
        if etree.QName(root).namespace != NAMESPACE:
            raise XMLError(f"liste blanche root is not in the {NAMESPACE} namespace")
        generated_at = _parse_date(_text(root, "DateDeGeneration"))
        domains: dict[str, WhitelistDomain] = {}
        for element in root.iterfind(_NS + "Domaine"):
            name = _text(element, "Nom")
            if not name:
                raise XMLError("liste blanche has a Domaine without Nom")
            key = name.lower().rstrip(".")
            domains[key] = WhitelistDomain(
                name=key,
                description=_text(element, "Description"),
                operator_certificate_dn=_text(element, "DNCertificatOperateur"),
                responsible_contact=_text(element, "ResponsableContact"),
                support_contact=_text(element, "SupportContact"),
                updated_at=_parse_date(_text(element, "DateMAJ")),
            )
        if not domains:
            raise XMLError("liste blanche has no Domaine")
        return cls(domains, generated_at, source=source)

    @classmethod
    def load(cls, path: str | Path) -> Whitelist:
        """Read a list from a file (e.g. downloaded by other means)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise XMLError(f"cannot read liste blanche file {path!s}: {exc.strerror}") from exc
        return cls.parse(data, source=str(path))

    # --- fetching (edge) -------------------------------------------------------------------

    @classmethod
    def fetch(
        cls,
        url: str = DEFAULT_URL,
        *,
        ca_file: str | Path | None = None,
        cache_dir: str | Path | None = None,
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
        timeout: float = 30.0,
        now: dt.datetime | None = None,
    ) -> Whitelist:
        """The current list, from the cache if younger than ``max_age``, else from ``url``.

        ``ca_file`` replaces the IGC-Santé root as trust anchor (the sandbox's test CA);
        ``cache_dir`` defaults to :func:`default_cache_dir`; ``max_age=timedelta(0)`` always
        asks the server (conditionally). If the server cannot be reached and a cached copy
        exists, that copy is returned with ``stale=True`` (and a warning logged).
        """
        now = now or dt.datetime.now(dt.UTC)
        cache = _Cache(Path(cache_dir) if cache_dir else default_cache_dir(), url)
        meta = cache.read_meta()
        cached_at = _parse_date(meta.get("fetched_at")) if meta else None
        if meta and cached_at is not None and now - cached_at < max_age:
            found = cache.read_list()
            if found is not None:
                return found._with(meta, from_cache=True)
        headers = {"Accept": "application/xml"}
        if meta and cache.list_file.exists():
            if meta.get("etag"):
                headers["If-None-Match"] = str(meta["etag"])
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = str(meta["last_modified"])
        try:
            status, body, response_headers = _get(url, headers, ca_file=ca_file, timeout=timeout)
        except TransportError:
            stale = cache.read_list() if meta else None
            if stale is None:
                raise
            _log.warning("liste blanche: %s unreachable; using the cached copy", url)
            return stale._with(meta or {}, stale=True)
        if status == 304:
            found = cache.read_list()
            if found is not None:
                meta = {**(meta or {}), "fetched_at": now.isoformat()}
                cache.write_meta(meta)
                return found._with(meta, not_modified=True)
            # cache lost between reads: ask again without conditions
            status, body, response_headers = _get(
                url, {"Accept": "application/xml"}, ca_file=ca_file, timeout=timeout
            )
        if status != 200:
            raise HTTPStatusError(f"liste blanche {url}: HTTP {status}", status)
        whitelist = cls.parse(body, source=url)  # parse before replacing a good cache
        meta = {
            "url": url,
            "etag": response_headers.get("etag"),
            "last_modified": response_headers.get("last-modified"),
            "fetched_at": now.isoformat(),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        cache.write_list(body)
        cache.write_meta(meta)
        return whitelist._with(meta)

    def _with(self, meta: Mapping[str, object], **flags: bool) -> Whitelist:
        self.fetched_at = _parse_date(str(meta.get("fetched_at") or "")) or self.fetched_at
        etag, last_modified = meta.get("etag"), meta.get("last_modified")
        self.etag = str(etag) if etag else None
        self.last_modified = str(last_modified) if last_modified else None
        self.source = str(meta.get("url") or self.source or "")
        for name, value in flags.items():
            setattr(self, name, value)
        return self


class _Cache:
    """``<dir>/listeblanche-<hash of url>.xml`` and its ``.json`` metadata."""

    def __init__(self, directory: Path, url: str) -> None:
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.directory = directory
        self.list_file = directory / f"listeblanche-{key}.xml"
        self.meta_file = directory / f"listeblanche-{key}.json"

    def read_meta(self) -> dict[str, str] | None:
        try:
            data = json.loads(self.meta_file.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return {str(k): str(v) for k, v in data.items() if v is not None}

    def read_list(self) -> Whitelist | None:
        try:
            body = self.list_file.read_bytes()
        except OSError:
            return None
        meta = self.read_meta() or {}
        if meta.get("sha256") and hashlib.sha256(body).hexdigest() != meta["sha256"]:
            _log.warning("liste blanche cache %s does not match its checksum", self.list_file)
            return None
        try:
            return Whitelist.parse(body, source=str(self.list_file))
        except XMLError:
            _log.warning("liste blanche cache %s is unreadable; ignored", self.list_file)
            return None

    def _write(self, target: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_list(self, body: bytes) -> None:
        self._write(self.list_file, body)

    def write_meta(self, meta: Mapping[str, object]) -> None:
        self._write(self.meta_file, json.dumps(dict(meta), indent=2).encode())


def _get(
    url: str, headers: dict[str, str], *, ca_file: str | Path | None, timeout: float
) -> tuple[int, bytes, httpx.Headers]:
    """One GET with a verified TLS context; errors translated; body size capped."""
    from ..tls import create_client_context, translate_ssl_error

    if not url.startswith("https://"):
        raise ConnectError(f"liste blanche must be fetched over https, not {url!r}")
    context = create_client_context(ca_file=ca_file)

    def https_only(request: httpx.Request) -> None:  # redirects too
        if request.url.scheme != "https":
            raise ConnectError(f"liste blanche {url}: refusing a redirect to {request.url.scheme}")

    try:
        with (
            httpx.Client(
                verify=context,
                timeout=timeout,
                follow_redirects=True,
                max_redirects=5,
                event_hooks={"request": [https_only]},
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            body = b""
            if response.status_code == 200:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise IntegrityError(f"liste blanche {url}: larger than {MAX_BYTES} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
            return response.status_code, body, response.headers
    except httpx.TimeoutException as exc:
        raise TimeoutError(f"liste blanche {url}: no answer within {timeout:g} s") from exc
    except httpx.TooManyRedirects as exc:
        raise ProtocolError(f"liste blanche {url}: too many redirects") from exc
    except httpx.TransportError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise translate_ssl_error(cause, f"liste blanche {url}") from exc
        raise ConnectError(f"liste blanche {url}: cannot connect ({exc})") from exc
