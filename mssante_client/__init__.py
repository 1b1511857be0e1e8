"""mssante_client: the Python SDK for MSSanté, France's secure health messaging.

The public API is re-exported here; everything else is private. See docs/architecture.md.
"""

from __future__ import annotations

from ._version import __version__
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all

__all__: list[str] = ["__version__", *_errors_all]

# --- identity (foundation) ------------------------------------------------------------------
from .identity import (
    ADELI,
    FINESS,
    INS,
    RPPS,
    SIRET,
    IdNatPS,
    IdNatStruct,
    InsKind,
    MailboxType,
    MSSanteAddress,
)

__all__ += [
    "ADELI",
    "FINESS",
    "INS",
    "RPPS",
    "SIRET",
    "IdNatPS",
    "IdNatStruct",
    "InsKind",
    "MSSanteAddress",
    "MailboxType",
]

# --- document (issue 3) ----------------------------------------------------------------------
from .document import (  # noqa: E402  # noqa: E402
    Code,
    Confidentiality,
    ConfidentialityFlag,
    ConformanceReport,
    Document,
    DocumentType,
    Encounter,
    Finding,
    HeaderSpec,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    ReadLimits,
    ServiceEvent,
    Sex,
    Submission,
    XDMPackage,
    all_document_types,
    build_xdm,
    document_type,
    read_xdm,
    validate,
)

__all__ += [
    "Code",
    "Confidentiality",
    "ConfidentialityFlag",
    "ConformanceReport",
    "Document",
    "DocumentType",
    "Encounter",
    "Finding",
    "HeaderSpec",
    "HealthProfessional",
    "InstanceId",
    "Organization",
    "Patient",
    "ReadLimits",
    "ServiceEvent",
    "Sex",
    "Submission",
    "XDMPackage",
    "all_document_types",
    "build_xdm",
    "document_type",
    "read_xdm",
    "validate",
]

# --- mail (issue 4) --------------------------------------------------------------------------
from .mail import (  # noqa: E402
    AsyncMailbox,
    Attachment,
    ClientCertificate,
    ComposedMessage,
    DeliveryReport,
    DispositionReport,
    DsnOptions,
    IntegrationError,
    Mailbox,
    Message,
    OAuth2Token,
    Password,
    ReceivedMessage,
    Sender,
    SendResult,
    SyncState,
    build_mdn,
    parse_received,
)

__all__ += [
    "AsyncMailbox",
    "Attachment",
    "ClientCertificate",
    "ComposedMessage",
    "DeliveryReport",
    "DispositionReport",
    "DsnOptions",
    "IntegrationError",
    "Mailbox",
    "Message",
    "OAuth2Token",
    "Password",
    "ReceivedMessage",
    "SendResult",
    "Sender",
    "SyncState",
    "build_mdn",
    "parse_received",
]
from .mail.credentials import OAuth2Mechanism  # noqa: E402
from .mail.endpoint import Security  # noqa: E402
from .mail.imap_parse import Envelope, EnvelopeAddress, FolderInfo  # noqa: E402
from .mail.mailbox import EnvelopeSync, MessageSync, TrustPolicy  # noqa: E402
from .mail.smtp import (  # noqa: E402
    AllRecipientsRefusedError,
    DeliveryUncertainError,
    RecipientResult,
    RetryPolicy,
)

__all__ += [
    "AllRecipientsRefusedError",
    "DeliveryUncertainError",
    "Envelope",
    "EnvelopeAddress",
    "EnvelopeSync",
    "FolderInfo",
    "MessageSync",
    "OAuth2Mechanism",
    "RecipientResult",
    "RetryPolicy",
    "Security",
    "TrustPolicy",
]

# --- directory (issue 5) ---------------------------------------------------------------------
from .directory import (  # noqa: E402
    AsyncDirectory,
    CodedConcept,
    Directory,
    DirectoryMailbox,
    DirectoryQuery,
    LDAPDirectory,
    LDAPMapping,
    Organisation,
    PostalAddress,
    Professional,
    SearchPage,
    Whitelist,
    WhitelistDomain,
)

__all__ += [
    "AsyncDirectory",
    "CodedConcept",
    "Directory",
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
from .directory.extraction import ExtractionBackend, ImportReport  # noqa: E402
from .directory.fhir import AsyncFhirBackend, FhirBackend  # noqa: E402

__all__ += ["AsyncFhirBackend", "ExtractionBackend", "FhirBackend", "ImportReport"]
