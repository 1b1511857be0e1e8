"""The sandbox's liste blanche: the official XML shape listing the sandbox domains.

Why: clients may pre-check recipients against the liste blanche of trusted MSSanté domains
(published by the ANS over HTTPS, see the rules digest §3). The sandbox serves its own list so
directory code can be tested for download, IGC-Santé-style TLS verification and caching.
Root element ``ListeBlanche`` (the real root name is not confirmed), namespace
``https://listeblanche.mssante.fr/schema``; children ``DateDeGeneration`` then repeated
``Domaine`` (``Nom``, ``Description``, ``DNCertificatOperateur``, ``ResponsableContact``,
``SupportContact``, ``DateMAJ``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from . import accounts as acc

__all__ = ["NAMESPACE", "ROOT_ELEMENT", "WhitelistDomain", "build_whitelist", "sandbox_domains"]

NAMESPACE = "https://listeblanche.mssante.fr/schema"
ROOT_ELEMENT = "ListeBlanche"


@dataclass(frozen=True)
class WhitelistDomain:
    name: str
    description: str
    operator_dn: str
    responsible_contact: str
    support_contact: str
    updated: dt.datetime


def sandbox_domains(now: dt.datetime) -> list[WhitelistDomain]:
    """The three sandbox domains: two operator domains and the patient stand-in."""

    def dn(cn: str, dept: str) -> str:
        return f"CN={cn},OU=0002 999999999,O=OPERATEUR MSSANTE TEST,ST={dept},C=FR"

    return [
        WhitelistDomain(
            acc.MEDECIN_DOMAIN,
            "Opérateur de test - médecins libéraux",
            dn("mx.medecin.mssante.test", "Paris (75)"),
            "responsable@medecin.mssante.test",
            "support@medecin.mssante.test",
            now,
        ),
        WhitelistDomain(
            acc.HOPITAL_DOMAIN,
            "Opérateur de test - CH TEST",
            dn("mx.hopital.mssante.test", "Rhône (69)"),
            "responsable@hopital.mssante.test",
            "support@hopital.mssante.test",
            now,
        ),
        WhitelistDomain(
            acc.PATIENT_DOMAIN,
            "Messagerie patient de test (Mon espace santé)",
            dn("mx.patient.mssante.test", "Paris (75)"),
            "responsable@patient.mssante.test",
            "support@patient.mssante.test",
            now,
        ),
    ]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def build_whitelist(domains: Sequence[WhitelistDomain], generated: dt.datetime) -> bytes:
    """Serialise the list as UTF-8 XML with a declaration."""
    ns = f"{{{NAMESPACE}}}"
    root = etree.Element(ns + ROOT_ELEMENT, nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    etree.SubElement(root, ns + "DateDeGeneration").text = _iso(generated)
    for d in domains:
        el = etree.SubElement(root, ns + "Domaine")
        for tag, text in (
            ("Nom", d.name),
            ("Description", d.description),
            ("DNCertificatOperateur", d.operator_dn),
            ("ResponsableContact", d.responsible_contact),
            ("SupportContact", d.support_contact),
            ("DateMAJ", _iso(d.updated)),
        ):
            etree.SubElement(el, ns + tag).text = text
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
