"""``mssante send`` and ``mssante inbox``: send a message, list and fetch a mailbox.

A thin shell over :class:`~mssante_client.mail.mailbox.Mailbox`. Secrets never come from argv:
passwords, tokens and PKCS#12 passwords are read from environment variables (``--*-env``) or
files (``--*-file``), and nothing secret is printed. ``--sandbox`` takes host, ports, CA and (by
default) the account's test password from a running sandbox's ``sandbox.json``.
"""

from __future__ import annotations

import argparse
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..document import Document
from ..errors import ConfigurationError, InvalidInputError, MessageError
from ..identity import INS, PATIENT_DOMAIN
from ..mail.credentials import (
    ClientCertificate,
    Credentials,
    OAuth2Mechanism,
    OAuth2Token,
    Password,
)
from ..mail.mailbox import Mailbox
from ..mail.message import Attachment, DsnOptions, Message, Sender
from ..mail.received import ReceivedMessage
from ..mail.sync import SyncState
from ._output import print_json, progress, progress_done

__all__ = ["register"]


# --- arguments -----------------------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--sandbox",
        nargs="?",
        const="",
        default=None,
        metavar="ROOT",
        help="use the running sandbox (default root: $MSSANTE_SANDBOX_ROOT or the usual one)",
    )
    group.add_argument("--host", help="mail server host")
    group.add_argument("--smtp-port", type=int, help="submission port (default 587)")
    group.add_argument("--imap-port", type=int, help="IMAP port (default 143)")
    group.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte")
    group.add_argument("--ca-file", type=Path, help="trust anchor instead of the IGC-Santé root")
    group.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    creds = parser.add_argument_group("credentials (secrets only from env vars or files)")
    creds.add_argument("--cert", type=Path, help="client certificate (PEM, chain leaf first)")
    creds.add_argument("--key", type=Path, help="private key (PEM) of --cert")
    creds.add_argument("--key-password-env", metavar="VAR", help="env var holding the key password")
    creds.add_argument("--p12", type=Path, help="client certificate and key as PKCS#12")
    creds.add_argument("--p12-password-env", metavar="VAR", help="env var with the p12 password")
    creds.add_argument("--authzid", help="with a certificate: the mailbox to act as")
    creds.add_argument("--token-env", metavar="VAR", help="env var holding an OAuth2 token")
    creds.add_argument("--token-file", type=Path, help="file holding an OAuth2 token")
    creds.add_argument("--oauthbearer", action="store_true", help="OAUTHBEARER, not XOAUTH2")
    creds.add_argument("--password-env", metavar="VAR", help="env var holding a password")
    creds.add_argument("--password-file", type=Path, help="file holding a password")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: Any) -> None:
    send = subparsers.add_parser(
        "send",
        help="send a message (documents as IHE_XDM.ZIP, DSN / read receipt)",
        description="Compose and send an MSSanté message; prints each recipient's result.",
        allow_abbrev=False,  # "--p12-password SECRET" must not match "--p12-password-env"
    )
    send.add_argument("--from", dest="sender", required=True, help="your MSSanté address")
    send.add_argument("--display-name", help="sender display name (ECO.2.2.7)")
    send.add_argument("--to", action="append", default=[], help="recipient (repeat)")
    send.add_argument("--cc", action="append", default=[], help="copy recipient (repeat)")
    send.add_argument("--bcc", action="append", default=[], help="hidden recipient (repeat)")
    send.add_argument(
        "--to-ins",
        action="append",
        default=[],
        metavar="INS",
        help="patient by QUALIFIED INS (you assert the identity is qualified, ECO.2.2.6)",
    )
    send.add_argument("--patient-domain", help=f"patient domain (default {PATIENT_DOMAIN})")
    send.add_argument("--subject", help="subject (default with documents: XDM/1.0/DDM+...)")
    body = send.add_mutually_exclusive_group()
    body.add_argument("--body", default="", help="text body")
    body.add_argument("--body-file", type=Path, help="text body from a UTF-8 file")
    send.add_argument("--html-file", type=Path, help="HTML alternative body")
    send.add_argument("--attach", action="append", default=[], type=Path, help="file to attach")
    send.add_argument(
        "--document",
        action="append",
        default=[],
        type=Path,
        help="CDA (.xml) or IHE_XDM.ZIP whose documents are sent as a package (one patient)",
    )
    send.add_argument("--dossier", help="file number for the PDF name (ECO.2.1.6)")
    send.add_argument("--reply-to", help="Reply-To address (ECO.2.2.5)")
    send.add_argument("--notify", help="DSN: success,failure,delay or never (ECO.2.3.1)")
    send.add_argument("--mdn", action="store_true", help="ask for a read receipt (ECO.2.3.2)")
    send.add_argument("--end", action="store_true", help="X-MSS-MES: FIN to a patient")
    send.add_argument("--nil", default=os.environ.get("MSSANTE_NIL"), help="X-MSS-NIL value")
    send.add_argument(
        "--dry-run",
        metavar="EML",
        type=Path,
        help="compose only: write the message to this .eml file, connect to nothing",
    )
    _connection_options(send)
    send.set_defaults(handler=_send)

    inbox = subparsers.add_parser(
        "inbox",
        help="list folders and messages, fetch new ones, save attachments and documents",
        description="Read an MSSanté mailbox over IMAP.",
    )
    actions = inbox.add_subparsers(dest="inbox_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--address", required=True, help="the mailbox address")
        p.add_argument("--folder", default="INBOX", help="folder (default INBOX)")
        _connection_options(p)

    folders = actions.add_parser("folders", help="list the folders", allow_abbrev=False)
    common(folders)
    folders.set_defaults(handler=_folders)

    listing = actions.add_parser("list", help="list message envelopes", allow_abbrev=False)
    common(listing)
    listing.set_defaults(handler=_list)

    fetch = actions.add_parser(
        "fetch", help="fetch messages that arrived since the state file", allow_abbrev=False
    )
    common(fetch)
    fetch.add_argument("--state", type=Path, help="sync state file (read, then updated)")
    fetch.add_argument("--mark-seen", action="store_true", help="flag fetched messages \\Seen")
    fetch.set_defaults(handler=_fetch)

    save = actions.add_parser(
        "save", help="save one message's attachments and documents", allow_abbrev=False
    )
    common(save)
    save.add_argument("uid", type=int, help="message UID")
    save.add_argument("--dir", type=Path, required=True, help="destination directory")
    save.set_defaults(handler=_save)

    receipt = actions.add_parser(
        "receipt",
        help="send the read receipt (MDN) a message asked for (ECO.3.1.6)",
        allow_abbrev=False,
    )
    common(receipt)
    receipt.add_argument("uid", type=int, help="message UID")
    receipt.add_argument(
        "--processed", action="store_true", help="'processed' (integration) not 'displayed'"
    )
    receipt.add_argument(
        "--error", type=int, metavar="CODE", help="ANS integration error 900-906 (KO form)"
    )
    receipt.add_argument(
        "--force",
        action="store_true",
        help="send even if Disposition-Notification-To "
        "differs from Return-Path (RFC 8098 asks for a confirmation)",
    )
    receipt.add_argument("--nil", default=os.environ.get("MSSANTE_NIL"), help="X-MSS-NIL value")
    receipt.set_defaults(handler=_receipt)


# --- connection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    host: str
    smtp_port: int | None
    imap_port: int | None
    ca_file: Path | None
    patient_domain: str
    sandbox_password: str | None


def _secret_from(env: str | None, file: Path | None, what: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigurationError(f"{what}: environment variable {env} is not set")
        return value
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{what}: cannot read {file.name}: {exc.strerror}") from exc
    return None


def _target(args: argparse.Namespace, address: str) -> _Target:
    if args.sandbox is not None:
        from ..sandbox import Sandbox
        from ..sandbox.models import SandboxInfo

        sandbox = Sandbox(args.sandbox or None)
        try:
            info = SandboxInfo.model_validate_json(sandbox.layout.info_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"no running sandbox description in {sandbox.root} (mssante sandbox start)"
            ) from exc
        account = next((a for a in info.accounts if a.address.lower() == address.lower()), None)
        return _Target(
            host=args.host or info.host,
            smtp_port=args.smtp_port or info.submission_port,
            imap_port=args.imap_port or info.imap_port,
            ca_file=args.ca_file or info.ca_file,
            patient_domain=info.patient_domain,
            sandbox_password=account.password if account else None,
        )
    if not args.host:
        raise ConfigurationError("--host is required (or --sandbox)")
    return _Target(
        host=args.host,
        smtp_port=args.smtp_port,
        imap_port=args.imap_port,
        ca_file=args.ca_file,
        patient_domain=PATIENT_DOMAIN,
        sandbox_password=None,
    )


def _credentials(args: argparse.Namespace, target: _Target) -> Credentials:
    if args.p12 is not None:
        password = _secret_from(args.p12_password_env, None, "--p12-password-env")
        return ClientCertificate.from_pkcs12(args.p12, password, authzid=args.authzid)
    if args.cert is not None:
        key_password = _secret_from(args.key_password_env, None, "--key-password-env")
        return ClientCertificate.from_pem(
            args.cert, args.key, password=key_password, authzid=args.authzid
        )
    token = _secret_from(args.token_env, args.token_file, "token")
    if token is not None:
        mechanism = OAuth2Mechanism.OAUTHBEARER if args.oauthbearer else OAuth2Mechanism.XOAUTH2
        env, file = args.token_env, args.token_file

        def provider() -> str:  # re-read on every (re)connect: never stored (ECO.1.2.5)
            return _secret_from(env, file, "token") or ""

        return OAuth2Token(provider, mechanism)
    password = _secret_from(args.password_env, args.password_file, "password")
    if password is None:
        password = target.sandbox_password
    if password is None:
        raise ConfigurationError(
            "no credentials: use --cert/--key, --p12, --token-env/--token-file or "
            "--password-env/--password-file"
        )
    return Password(password)


def _mailbox(args: argparse.Namespace, address: str, nil: str | None = None) -> Mailbox:
    target = _target(args, address)
    return Mailbox(
        address,
        _credentials(args, target),
        host=target.host,
        smtp_port=target.smtp_port,
        imap_port=target.imap_port,
        security="implicit" if args.implicit_tls else "starttls",
        ca_file=target.ca_file,
        timeout=args.timeout,
        nil=nil,
    )


# --- send ----------------------------------------------------------------------------------------


def _documents(paths: list[Path]) -> list[Document]:
    from ..document.xdm_read import read_xdm

    documents: list[Document] = []
    for path in paths:
        try:
            is_zip = zipfile.is_zipfile(path)
        except OSError as exc:
            raise MessageError("document", f"cannot read {path.name}: {exc.strerror}") from exc
        if is_zip:
            package = read_xdm(path)
            if not package.documents:
                raise MessageError("document", f"{path.name} holds no readable CDA document")
            documents.extend(package.documents)
        else:
            documents.append(Document.read(path))
    return documents


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MessageError(what, f"cannot read {path.name} as UTF-8 text") from exc


def _send(args: argparse.Namespace) -> int:
    if args.dry_run is not None and args.sandbox is None and not args.host:
        target = None
        patient_domain = args.patient_domain or PATIENT_DOMAIN
    else:
        target = _target(args, args.sender)
        patient_domain = args.patient_domain or target.patient_domain
    sender: Sender | str = args.sender
    if args.display_name:
        sender = Sender.entity(args.sender, args.display_name)
    try:
        patients = [INS(v, qualified=True) for v in args.to_ins]
    except InvalidInputError as exc:
        raise MessageError("to-ins", exc.reason) from None
    message = Message(
        sender=sender,
        to=args.to,
        cc=args.cc,
        bcc=args.bcc,
        patients=patients,
        patient_domain=patient_domain,
        subject=args.subject,
        body=_read_text(args.body_file, "body-file") if args.body_file else args.body,
        html=_read_text(args.html_file, "html-file") if args.html_file else None,
        reply_to_address=args.reply_to,
        attachments=[Attachment.from_path(p) for p in args.attach],
        documents=_documents(args.document),
        dossier=args.dossier,
        end_of_exchange=args.end,
        read_receipt=args.mdn,
        dsn=DsnOptions.parse(args.notify) if args.notify else None,
    )
    if args.dry_run is not None:
        composed = message.compose(nil=args.nil)
        try:
            args.dry_run.write_bytes(composed.data)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.dry_run}: {exc.strerror}") from exc
        summary = {
            "message_id": composed.message_id,
            "size": composed.size,
            "recipients": list(composed.recipients),
            "mail_options": composed.mail_options(),
            "rcpt_options": composed.rcpt_options(),
        }
        if args.json:
            print_json(summary)
        else:
            print(f"composed {composed.message_id} ({composed.size} bytes) into {args.dry_run}")
        return 0
    progress("sending...")
    with _mailbox(args, args.sender, nil=args.nil) as mailbox:
        result = mailbox.send(message)
    progress_done()
    refused = [{"address": r.address, "code": r.code, "text": r.text} for r in result.refused]
    if args.json:
        print_json(
            {
                "message_id": result.message_id,
                "accepted": list(result.accepted),
                "refused": refused,
            }
        )
    else:
        print(f"Message-ID: {result.message_id}")
        for address in result.accepted:
            print(f"  accepted  {address}")
        for r in refused:
            print(f"  REFUSED   {r['address']}  {r['code']} {r['text']}")
    return 0 if not refused else 1


# --- inbox ---------------------------------------------------------------------------------------


def _folders(args: argparse.Namespace) -> int:
    with _mailbox(args, args.address) as mailbox:
        folders = mailbox.folders()
    rows = [{"name": f.name, "attributes": sorted(f.attributes)} for f in folders]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print(row["name"])
    return 0


def _list(args: argparse.Namespace) -> int:
    with _mailbox(args, args.address) as mailbox:
        synced = mailbox.envelopes(args.folder)
    rows: list[dict[str, Any]] = []
    for env in synced.envelopes:
        sender = (env.from_ or env.sender or (None,))[0]
        rows.append(
            {
                "uid": env.uid,
                "from": sender.address if sender else None,
                "subject": env.subject,
                "date": env.date.isoformat() if env.date else None,
                "size": env.size,
                "flags": sorted(env.flags),
            }
        )
    if args.json:
        print_json(rows)
    else:
        for env, row in zip(synced.envelopes, rows, strict=True):
            mark = " " if env.seen else "N"
            print(f"{env.uid:>6} {mark} {row['from'] or '-':<40} {env.subject or ''}")
    return 0


def _summary(message: ReceivedMessage) -> dict[str, Any]:
    report: dict[str, Any] | None = None
    if message.report is not None:
        report = {
            "kind": message.report.kind,
            "original_message_id": message.report.original_message_id,
            "is_error": bool(getattr(message.report, "is_error", False))
            or bool(getattr(message.report, "failed", ())),
        }
    return {
        "uid": message.uid,
        "message_id": message.message_id,
        "from": message.sender.address if message.sender else None,
        "from_patient": message.from_patient,
        "subject": message.display_subject,
        "date": message.date.isoformat() if message.date else None,
        "x_mss": {
            "nil": message.xmss.nil,
            "codecda": list(message.xmss.codecda),
            "ins": message.xmss.ins,
            "mes": message.xmss.mes,
        },
        "wants_mdn": message.wants_mdn,
        "attachments": [
            {"filename": a.filename, "media_type": a.media_type, "size": a.size}
            for a in message.attachments
        ],
        "documents": [
            {"type": d.header.code.code, "title": d.header.title} for d in message.documents
        ],
        "findings": [
            {"code": f.code, "severity": str(f.severity), "message": f.message}
            for f in message.findings
        ],
        "report": report,
    }


def _fetch(args: argparse.Namespace) -> int:
    state = None
    if args.state is not None and args.state.exists():
        state = SyncState.from_json(args.state.read_bytes())
    with _mailbox(args, args.address) as mailbox:
        synced = mailbox.fetch_new(args.folder, state)
        if args.mark_seen and synced.messages:
            mailbox.mark_seen([m.uid for m in synced.messages if m.uid is not None], args.folder)
    if args.state is not None:
        args.state.write_text(synced.state.to_json(), encoding="utf-8")
    rows = [_summary(m) for m in synced.messages]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            docs = f" [{len(row['documents'])} doc]" if row["documents"] else ""
            print(f"{row['uid']:>6} {row['from'] or '-':<40} {row['subject']}{docs}")
    return 0


def _unique(directory: Path, name: str) -> Path:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate = directory / name
    n = 1
    while candidate.exists():
        candidate = directory / (f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}")
        n += 1
    return candidate


def _save(args: argparse.Namespace) -> int:
    with _mailbox(args, args.address) as mailbox:
        message = mailbox.fetch(args.uid, args.folder)
    directory: Path = args.dir
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for i, attachment in enumerate(message.attachments, 1):
        name = attachment.filename or f"attachment-{i}"
        path = _unique(directory, name.lstrip(".") or f"attachment-{i}")
        path.write_bytes(attachment.content)
        written.append(path.name)
    for i, document in enumerate(message.documents, 1):
        path = _unique(directory, f"document-{i}-{document.header.code.code}.xml")
        path.write_bytes(document.to_xml())
        written.append(path.name)
    if args.json:
        print_json({"uid": args.uid, "directory": str(directory), "files": written})
    else:
        for name in written:
            print(directory / name)
    return 0


def _receipt(args: argparse.Namespace) -> int:
    from ..mail.reports import build_mdn

    with _mailbox(args, args.address, nil=args.nil) as mailbox:
        message = mailbox.fetch(args.uid, args.folder)
        if not message.wants_mdn:
            raise MessageError("uid", f"message {args.uid} did not ask for a read receipt")
        if message.mdn_needs_confirmation and not args.force:
            raise MessageError(
                "uid",
                "Disposition-Notification-To differs from Return-Path: confirm with --force",
            )
        mdn = build_mdn(
            message,
            reporting_mailbox=args.address,
            disposition_type="processed" if args.processed or args.error else "displayed",
            mode="manual",
            error=args.error,
            nil=args.nil,
        )
        result = mailbox.send(mdn)
    if args.json:
        print_json({"message_id": mdn.message_id, "accepted": list(result.accepted)})
    else:
        print(f"receipt {mdn.message_id} sent to {', '.join(result.accepted)}")
    return 0 if result.accepted else 1
