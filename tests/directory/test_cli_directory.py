"""`mssante search`, `mssante directory import`, `mssante whitelist check` and the example,
run in-process against the sandbox (and a generated extraction file for the import)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from directory_support import Oracle

from mssante_client.cli import main
from mssante_client.directory.extraction_gen import write_extraction
from mssante_client.sandbox import SandboxInfo

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.sandbox
def test_search_json(
    sandbox: SandboxInfo, oracle: Oracle, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["search", "--name", "lefebvre", "--city", "saint etienne", "--type", "PER"]
    rc = main([*argv, "--limit", "500", "--sandbox", str(sandbox.root), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    got = {r["mailboxes"][0]["address"] for r in out["results"]}
    expected = oracle.expected(family_name="lefebvre", city="saint etienne", mailbox_type="PER")
    assert got == expected and out["count"] == len(expected)
    assert all(r["kind"] == "professional" for r in out["results"])


@pytest.mark.sandbox
def test_search_text_output_and_exit_codes(
    sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--rpps", "10001234565", "--sandbox", str(sandbox.root)]) == 0
    line = capsys.readouterr().out.strip()
    assert "Jean DUPONT" in line and "jean.dupont@medecin.mssante.test [PER]" in line
    assert main(["search", "--name", "*", "--sandbox", str(sandbox.root)]) == 1  # nobody
    assert main(["search", "--rpps", "123", "--sandbox", str(sandbox.root)]) == 2
    assert "QueryError: rpps" in capsys.readouterr().err
    assert main(["search", "--sandbox", str(sandbox.root)]) == 2  # no criterion
    assert main(["search", "--limit", "3", "--type", "ORG", "--sandbox", str(sandbox.root)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


@pytest.mark.sandbox
def test_whitelist_check(
    sandbox: SandboxInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--sandbox", str(sandbox.root), "--cache-dir", str(tmp_path)]
    assert main(["whitelist", "check", "jean.dupont@medecin.mssante.test", *common]) == 0
    assert "trusted" in capsys.readouterr().out
    assert main(["whitelist", "check", "x@gmail.com", *common, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["trusted"] is False and out["list"]["from_cache"] is True
    assert main(["whitelist", "check", "not an address", *common]) == 2


def test_directory_import_then_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generated = write_extraction(tmp_path / "extraction.zip", 300, zipped=True, malformed_every=50)
    index = tmp_path / "index.sqlite"
    rc = main(["directory", "import", str(generated.path), "--index", str(index), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert report["mailboxes"] == generated.distinct_addresses
    assert report["malformed"] == len(generated.malformed_lines)
    assert main(
        [
            "search",
            "--backend",
            "extraction",
            "--index",
            str(index),
            "--type",
            "ORG",
            "--limit",
            "1000",
            "--json",
        ]
    ) in (0, 1)
    out = json.loads(capsys.readouterr().out)
    assert all(r["mailboxes"][0]["type"] == "ORG" for r in out["results"])


@pytest.mark.sandbox
def test_example_find_colleague(
    sandbox: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MSSANTE_SANDBOX_ROOT", str(sandbox.root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    argv = [
        "find_colleague.py",
        "--name",
        "lefèbvre",
        "--given-name",
        "HELENE",
        "--city",
        "Saint-Etienne",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "examples" / "find_colleague.py"), run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Hélène LEFÈBVRE (Infirmier" in out
    assert "helene.lefebvre@medecin.mssante.test  [Personnelle, liste blanche: ok]" in out
