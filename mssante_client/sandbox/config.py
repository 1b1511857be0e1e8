"""Render the Dovecot, Postfix and slapd configuration of one sandbox (pure, no I/O).

Why: the configuration is the measured recipe (docs/sandbox.md, "gotchas") turned into
templates shipped with the package; rendering is a pure function of the layout, the ports and
the accounts, so it is testable without starting anything. Each result says the file mode it
needs (files that hold sandbox secrets are not world-readable).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import SandboxError
from . import accounts as acc
from .directory_seed import BAL_OU, BASE_DN
from .layout import SandboxLayout
from .models import SandboxAccount, SandboxPorts
from .tokens import ISSUER

__all__ = ["ConfigFile", "render", "render_all"]

_PLACEHOLDER = re.compile(r"@@(\w+)@@")


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    content: str
    mode: int = 0o644
    #: group that must be able to read it (Dovecot's unprivileged auth process)
    group: str | None = None


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``@@name@@`` placeholders of a packaged template; a missing value is an error."""
    text = resources.files(__package__).joinpath("templates", template).read_text("utf-8")

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SandboxError(f"template {template}: no value for {key!r}")
        return str(values[key])

    return _PLACEHOLDER.sub(sub, text)


def _passwd_line(user: str, extra: str = "") -> str:
    """A Dovecot passwd-file line (user:password:uid:gid:gecos:home:shell:extra_fields)."""
    return f"{user}::::::{extra}\n"


def render_all(
    layout: SandboxLayout,
    ports: SandboxPorts,
    accounts: Sequence[SandboxAccount],
    *,
    ldap_admin_dn: str,
    ldap_admin_password: str,
    instance_name: str,
) -> list[ConfigFile]:
    """Every configuration file of the three daemons, with its path and mode."""
    pki = layout.pki_dir
    values: dict[str, object] = {
        "root": layout.root,
        "instance_name": instance_name,
        "run_dir": layout.run_dir,
        "lib_dir": layout.lib_dir,
        "log_dir": layout.log_dir,
        "mail_dir": layout.mail_dir,
        "spool_dir": layout.spool_dir,
        "postfix_data_dir": layout.postfix_data_dir,
        "dovecot_dir": layout.dovecot_dir,
        "oauth2_keys_dir": layout.oauth2_keys_dir,
        "data_dir": layout.ldap_data_dir,
        "schema_file": layout.ldap_dir / "mssante-sandbox.schema",
        "server_fullchain": pki / "server.fullchain.pem",
        "server_key": pki / "server.key",
        "ca_bundle": pki / "ca-bundle.pem",
        "ca_bundle_with_crls": pki / "ca-bundle+crl.pem",
        "crl_file": pki / "crls.pem",
        "issuer": ISSUER,
        "imap_port": ports.imap,
        "imaps_port": ports.imaps,
        "submission_port": ports.submission,
        "submissions_port": ports.submissions,
        "lmtp_port": ports.lmtp,
        "smtp_internal_port": ports.smtp_internal,
        "medecin_domain": acc.MEDECIN_DOMAIN,
        "hopital_domain": acc.HOPITAL_DOMAIN,
        "relay_domains": " ".join((*acc.OPERATOR_DOMAINS, acc.PATIENT_DOMAIN)),
        "relay_recipients": _relay_recipients(accounts),
        "base_dn": BASE_DN,
        "bal_ou": BAL_OU,
        "admin_dn": ldap_admin_dn,
        "admin_password": ldap_admin_password,
    }
    dv = layout.dovecot_dir
    users = "".join(
        f"{a.address}:{{PLAIN}}{a.password}::::::\n" if a.password else _passwd_line(a.address)
        for a in accounts
    )
    # identities allowed to use SASL EXTERNAL = CN of a client cert (lower-cased: %Lu)
    cert_users = "".join(_passwd_line(a.address.lower()) for a in accounts if a.cert_file)
    files = [
        ConfigFile(dv / "dovecot.conf", render("dovecot.conf", values)),
        ConfigFile(dv / "oauth2.conf.ext", render("oauth2.conf.ext", values)),
        ConfigFile(dv / "users", users, 0o640, "dovecot"),
        ConfigFile(dv / "cert-users", cert_users, 0o640, "dovecot"),
        ConfigFile(layout.postfix_dir / "main.cf", render("postfix-main.cf", values)),
        ConfigFile(layout.postfix_dir / "master.cf", render("postfix-master.cf", values)),
        ConfigFile(
            layout.ldap_dir / "mssante-sandbox.schema", render("mssante-sandbox.schema", values)
        ),
        ConfigFile(layout.ldap_dir / "slapd.conf", render("slapd.conf", values), 0o600),
    ]
    delegations: dict[str, list[str]] = {}
    for a in accounts:
        for target in a.can_act_as:
            delegations.setdefault(target, []).append(a.address.lower())
    for target, who in delegations.items():
        content = "".join(_passwd_line(w) for w in who)
        files.append(ConfigFile(dv / "delegations" / target, content, 0o640, "dovecot"))
    return files


def _relay_recipients(accounts: Sequence[SandboxAccount]) -> str:
    """Postfix inline map: listed addresses exist; the hopital domain is a catch-all."""
    listed = [f"{a.address}=ok" for a in accounts if a.address.split("@")[1] != acc.HOPITAL_DOMAIN]
    return ", ".join([*listed, f"@{acc.HOPITAL_DOMAIN}=ok"])
