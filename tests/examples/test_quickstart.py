"""examples/quickstart.py — the README's main job — runs end to end against the test sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mssante_client.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_round_trip(mssante_sandbox: SandboxInfo) -> None:
    env = {**os.environ, "MSSANTE_SANDBOX_ROOT": str(mssante_sandbox.root)}
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # each step reports what it really observed
    assert "-> Hélène LEFÈBVRE: helene.lefebvre@medecin.mssante.test (PER)" in out
    assert "medecin.mssante.test trusted: True" in out
    assert "helene.lefebvre@medecin.mssante.test: accepted (250)" in out
    assert "X-MSS-CODECDA: 11490-0  X-MSS-INS: O  X-MSS-NIL: DEV935997" in out
    assert "1 document(s), identical to the sent one: True" in out
    assert "tied to the sent message: True" in out
    assert out.rstrip().endswith("quickstart: OK")
    # nothing secret or patient-identifying on the console
    jean = mssante_sandbox.account("jean.dupont@medecin.mssante.test")
    assert jean.p12_password is not None
    assert jean.p12_password not in out + done.stderr
    assert "285077512345655" not in out + done.stderr
