"""Benchmark: compose and parse a message with a large attachment, against the raw stdlib.

Baselines (same run, same input):

* compose: ``email.message.EmailMessage`` with the same headers, text body and attachment,
  serialised with ``as_bytes`` under the same stdlib SMTP policy — what the SDK builds on;
* parse: ``email.parser.BytesParser(policy=default)`` then decoding the body and every
  attachment — what :func:`parse_received` does plus its MSSanté reading (X-MSS headers,
  addresses, defects; the attachment is decoded lazily, so it is read once here to compare
  like with like).

Time is the best of ``--repeat`` untraced runs (``time.perf_counter``); peak memory is
``tracemalloc``'s peak for one more, traced run (both sides measured the same way).

* parse small: 500 small messages (text + HTML, a few headers) through
  :func:`parse_received` vs the bare parser reading the same headers and the text body.

Usage: ``python bench/bench_mail_message.py [--size-mb 10] [--repeat 5] [--small 500]``
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any

from mssante_client.mail import Attachment, Message, Sender, parse_received

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
SMTP_7BIT = policy.SMTP.clone(cte_type="7bit")  # the same stdlib policy the SDK uses


def _best(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(
    sdk: Callable[[], Any], raw: Callable[[], Any], repeat: int
) -> tuple[float, float, int, int]:
    """Best untraced times, SDK and baseline interleaved (load on the machine hits both
    alike), then the peak of one traced run of each."""
    t_sdk = t_raw = float("inf")
    for _ in range(repeat):
        t_sdk = min(t_sdk, _best(sdk))
        t_raw = min(t_raw, _best(raw))
    return t_sdk, t_raw, _peak(sdk), _peak(raw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small", type=int, default=500, help="small messages to parse")
    args = parser.parse_args()
    payload = b"%PDF-1.7\n" + random.Random(4).randbytes(args.size_mb * 1024 * 1024)
    body = "Bonjour,\nveuillez trouver le compte rendu ci-joint.\n" * 20

    def sdk_compose() -> bytes:
        return (
            Message(
                sender=Sender.person(JEAN, first_name="Jean", last_name="Dupont", title="Dr"),
                to=[HELENE],
                subject="Compte rendu",
                body=body,
                attachments=[Attachment("cr.pdf", payload)],
                message_id="<bench@medecin.mssante.test>",
                read_receipt=True,
            )
            .compose(now=NOW, nil="DEV935997")
            .data
        )

    def raw_compose() -> bytes:
        msg = EmailMessage(policy=SMTP_7BIT)
        msg["From"] = f"Dr_Jean_DUPONT <{JEAN}>"
        msg["To"] = HELENE
        msg["Subject"] = "Compte rendu"
        msg["Date"] = format_datetime(NOW)
        msg["Message-ID"] = "<bench@medecin.mssante.test>"
        msg["Disposition-Notification-To"] = JEAN
        msg["X-MSS-NIL"] = "DEV935997"
        msg.set_content(body, charset="utf-8")
        msg.add_attachment(payload, maintype="application", subtype="pdf", filename="cr.pdf")
        return msg.as_bytes(policy=SMTP_7BIT)

    raw = sdk_compose()

    def sdk_parse() -> None:
        received = parse_received(raw)
        for attachment in received.attachments:
            assert attachment.content

    def raw_parse() -> None:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        body_part = msg.get_body(("plain",))
        assert body_part is not None
        body_part.get_content()
        for part in msg.iter_attachments():
            assert part.get_payload(decode=True)

    # an inbox of small messages: where the SDK's own reading (headers, addresses, X-MSS,
    # defects) weighs most against the bare parser
    small = [
        Message(
            sender=Sender.entity(HELENE, "Secrétariat de cardiologie"),
            to=[JEAN],
            cc=["alice@hopital.mssante.test"],
            subject=f"Résultats {i}",
            body=body,
            html=f"<p>{i}</p>",
            message_id=f"<small-{i}@medecin.mssante.test>",
            read_receipt=True,
        )
        .compose(now=NOW, nil="DEV935997")
        .data
        for i in range(args.small)
    ]

    def sdk_parse_small() -> None:
        for data in small:
            received = parse_received(data)
            assert received.text

    def raw_parse_small() -> None:
        for data in small:
            msg = BytesParser(policy=policy.default).parsebytes(data)
            for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
                str(msg[name])
            body_part = msg.get_body(("plain",))
            assert body_part is not None
            assert body_part.get_content()

    rows = []
    for name, sdk, baseline in (
        ("compose", sdk_compose, raw_compose),
        ("parse", sdk_parse, raw_parse),
        (f"parse {args.small} small", sdk_parse_small, raw_parse_small),
    ):
        t_sdk, t_raw, m_sdk, m_raw = measure(sdk, baseline, args.repeat)
        rows.append((name, t_sdk, t_raw, m_sdk, m_raw))
    print(f"message with a {args.size_mb} MB attachment ({len(raw) / 1e6:.1f} MB on the wire)")
    print(
        f"{'scenario':<18} {'sdk s':>8} {'raw s':>8} {'time x':>7} "
        f"{'sdk MB':>8} {'raw MB':>8} {'mem x':>6}"
    )
    for name, t_sdk, t_raw, m_sdk, m_raw in rows:
        print(
            f"{name:<18} {t_sdk:>8.3f} {t_raw:>8.3f} {t_sdk / t_raw:>7.2f} "
            f"{m_sdk / 1e6:>8.1f} {m_raw / 1e6:>8.1f} {m_sdk / m_raw:>6.2f}"
        )


if __name__ == "__main__":
    main()
