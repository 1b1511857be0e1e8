"""CDA R2 documents and IHE_XDM packages for MSSanté (pure: bytes and files in, bytes out).

Part A (this package's models, catalogue, CDA build/read and conformance checks) is re-exported
here; the XDM modules add their own names.
"""

from __future__ import annotations

from .catalogue import (
    DocumentType,
    all_document_types,
    document_type,
    level1_format_code,
)
from .document import Document
from .models import (
    Author,
    Body,
    CdaHeader,
    Code,
    Confidentiality,
    ConfidentialityFlag,
    Encounter,
    HeaderSpec,
    HealthProfessional,
    InstanceId,
    Organization,
    Patient,
    Section,
    ServiceEvent,
    Sex,
    TemplateId,
    facility_type,
    practice_setting,
    specialty,
)

__all__ = [
    "Author",
    "Body",
    "CdaHeader",
    "Code",
    "Confidentiality",
    "ConfidentialityFlag",
    "Document",
    "DocumentType",
    "Encounter",
    "HeaderSpec",
    "HealthProfessional",
    "InstanceId",
    "Organization",
    "Patient",
    "Section",
    "ServiceEvent",
    "Sex",
    "TemplateId",
    "all_document_types",
    "document_type",
    "facility_type",
    "level1_format_code",
    "practice_setting",
    "specialty",
]
