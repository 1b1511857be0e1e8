"""CDA R2 documents and IHE_XDM packages for MSSanté (pure: bytes and files in, bytes out).

Models, the document-type catalogue, CDA building and reading, IHE_XDM packages, the
mail-facing helpers and the conformance check are re-exported here.
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

# IHE_XDM packages, the mail-facing helpers and the conformance check.
from .conformance import ConformanceIssue, ConformanceReport, validate
from .mssante import (
    DDM_PREFIX,
    companion_pdf,
    companion_pdf_name,
    ddm_subject,
    strip_ddm_prefix,
    x_mss_codecda,
    x_mss_ins,
)
from .xdm import Submission, build_xdm, write_xdm
from .xdm_read import (
    Finding,
    PackagedDocument,
    ReadLimits,
    Severity,
    Subset,
    XDMPackage,
    read_xdm,
)

__all__ += [
    "DDM_PREFIX",
    "ConformanceIssue",
    "ConformanceReport",
    "Finding",
    "PackagedDocument",
    "ReadLimits",
    "Severity",
    "Submission",
    "Subset",
    "XDMPackage",
    "build_xdm",
    "companion_pdf",
    "companion_pdf_name",
    "ddm_subject",
    "read_xdm",
    "strip_ddm_prefix",
    "validate",
    "write_xdm",
    "x_mss_codecda",
    "x_mss_ins",
]
