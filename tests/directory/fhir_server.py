"""A small local stand-in for the Annuaire Santé FHIR API (stdlib http.server, 127.0.0.1).

It serves searchset Bundles over an in-memory set of resources, like the real gateway: the API key
header is required, only the search parameters the real API documents are accepted (anything else
is a 400 OperationOutcome, so the client's mapping of criteria is checked by the server itself),
``_count`` is capped at 50 with ``next`` links, ``_include``/``_revinclude`` add related resources.
Faults (429 with Retry-After, 5xx, 400...) can be queued per resource type. Every request is
recorded so tests can assert what the client sent.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from mssante_client.identity import luhn_check_digit

DATA = Path(__file__).parent / "data"
API_KEY = "test-api-key-0123456789"
BASE_PATH = "/fhir/v2"


def load_examples() -> list[dict[str, Any]]:
    """The JSON translations of the official examples (tests/directory/data)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.json"))]


@dataclass
class Recorded:
    resource: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    path: str

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.params if k == name]


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    #: Seconds to wait before answering (to make the client time out).
    delay: float = 0.0


def outcome(text: str, code: str = "processing") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _starts(values: Iterable[str], wanted: str) -> bool:
    return any(_fold(v).startswith(_fold(wanted)) for v in values)


def _contains(values: Iterable[str], wanted: str) -> bool:
    return any(_fold(wanted) in _fold(v) for v in values)


def _token(pairs: Iterable[tuple[str | None, str]], wanted: str) -> bool:
    system, _, value = wanted.rpartition("|")
    return any(v == value and (not system or s == system) for s, v in pairs)


def _names(r: dict[str, Any], part: str) -> list[str]:
    out: list[str] = []
    for name in r.get("name", []):
        if part == "family" and "family" in name:
            out.append(name["family"])
        if part == "given":
            out.extend(name.get("given", []))
    return out


def _identifiers(r: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(i.get("system"), i["value"]) for i in r.get("identifier", []) if "value" in i]


def _qualifications(r: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [
        (c.get("system"), c["code"])
        for q in r.get("qualification", [])
        for c in q.get("code", {}).get("coding", [])
    ]


def _addresses(r: dict[str, Any], part: str) -> list[str]:
    return [a[part] for a in r.get("address", []) if part in a]


def _mailboxes(r: dict[str, Any]) -> list[str]:
    return [t["value"] for t in r.get("telecom", []) if t.get("system") == "email"]


Matcher = Callable[[dict[str, Any], str], bool]

#: resource type → search parameter → predicate (the documented parameters only, rules §5.1).
PARAMS: dict[str, dict[str, Matcher]] = {
    "Practitioner": {
        "identifier": lambda r, v: _token(_identifiers(r), v),
        "family": lambda r, v: _starts(_names(r, "family"), v),
        "given": lambda r, v: _starts(_names(r, "given"), v),
        "qualification-code": lambda r, v: _token(_qualifications(r), v),
        "mailbox-mss:contains": lambda r, v: _contains(_mailboxes(r), v),
    },
    "PractitionerRole": {
        "mailbox-mss:contains": lambda r, v: _contains(_mailboxes(r), v),
    },
    "Organization": {
        "identifier": lambda r, v: _token(_identifiers(r), v),
        "name:contains": lambda r, v: _contains([r.get("name", "")], v),
        "address-city": lambda r, v: _starts(_addresses(r, "city"), v),
        "address-postalcode": lambda r, v: _starts(_addresses(r, "postalCode"), v),
        "mailbox-mss:contains": lambda r, v: _contains(_mailboxes(r), v),
    },
}
CONTROL = {"_count", "_page", "_include", "_revinclude", "_include:iterate"}


class FhirTestServer:
    """``with FhirTestServer(resources) as server: server.base_url``."""

    def __init__(
        self,
        resources: Iterable[dict[str, Any]] | None = None,
        *,
        api_key: str = API_KEY,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.resources: list[dict[str, Any]] = list(
            resources if resources is not None else load_examples()
        )
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.faults: dict[str, deque[Fault]] = {}
        self._tls = tls
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ------------------------------------------------------------------------

    def add_fault(self, resource: str, *faults: Fault) -> None:
        with self._lock:
            self.faults.setdefault(resource, deque()).extend(faults)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}{BASE_PATH}"

    def __enter__(self) -> FhirTestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = server.handle(self.path, dict(self.headers.items()))
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    # --- request handling ------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(path)
        resource = parts.path.removeprefix(BASE_PATH + "/")
        params = parse_qsl(parts.query, keep_blank_values=True)
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append(Recorded(resource, params, lowered, parts.path))
            queue = self.faults.get(resource) or self.faults.get("*")
            fault = queue.popleft() if queue else None
        if lowered.get("esante-api-key") != self.api_key:
            return 401, {}, outcome("Invalid or missing API key", "security")
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            return fault.status, fault.headers, fault.body or outcome(f"fault {fault.status}")
        if resource not in PARAMS:
            return 404, {}, outcome(f"Unknown resource type {resource}", "not-supported")
        known = PARAMS[resource]
        for name, _ in params:
            if name not in known and name not in CONTROL and not self._chained(resource, name):
                return 400, {}, outcome(f"Unknown search parameter '{name}'", "invalid")
        return 200, {}, self._bundle(resource, params)

    def _chained(self, resource: str, name: str) -> bool:
        if resource != "PractitionerRole":
            return False
        target, _, inner = name.partition(".")
        kinds = {"practitioner": "Practitioner", "organization": "Organization"}
        return target in kinds and inner in PARAMS[kinds[target]]

    def _get(self, reference: dict[str, Any] | None) -> dict[str, Any] | None:
        if not reference:
            return None
        kind, _, ident = reference.get("reference", "").rpartition("/")
        kind = kind.rsplit("/", 1)[-1]
        return next(
            (r for r in self.resources if r["resourceType"] == kind and r.get("id") == ident),
            None,
        )

    def _matches(self, resource: str, r: dict[str, Any], params: list[tuple[str, str]]) -> bool:
        for name, value in params:
            if name in CONTROL:
                continue
            if resource == "PractitionerRole" and "." in name:
                target, _, inner = name.partition(".")
                linked = self._get(r.get(target))
                kind = "Practitioner" if target == "practitioner" else "Organization"
                if linked is None or not PARAMS[kind][inner](linked, value):
                    return False
            elif not PARAMS[resource][name](r, value):
                return False
        return True

    def _bundle(self, resource: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        hits = sorted(
            (
                r
                for r in self.resources
                if r["resourceType"] == resource and self._matches(resource, r, params)
            ),
            key=lambda r: r["id"],
        )
        control = dict(params)
        count = min(int(control.get("_count", "50")), 50)
        page = int(control.get("_page", "0"))
        chunk = hits[page * count : (page + 1) * count]
        entries = [self._entry(r, "match") for r in chunk]
        entries += [self._entry(r, "include") for r in self._includes(chunk, params)]
        base = f"{self.base_url}/{resource}"
        plain = [(k, v) for k, v in params if k != "_page"]
        links = [{"relation": "self", "url": f"{base}?{urlencode(params)}"}]
        if (page + 1) * count < len(hits):
            links.append(
                {"relation": "next", "url": f"{base}?{urlencode([*plain, ('_page', page + 1)])}"}
            )
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(hits),
            "link": links,
            "entry": entries,
        }

    def _entry(self, r: dict[str, Any], mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{self.base_url}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": mode},
        }

    def _includes(
        self, chunk: list[dict[str, Any]], params: list[tuple[str, str]]
    ) -> Iterator[dict[str, Any]]:
        wanted = {v for k, v in params if k.startswith(("_include", "_revinclude"))}
        seen: set[tuple[str, str]] = {(r["resourceType"], r["id"]) for r in chunk}
        roles: list[dict[str, Any]] = [r for r in chunk if r["resourceType"] == "PractitionerRole"]
        found: list[dict[str, Any]] = []
        if "PractitionerRole:practitioner" in wanted:
            ids = {f"Practitioner/{r['id']}" for r in chunk if r["resourceType"] == "Practitioner"}
            extra = [
                r
                for r in self.resources
                if r["resourceType"] == "PractitionerRole"
                and r.get("practitioner", {}).get("reference") in ids
            ]
            found += extra
            roles += extra
            found += [p for p in (self._get(r.get("practitioner")) for r in roles) if p]
        if "PractitionerRole:organization" in wanted:
            found += [o for o in (self._get(r.get("organization")) for r in roles) if o]
        for r in found:
            key = (r["resourceType"], r["id"])
            if key not in seen:
                seen.add(key)
                yield r


def _rpps(index: int) -> str:
    body = f"1{index:09d}"
    return body + str(luhn_check_digit(body))


def practitioners(count: int, family: str = "PAGINE") -> list[dict[str, Any]]:
    """``count`` generated practitioners with a PER mailbox each (for paging tests)."""
    meta = (
        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
        "as-ext-mailbox-mss-metadata"
    )
    bal = "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
    out = []
    for i in range(count):
        out.append(
            {
                "resourceType": "Practitioner",
                "id": f"gen-{i:04d}",
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + _rpps(i)}],
                "name": [{"use": "official", "family": family, "given": [f"Prénom{i}"]}],
                "telecom": [
                    {
                        "system": "email",
                        "value": f"p{i}@{family.lower()}.mssante.fr",
                        "extension": [
                            {
                                "url": meta,
                                "extension": [
                                    {
                                        "url": "type",
                                        "valueCodeableConcept": {
                                            "coding": [{"system": bal, "code": "PER"}]
                                        },
                                    },
                                    {"url": "listeRouge", "valueBoolean": False},
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    return out
