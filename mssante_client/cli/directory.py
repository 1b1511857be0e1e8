"""``mssante search``, ``mssante directory import`` and ``mssante whitelist check``.

Thin shell over :mod:`mssante_client.directory`: criteria become a ``DirectoryQuery`` (so the
CLI and the library refuse the same things, with the same ``QueryError``), results are printed
one per line or as JSON. Secrets come only from environment variables or files. ``--sandbox``
takes the LDAP and liste blanche endpoints and the test CA from a running sandbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import Any

from ..directory import Directory, DirectoryBackend, DirectoryQuery, Professional
from ..directory.models import DirectoryEntry
from ..errors import ConfigurationError
from ._output import print_json, progress, progress_done

__all__ = ["register"]

_CRITERIA = (
    ("--name", "family_name", "family name (prefix, accents and case ignored)"),
    ("--given-name", "given_name", "given name (prefix, accents and case ignored)"),
    ("--rpps", "rpps", "RPPS number (11 digits)"),
    ("--id-nat-ps", "id_nat_ps", "national PS identifier (8+RPPS or 0+ADELI)"),
    ("--adeli", "adeli", "ADELI number"),
    ("--profession", "profession", "TRE_G15 profession code (10 médecin, 60 infirmier...)"),
    ("--specialty", "specialty", "TRE_R38 savoir-faire code (SM26...)"),
    ("--organisation", "organisation", "part of the structure's name"),
    ("--finess", "finess", "FINESS number of the structure"),
    ("--siret", "siret", "SIRET number of the structure"),
    ("--city", "city", "city (accents, case and hyphens ignored)"),
    ("--postal-code", "postal_code", "postal code (5 digits)"),
    ("--department", "department", "department code (75, 2A, 974...)"),
    ("--type", "mailbox_type", "mailbox type: PER, ORG, APP or CAB"),
    ("--text", "text", "free text: every word must appear somewhere"),
)


def _sandbox_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        nargs="?",
        const="",
        default=None,
        metavar="ROOT",
        help="use the running sandbox (default root: $MSSANTE_SANDBOX_ROOT or the usual one)",
    )


def register(subparsers: Any) -> None:
    search = subparsers.add_parser(
        "search",
        help="find a colleague's MSSanté mailbox in a directory",
        description="Search a directory (LDAP, FHIR Annuaire Santé or extraction index) with "
        "any combination of criteria. Exit code 0 if something was found, 1 if not.",
        allow_abbrev=False,
    )
    criteria = search.add_argument_group("criteria (combined with AND)")
    for flag, dest, text in _CRITERIA:
        criteria.add_argument(flag, dest=dest, help=text)
    search.add_argument("--limit", type=int, default=50, help="maximum results (default 50)")
    search.add_argument(
        "--backend", choices=("ldap", "fhir", "extraction"), default="ldap", help="default ldap"
    )
    _sandbox_option(search)
    ldap_opts = search.add_argument_group("LDAP backend")
    ldap_opts.add_argument("--uri", help="ldaps://host or ldap://host (StartTLS)")
    ldap_opts.add_argument("--base-dn", help="where the mailbox entries are")
    search.add_argument(
        "--ca-file", type=Path, help="trust anchor (LDAP default: IGC-Santé; FHIR: system)"
    )
    ldap_opts.add_argument("--bind-dn", help="simple bind DN (password from --password-env)")
    ldap_opts.add_argument("--password-env", metavar="VAR", help="env var holding the password")
    ldap_opts.add_argument("--cert", type=Path, help="client certificate for SASL EXTERNAL")
    ldap_opts.add_argument("--key", type=Path, help="private key of --cert")
    other = search.add_argument_group("other backends")
    other.add_argument("--index", type=Path, help="extraction index (SQLite) to search")
    other.add_argument("--fhir-url", help="FHIR Annuaire Santé base URL")
    other.add_argument("--api-key-env", metavar="VAR", help="env var holding ESANTE-API-KEY")
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.set_defaults(handler=_search)

    directory = subparsers.add_parser(
        "directory", help="manage the local directory index", allow_abbrev=False
    )
    sub = directory.add_subparsers(dest="directory_command", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="import an 'Extraction Correspondance MSSanté' file (.txt or .zip)",
        allow_abbrev=False,
    )
    imp.add_argument("file", type=Path, help="the extraction (.txt or .zip)")
    imp.add_argument("--index", type=Path, help="SQLite index to (re)build (default: cache)")
    imp.add_argument("--json", action="store_true", help="machine-readable report")
    imp.set_defaults(handler=_import)

    whitelist = subparsers.add_parser(
        "whitelist", help="the MSSanté liste blanche of trusted domains", allow_abbrev=False
    )
    wsub = whitelist.add_subparsers(dest="whitelist_command", metavar="ACTION", required=True)
    check = wsub.add_parser(
        "check",
        help="is this address's domain on the liste blanche? (exit 0 yes, 1 no)",
        allow_abbrev=False,
    )
    check.add_argument("address")
    check.add_argument("--url", help="where the list is published (default: the ANS URL)")
    check.add_argument("--ca-file", type=Path, help="trust anchor instead of IGC-Santé")
    check.add_argument("--cache-dir", type=Path, help="cache directory (default: user cache)")
    check.add_argument(
        "--max-age", type=float, default=24.0, help="hours before asking again (default 24)"
    )
    _sandbox_option(check)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_whitelist_check)


# --- helpers -------------------------------------------------------------------------------


def _sandbox_info(root: str) -> Any:
    from ..sandbox import Sandbox
    from ..sandbox.models import SandboxInfo

    sandbox = Sandbox(root or None)
    try:
        return SandboxInfo.model_validate_json(sandbox.layout.info_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"no running sandbox description in {sandbox.root} (mssante sandbox start)"
        ) from exc


def _env_secret(var: str | None, what: str) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise ConfigurationError(f"environment variable {var} (for {what}) is not set")
    return value


def default_index_path() -> Path:
    """``$XDG_CACHE_HOME/mssante_client/extraction.sqlite``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mssante_client" / "extraction.sqlite"


def _ldap_backend(args: argparse.Namespace) -> DirectoryBackend:
    from ..directory.ldap import LDAPDirectory

    uri, base, ca_file = args.uri, args.base_dn, args.ca_file
    if args.sandbox is not None:
        info = _sandbox_info(args.sandbox)
        uri = uri or info.ldap_uri
        base = base or f"ou=bal,{info.ldap_base}"
        ca_file = ca_file or info.ca_file
    if not uri or not base:
        raise ConfigurationError("--uri and --base-dn are required (or --sandbox)")
    return LDAPDirectory(
        uri,
        base_dn=base,
        ca_file=ca_file,
        bind_dn=args.bind_dn,
        password=_env_secret(args.password_env, "--bind-dn"),
        client_cert=args.cert,
        client_key=args.key,
        sasl_external=args.cert is not None,
    )


def _fhir_backend(args: argparse.Namespace) -> DirectoryBackend:
    from ..directory.fhir import DEFAULT_FHIR_BASE_URL, FhirBackend

    return FhirBackend(
        _env_secret(args.api_key_env, "--api-key-env"),
        base_url=args.fhir_url or DEFAULT_FHIR_BASE_URL,
        verify=str(args.ca_file) if args.ca_file else "system",
    )


def _extraction_backend(args: argparse.Namespace) -> DirectoryBackend:
    from ..directory.extraction import ExtractionBackend

    return ExtractionBackend(args.index or default_index_path())


def _line(entry: DirectoryEntry) -> str:
    parts = [entry.display_name or "?"]
    if isinstance(entry, Professional):
        job = " / ".join(
            c.label or c.code for c in (entry.profession, entry.specialty) if c is not None
        )
        if job:
            parts.append(job)
        if entry.organisation_name:
            parts.append(entry.organisation_name)
    elif entry.organisation_name and entry.organisation_name != entry.display_name:
        parts.append(entry.organisation_name)
    place = next(iter(entry.addresses), None)
    if place is not None:
        parts.append(" ".join(p for p in (place.postal_code, place.city) if p))
    boxes = ", ".join(f"{m.address} [{m.type.value if m.type else '?'}]" for m in entry.mailboxes)
    return " — ".join([*parts, boxes])


# --- handlers ------------------------------------------------------------------------------


def _search(args: argparse.Namespace) -> int:
    criteria = {dest: getattr(args, dest) for _, dest, _ in _CRITERIA}
    query = DirectoryQuery(
        **{k: v for k, v in criteria.items() if v is not None},
        limit=args.limit,
        page_size=min(args.limit, 200) if args.limit and args.limit > 0 else 50,
    )
    if query.is_empty:
        raise ConfigurationError("give at least one criterion (see mssante search --help)")
    factory = {"ldap": _ldap_backend, "fhir": _fhir_backend, "extraction": _extraction_backend}
    with Directory(factory[args.backend](args)) as directory:
        results: list[DirectoryEntry] = []
        truncated = False
        for page in directory.iter_pages(query):
            results.extend(page.results)
            truncated = truncated or page.truncated
    if args.json:
        print_json(
            {
                "backend": args.backend,
                "count": len(results),
                "truncated": truncated,
                "results": [r.model_dump(mode="json", exclude_none=True) for r in results],
            }
        )
    else:
        for entry in results:
            print(_line(entry))
        if truncated:
            print("(the server's limit cut the answer short)")
    return 0 if results else 1


def _import(args: argparse.Namespace) -> int:
    from ..directory.extraction import build_index

    index = args.index or default_index_path()

    def report(lines: int, consumed: int, total: int | None) -> None:
        share = f" ({100 * consumed // total} %)" if total else ""
        progress(f"importing {args.file.name}: {lines:,} lines{share}")

    result = build_index(args.file, index, progress=report)
    progress_done()
    if args.json:
        print_json(
            {
                "index": str(index),
                "source": result.source,
                "rows_read": result.rows_read,
                "rows_imported": result.rows_imported,
                "mailboxes": result.mailboxes,
                "duplicate_rows": result.duplicate_rows,
                "malformed": result.malformed,
                "malformed_lines": [
                    {"line": m.line, "reason": m.reason} for m in result.malformed_lines
                ],
            }
        )
    else:
        print(
            f"{index}: {result.mailboxes:,} mailboxes from {result.rows_read:,} lines "
            f"({result.malformed:,} malformed, {result.duplicate_rows:,} duplicates merged)"
        )
    return 0


def _whitelist_check(args: argparse.Namespace) -> int:
    from ..directory.whitelist import DEFAULT_URL, Whitelist
    from ..identity import MSSanteAddress

    address = MSSanteAddress(args.address)  # a malformed address is an error, not a "no"
    url, ca_file = args.url, args.ca_file
    if args.sandbox is not None:
        info = _sandbox_info(args.sandbox)
        url = url or info.whitelist_url
        ca_file = ca_file or info.ca_file
    whitelist = Whitelist.fetch(
        url or DEFAULT_URL,
        ca_file=ca_file,
        cache_dir=args.cache_dir,
        max_age=dt.timedelta(hours=args.max_age),
    )
    trusted = whitelist.is_trusted(address)
    age = whitelist.age()
    if args.json:
        domain = whitelist.domains.get(address.domain)
        print_json(
            {
                "address": str(address),
                "domain": address.domain,
                "trusted": trusted,
                "operator": domain.model_dump(mode="json") if domain else None,
                "list": {
                    "source": whitelist.source,
                    "generated_at": whitelist.generated_at,
                    "domains": len(whitelist),
                    "age_seconds": age.total_seconds() if age else None,
                    "from_cache": whitelist.from_cache,
                    "stale": whitelist.stale,
                },
            }
        )
    else:
        verdict = "trusted" if trusted else "NOT on the liste blanche"
        print(
            f"{address.domain}: {verdict} ({len(whitelist)} domains, list of "
            f"{whitelist.generated_at or 'unknown date'})"
        )
    return 0 if trusted else 1
