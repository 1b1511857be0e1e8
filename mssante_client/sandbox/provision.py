"""Building a sandbox root: directories, keys, accounts, configuration and its description.

Why: everything a start writes is made here, before any daemon runs, and only under the root
(nothing in /etc, no shared cache). Secrets are created 0600; files a daemon's unprivileged
worker must read are group-readable by that daemon's group only.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import SandboxError
from . import accounts as acc
from .config import render_all
from .directory_seed import BASE_DN
from .layout import SandboxLayout
from .models import CertBundle, SandboxAccount, SandboxInfo, SandboxPorts, TokenIssuer
from .pki import IssuedCert, Pki, write_private_file
from .services import LOOPBACK, MAIL_HOST
from .tokens import ISSUER, RS256_KID
from .whitelist_server import PATH as WHITELIST_PATH

__all__ = [
    "LdapAdmin",
    "describe",
    "make_accounts",
    "prepare_root",
    "write_configs",
    "write_file",
    "write_token_keys",
]

LdapAdmin = tuple[str, str]


def prepare_root(layout: SandboxLayout) -> None:
    """Create (or clean) the root; refuse a non-empty directory that is not a sandbox root."""
    root = layout.root
    if root.exists() and any(root.iterdir()) and not layout.marker.exists():
        raise SandboxError(f"{root} is not empty and is not a sandbox root; refusing to use it")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the daemons' workers (nobody, postfix, dovecot) traverse it
    layout.marker.write_text("mssante_client sandbox root\n")
    for d in layout.state_dirs:
        if d.exists():
            shutil.rmtree(d)
    layout.info_file.unlink(missing_ok=True)
    for d in (*layout.state_dirs, layout.dovecot_dir, layout.postfix_dir, layout.ldap_dir,
              layout.ldap_data_dir, layout.postfix_data_dir, layout.spool_dir):  # fmt: skip
        d.mkdir(parents=True, exist_ok=True)
    for private in (layout.pki_dir, layout.tokens_dir):
        private.chmod(0o711)  # files inside are 0600; the dir only needs to be traversed
    os.chown(layout.mail_dir, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    postfix = pwd.getpwnam("postfix")
    os.chown(layout.postfix_data_dir, postfix.pw_uid, postfix.pw_gid)
    layout.postfix_data_dir.chmod(0o700)


def write_file(path: Path, data: bytes, mode: int, group: str | None = None) -> None:
    """Write with ``mode`` (private files never exist with a wider mode), optional group."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode & 0o077 == 0:
        write_private_file(path, data)
    else:
        path.write_bytes(data)
    if group is not None:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    path.chmod(mode)


def write_token_keys(layout: SandboxLayout) -> TokenIssuer:
    """The HS256 secret and RS256 key pair: private halves for minting (0600), and the keys
    Dovecot's oauth2 passdb looks up at ``<dict>/default/<alg>/<kid>`` (HS256 base64)."""
    tokens = layout.tokens_dir
    keys = layout.oauth2_keys_dir / "default"
    secret = secrets.token_bytes(32)
    write_private_file(tokens / "hs256.key", secret)
    write_file(keys / "HS256" / "default", base64.b64encode(secret), 0o640, "dovecot")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private_file(
        tokens / "rs256.key",
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_file(tokens / "rs256.pub", public, 0o644)
    write_file(keys / "RS256" / RS256_KID, public, 0o644)
    for d in (layout.oauth2_keys_dir, keys, keys / "HS256", keys / "RS256"):
        d.chmod(0o755)
    root = layout.root
    return TokenIssuer(
        issuer=ISSUER,
        algorithms=["HS256", "RS256"],
        hs256_key_file=tokens / "hs256.key",
        rs256_key_file=tokens / "rs256.key",
        rs256_public_key_file=tokens / "rs256.pub",
        rs256_kid=RS256_KID,
        username_claim="email",
        cli=f"mssante sandbox token --root {root} ADDRESS [--alg RS256] [--expired]",
        python=f"Sandbox(root={str(root)!r}).mint_token(address, alg='HS256')",
    )


def make_accounts(pki: Pki) -> list[SandboxAccount]:
    """The fixed accounts with fresh random passwords and their issued certificates."""
    result = []
    for spec in acc.ACCOUNT_SPECS:
        cert = pki.clients[spec.cert.name] if spec.cert else None
        result.append(
            SandboxAccount(
                address=spec.address,
                mailbox_type=spec.mailbox_type,
                display_name=spec.display_name,
                password=acc.new_password(),
                cert_file=cert.cert_file if cert else None,
                key_file=cert.key_file if cert else None,
                chain_file=cert.chain_file if cert else None,
                p12_file=cert.p12_file if cert else None,
                p12_password=cert.p12_password if cert else None,
                cert_subject=cert.subject if cert else None,
                can_act_as=list(spec.can_act_as),
                is_patient=spec.is_patient,
                revoked=cert.revoked if cert else False,
            )
        )
    return result


def write_configs(
    layout: SandboxLayout,
    ports: SandboxPorts,
    accounts: Sequence[SandboxAccount],
    admin: LdapAdmin,
    instance_name: str,
) -> None:
    for f in render_all(layout, ports, accounts, ldap_admin_dn=admin[0],
                        ldap_admin_password=admin[1], instance_name=instance_name):  # fmt: skip
        write_file(f.path, f.content.encode(), f.mode, f.group)


def _bundle(address: str, cert: IssuedCert) -> CertBundle:
    return CertBundle(
        address=address,
        subject=cert.subject,
        serial=cert.serial,
        cert_file=cert.cert_file,
        key_file=cert.key_file,
        chain_file=cert.chain_file,
        p12_file=cert.p12_file,
        p12_password=cert.p12_password,
    )


def describe(
    layout: SandboxLayout,
    port_base: int,
    pki: Pki,
    accounts: list[SandboxAccount],
    tokens: TokenIssuer,
    admin: LdapAdmin,
    entries: int,
    pids: dict[str, int],
) -> SandboxInfo:
    """The :class:`SandboxInfo` of a started sandbox (pure assembly)."""
    p = SandboxPorts.from_base(port_base)
    return SandboxInfo(
        root=layout.root,
        port_base=port_base,
        host=MAIL_HOST,
        loopback_host=LOOPBACK,
        ports=p,
        imap_port=p.imap,
        imaps_port=p.imaps,
        submission_port=p.submission,
        submissions_port=p.submissions,
        ca_file=pki.ca_file,
        ca_bundle_file=pki.ca_bundle_file,
        crl_file=pki.crl_file,
        operator_domains=list(acc.OPERATOR_DOMAINS),
        patient_domain=acc.PATIENT_DOMAIN,
        accounts=accounts,
        revoked_cert=_bundle(acc.REVOQUE, pki.clients[acc.REVOKED_CERT]),
        rogue_cert=_bundle(acc.JEAN, pki.clients[acc.ROGUE_CERT.name]),
        ldap_uri=f"ldap://{LOOPBACK}:{p.ldap}",
        ldaps_uri=f"ldaps://{LOOPBACK}:{p.ldaps}",
        ldap_base=BASE_DN,
        ldap_admin_dn=admin[0],
        ldap_admin_password=admin[1],
        directory_seed_file=layout.seed_file,
        directory_entries=entries,
        whitelist_url=f"https://{LOOPBACK}:{p.whitelist}{WHITELIST_PATH}",
        whitelist_file=layout.whitelist_file,
        tokens=tokens,
        pids=pids,
        log_dir=layout.log_dir,
    )
