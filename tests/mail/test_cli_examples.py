"""The examples run as real programs against the test sandbox (CI-like conditions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mssante_client.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELENE = "helene.lefebvre@medecin.mssante.test"
SECRETARIAT = "secretariat.cardio@hopital.mssante.test"


def example(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


def test_send_document_then_watch_inbox(mssante_sandbox: SandboxInfo) -> None:
    root = str(mssante_sandbox.root)
    watcher = subprocess.Popen(
        example(
            "watch_inbox.py",
            "--sandbox-root",
            root,
            "--address",
            SECRETARIAT,
            "--count",
            "1",
            "--documents-only",  # other tests may write to this mailbox meanwhile
            "--timeout",
            "90",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # printed once IDLE is about to start
        assert first.startswith("watching "), first + (
            watcher.stderr.read() if watcher.stderr else ""
        )
        sent = subprocess.run(
            example("send_document.py", "--sandbox-root", root, "--to", SECRETARIAT, "--json"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        result = json.loads(sent.stdout)
        assert result["accepted"] == [SECRETARIAT]
        assert result["refused"] == []
        out, err = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err
    assert "X-MSS-NIL=DEV935997 X-MSS-CODECDA=11490-0 X-MSS-INS=O" in out
    assert "document 11490-0: Lettre de liaison" in out
    assert "asks for a read receipt" in out
    assert "XDM/1.0/DDM+" not in out  # ECO.3.1.3


def test_watch_inbox_times_out(mssante_sandbox: SandboxInfo) -> None:
    done = subprocess.run(
        example(
            "watch_inbox.py",
            "--sandbox-root",
            str(mssante_sandbox.root),
            "--address",
            "accueil@hopital.mssante.test",
            "--timeout",
            "1",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "timeout after 0 message(s)" in done.stdout


def test_send_document_without_sandbox(tmp_path: Path) -> None:
    done = subprocess.run(
        example("send_document.py", "--sandbox-root", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no running sandbox" in done.stderr
