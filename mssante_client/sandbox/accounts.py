"""The sandbox's fixed mailboxes and client certificates (pure data, no I/O).

Why: tests everywhere refer to these addresses by name, so they are fixed; the passwords of
a given sandbox are random (generated at start, written only under its root).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ..identity import INS, SANDBOX_PATIENT_DOMAIN, MailboxType
from .pki import ClientCertSpec, Issuer

__all__ = [
    "ACCOUNT_SPECS",
    "CH_TEST_FINESS",
    "CH_TEST_ID_NAT_STRUCT",
    "HOPITAL_DOMAIN",
    "MEDECIN_DOMAIN",
    "OPERATOR_DOMAINS",
    "PATIENT_DOMAIN",
    "PATIENT_INS",
    "REVOKED_CERT",
    "ROGUE_CERT",
    "AccountSpec",
    "new_password",
]

#: Operator domain where an unknown recipient is refused at RCPT TO (550, synchronous).
MEDECIN_DOMAIN = "medecin.mssante.test"
#: Operator domain where an unknown recipient is accepted, then bounced (asynchronous DSN).
HOPITAL_DOMAIN = "hopital.mssante.test"
#: Stand-in for Mon espace santé's ``patient.mssante.fr`` (ECO.2.2.6).
PATIENT_DOMAIN = SANDBOX_PATIENT_DOMAIN
OPERATOR_DOMAINS = (MEDECIN_DOMAIN, HOPITAL_DOMAIN)

#: FINESS of the fixed structure "CH TEST" (Lyon) that owns the fixed ORG/APP mailboxes.
CH_TEST_FINESS = "690999990"
#: Its IdNatStruct ("1" + FINESS): the OU of its certificates.
CH_TEST_ID_NAT_STRUCT = "1" + CH_TEST_FINESS

#: A test INS (NIR shape, test OID): matricule 2 85 07 75 123 456 + its computed key.
PATIENT_INS = INS.from_matricule("2850775123456", oid=INS.OID_TEST_NIR, qualified=True)


@dataclass(frozen=True)
class AccountSpec:
    """A fixed mailbox; ``cert`` is issued by the PERSONNES (PER) or ORGANISATIONS CA."""

    address: str
    mailbox_type: MailboxType
    display_name: str
    cert: ClientCertSpec | None = None
    can_act_as: tuple[str, ...] = field(default=())
    is_patient: bool = False


def _cert(
    name: str,
    address: str,
    mailbox_type: MailboxType,
    org: str,
    ou: str | None = None,
    *,
    revoked: bool = False,
) -> ClientCertSpec:
    issuer: Issuer = "per" if mailbox_type is MailboxType.PER else "org"
    return ClientCertSpec(name, issuer, address, org, address, ou, revoked=revoked)


JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
DPI = "dpi.cardio@hopital.mssante.test"
SECRETARIAT = "secretariat.cardio@hopital.mssante.test"
ACCUEIL = "accueil@hopital.mssante.test"
REVOQUE = "revoque@medecin.mssante.test"
PATIENT = f"{PATIENT_INS.value}@{PATIENT_DOMAIN}"

ACCOUNT_SPECS: tuple[AccountSpec, ...] = (
    AccountSpec(
        JEAN,
        MailboxType.PER,
        "Dr Jean DUPONT",
        _cert("jean.dupont", JEAN, MailboxType.PER, "CABINET TEST"),
    ),
    AccountSpec(HELENE, MailboxType.PER, "Hélène LEFÈBVRE"),
    AccountSpec(
        SECRETARIAT,
        MailboxType.ORG,
        "Secrétariat cardiologie CH TEST",
        _cert("secretariat.cardio", SECRETARIAT, MailboxType.ORG, "CH TEST", CH_TEST_ID_NAT_STRUCT),
    ),
    AccountSpec(ACCUEIL, MailboxType.ORG, "Accueil CH TEST"),
    AccountSpec(
        DPI,
        MailboxType.APP,
        "DPI Cardiologie CH TEST",
        _cert("dpi.cardio", DPI, MailboxType.APP, "CH TEST", CH_TEST_ID_NAT_STRUCT),
        can_act_as=(SECRETARIAT,),
    ),
    AccountSpec(
        REVOQUE,
        MailboxType.PER,
        "Dr Rémi VOQUÉ",
        _cert("revoque", REVOQUE, MailboxType.PER, "CABINET TEST", revoked=True),
    ),
    AccountSpec(PATIENT, MailboxType.PER, "Patient de test", is_patient=True),
)

#: The revoked certificate (also the ``revoque`` account's): EXTERNAL must fail with it.
REVOKED_CERT = "revoque"
#: A self-signed certificate claiming Jean's identity: unknown CA, EXTERNAL must fail.
ROGUE_CERT = ClientCertSpec("rogue", "self", JEAN, "ROGUE", JEAN)


def new_password() -> str:
    """A random throw-away sandbox password."""
    return secrets.token_urlsafe(12)
