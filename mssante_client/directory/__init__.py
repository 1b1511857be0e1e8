"""The MSSanté directory: find a colleague's mailbox (ECO.3.1.4), check a domain is trusted.

One :class:`Directory` facade, one :class:`DirectoryQuery`, typed results, and backends:
:class:`LDAPDirectory` here, the FHIR Annuaire Santé API and the public extraction file in
their own modules. :class:`Whitelist` is the liste blanche of MSSanté domains.
"""

from __future__ import annotations

from .async_directory import AsyncDirectory, AsyncDirectoryBackend
from .backend import BackendPage, DirectoryBackend
from .directory import Directory
from .ldap import LDAPDirectory
from .ldap_mapping import SANDBOX_MAPPING, LDAPMapping
from .models import (
    CodedConcept,
    DirectoryEntry,
    DirectoryMailbox,
    Organisation,
    PostalAddress,
    Professional,
    SearchPage,
)
from .query import DirectoryQuery
from .whitelist import Whitelist, WhitelistDomain

__all__ = [
    "SANDBOX_MAPPING",
    "AsyncDirectory",
    "AsyncDirectoryBackend",
    "BackendPage",
    "CodedConcept",
    "Directory",
    "DirectoryBackend",
    "DirectoryEntry",
    "DirectoryMailbox",
    "DirectoryQuery",
    "LDAPDirectory",
    "LDAPMapping",
    "Organisation",
    "PostalAddress",
    "Professional",
    "SearchPage",
    "Whitelist",
    "WhitelistDomain",
]
