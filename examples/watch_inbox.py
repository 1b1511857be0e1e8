"""Watch a sandbox mailbox with IMAP IDLE and print what arrives.

For each new message: sender (patient or professional, ECO.3.1.1), subject without the DDM prefix
(ECO.3.1.3), X-MSS headers, the documents read from its IHE_XDM.ZIP, and receipts (DSN / MDN)
tied to the message they report on. Stops after ``--count`` messages or ``--timeout`` seconds.

    python examples/watch_inbox.py --address helene.lefebvre@medecin.mssante.test --count 1

Exit status: 0 when ``--count`` messages arrived, 1 on timeout, 2 on error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mssante_client.errors import MssanteError
from mssante_client.mail import DeliveryReport, DispositionReport, Password, ReceivedMessage
from mssante_client.mail.mailbox import Mailbox
from mssante_client.sandbox import Sandbox


def describe(message: ReceivedMessage) -> list[str]:
    sender = message.sender.address if message.sender else "?"
    who = "patient" if message.from_patient else "professional"
    lines = [f"[{message.uid}] from {sender} ({who}): {message.display_subject}"]
    x = message.xmss
    if x.nil or x.codecda or x.ins is not None or x.mes:
        ins = {True: "O", False: "N", None: "-"}[x.ins]
        lines.append(
            f"    X-MSS-NIL={x.nil or '-'} X-MSS-CODECDA={','.join(x.codecda) or '-'} "
            f"X-MSS-INS={ins} X-MSS-MES={x.mes or '-'}"
        )
    for doc in message.documents:
        lines.append(f"    document {doc.header.code.code}: {doc.header.title}")
    for finding in message.findings:
        lines.append(f"    finding {finding.severity}: {finding.code}")
    report = message.report
    if isinstance(report, DeliveryReport):
        for r in report.recipients:
            lines.append(
                f"    DSN for {report.original_message_id}: {r.final_recipient} "
                f"{r.action} {r.status}"
            )
    elif isinstance(report, DispositionReport):
        kind = report.disposition.type if report.disposition else "?"
        error = f" error {report.integration_error.code}" if report.integration_error else ""
        lines.append(f"    MDN for {report.original_message_id}: {kind}{error}")
    if message.wants_mdn:
        lines.append("    asks for a read receipt")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox-root", type=Path, default=None)
    parser.add_argument("--address", default="helene.lefebvre@medecin.mssante.test")
    parser.add_argument("--count", type=int, default=1, help="stop after N messages")
    parser.add_argument("--timeout", type=float, default=60.0, help="stop after N seconds")
    parser.add_argument(
        "--documents-only", action="store_true", help="count only messages carrying documents"
    )
    args = parser.parse_args(argv)

    info = Sandbox(args.sandbox_root).status()
    if info is None:
        print("no running sandbox: start one with `mssante sandbox start`", file=sys.stderr)
        return 2
    account = info.account(args.address)
    assert account.password is not None, "sandbox accounts have a test password"

    seen = 0
    deadline = time.monotonic() + args.timeout
    try:
        with Mailbox(
            args.address,
            Password(account.password),
            host=info.host,
            smtp_port=info.submission_port,
            imap_port=info.imap_port,
            ca_file=info.ca_file,
        ) as mailbox:
            state = mailbox.envelopes().state  # start from now: only new mail is shown
            print(f"watching {args.address} (IDLE)", flush=True)
            while seen < args.count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    print(f"timeout after {seen} message(s)", flush=True)
                    return 1
                if not mailbox.idle(timeout=min(remaining, 30.0)):
                    continue
                synced = mailbox.fetch_new(state=state)
                state = synced.state
                for message in synced.messages:
                    print("\n".join(describe(message)), flush=True)
                    if message.documents or not args.documents_only:
                        seen += 1
    except MssanteError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
