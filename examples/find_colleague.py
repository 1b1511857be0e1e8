"""Find a colleague by name and city in the sandbox's LDAP directory and print their mailboxes.

Accents and case do not matter (``lefebvre`` finds ``LEFÈBVRE``); the search pages through the
server's size limit; each mailbox is checked against the liste blanche before you write to it.

    python examples/find_colleague.py --name lefebvre --city "saint etienne"
    python examples/find_colleague.py --name dupont --given-name jean --city paris --profession 10

Uses the running sandbox (``mssante sandbox start``; root from ``$MSSANTE_SANDBOX_ROOT``).
Exit status: 0 when someone was found, 1 when nobody, 2 on error.
"""

from __future__ import annotations

import argparse
import sys

from mssante_client import Directory, LDAPDirectory, Professional, Whitelist
from mssante_client.errors import MssanteError
from mssante_client.sandbox import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", required=True, help="family name (prefix)")
    parser.add_argument("--given-name", help="given name (prefix)")
    parser.add_argument("--city", required=True)
    parser.add_argument("--profession", help="TRE_G15 code, e.g. 10 (médecin)")
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)

    info = Sandbox().status()
    if info is None:
        print("no running sandbox: start one with `mssante sandbox start`", file=sys.stderr)
        return 2
    try:
        whitelist = Whitelist.fetch(info.whitelist_url, ca_file=info.ca_file)
        backend = LDAPDirectory(
            info.ldap_uri,  # ldap:// → StartTLS, verified against the sandbox's test CA
            base_dn=f"ou=bal,{info.ldap_base}",
            ca_file=info.ca_file,
        )
        found = 0
        with Directory(backend) as directory:
            for entry in directory.iter_search(
                family_name=args.name,
                given_name=args.given_name,
                city=args.city,
                profession=args.profession,
                limit=args.limit,
            ):
                found += 1
                title = entry.display_name
                if isinstance(entry, Professional) and entry.profession is not None:
                    title += f" ({entry.profession.label}, RPPS {entry.rpps})"
                print(title)
                for mailbox in entry.mailboxes:
                    trusted = "ok" if whitelist.is_trusted(mailbox.address) else "NOT TRUSTED"
                    kind = mailbox.type.label if mailbox.type else "?"
                    print(f"    {mailbox.address}  [{kind}, liste blanche: {trusted}]")
    except MssanteError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if not found:
        print("nobody found")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
