"""``mssante send`` / ``mssante inbox``: arguments, secrets, live runs on the sandbox."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_message_documents import make_document

from mssante_client.cli import main
from mssante_client.sandbox import SandboxInfo

JEAN = "jean.dupont@medecin.mssante.test"
HELENE = "helene.lefebvre@medecin.mssante.test"
UNKNOWN_MEDECIN = "inconnu.absent@medecin.mssante.test"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- without a server ------------------------------------------------------------------------


def test_host_required_without_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["send", "--from", JEAN, "--to", HELENE, "--body", "x"], capsys)
    assert code == 2
    assert "--host is required" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--password", "--token", "--p12-password"])
def test_no_secret_on_the_command_line(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["send", "--from", JEAN, "--to", HELENE, "--host", "h", option, "s3cr3t"])
    assert exit_info.value.code == 2


def test_missing_secret_env_var(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILA_NOT_SET", raising=False)
    argv = ["send", "--from", JEAN, "--to", HELENE, "--host", "127.0.0.1"]
    code, _, err = run([*argv, "--password-env", "MAILA_NOT_SET"], capsys)
    assert code == 2
    assert "MAILA_NOT_SET is not set" in err


def test_bad_address_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["send", "--from", JEAN, "--to", "not an address", "--host", "h"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "AddressError" in err


def test_unqualified_looking_ins_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["send", "--from", JEAN, "--to-ins", "123", "--host", "h", "--body", "x"], capsys
    )
    assert code == 2
    assert "MessageError" in err


def test_dry_run_composes_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mssante_client.mail import parse_received

    cda = tmp_path / "cr.xml"
    cda.write_bytes(make_document().to_xml())
    eml = tmp_path / "out.eml"
    ins = "279035121518989"
    argv = ["send", "--from", JEAN, "--to", HELENE, "--to-ins", ins, "--document", str(cda)]
    options = ["--notify", "success,failure", "--mdn", "--nil", "DEV1", "--dry-run", str(eml)]
    domain = ["--patient-domain", "patient.mssante.test"]
    code, out, err = run([*argv, *options, *domain, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["recipients"] == [HELENE, f"{ins}@patient.mssante.test"]
    assert summary["rcpt_options"] == ["NOTIFY=SUCCESS,FAILURE"]
    received = parse_received(eml.read_bytes())
    assert received.message_id == summary["message_id"]
    assert received.xmss.codecda == ("11490-0",)
    assert received.xmss.nil == "DEV1"
    assert received.wants_mdn
    assert len(received.documents) == 1


# --- live, on the sandbox --------------------------------------------------------------------


@pytest.mark.sandbox
def test_send_fetch_save_round_trip(
    mssante_sandbox: SandboxInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = str(mssante_sandbox.root)
    state = tmp_path / "state.json"
    # start the state "now" so that only the new message is fetched
    code, _, _ = run(
        ["inbox", "fetch", "--sandbox", root, "--address", HELENE, "--state", str(state)], capsys
    )
    assert code == 0
    assert json.loads(state.read_text())["folder"] == "INBOX"

    cda = tmp_path / "cr.xml"
    cda.write_bytes(make_document().to_xml())
    note = tmp_path / "note.txt"
    note.write_text("pièce jointe", encoding="utf-8")
    secret = mssante_sandbox.account(JEAN).password
    assert secret is not None
    monkeypatch.setenv("MAILA_JEAN_PASSWORD", secret)
    code, out, err = run(
        [
            "send",
            "--sandbox",
            root,
            "--from",
            JEAN,
            "--to",
            HELENE,
            "--to",
            UNKNOWN_MEDECIN,
            "--body",
            "Compte rendu ci-joint",
            "--document",
            str(cda),
            "--attach",
            str(note),
            "--notify",
            "failure",
            "--mdn",
            "--nil",
            "DEV935997",
            "--password-env",
            "MAILA_JEAN_PASSWORD",
            "--json",
        ],
        capsys,
    )
    assert code == 1, err  # one recipient refused
    result = json.loads(out)
    assert result["accepted"] == [HELENE]
    assert [r["address"] for r in result["refused"]] == [UNKNOWN_MEDECIN]
    assert secret not in out + err

    found: dict[str, object] | None = None
    deadline = time.monotonic() + 60
    while found is None and time.monotonic() < deadline:
        code, out, _ = run(
            [
                "inbox",
                "fetch",
                "--sandbox",
                root,
                "--address",
                HELENE,
                "--state",
                str(state),
                "--json",
            ],
            capsys,
        )
        assert code == 0
        found = next((m for m in json.loads(out) if m["message_id"] == result["message_id"]), None)
        if found is None:
            time.sleep(0.5)
    assert found is not None, "the message did not arrive"
    assert found["x_mss"] == {"nil": "DEV935997", "codecda": ["11490-0"], "ins": True, "mes": None}
    assert found["wants_mdn"] is True
    assert found["documents"] == [
        {"type": "11490-0", "title": "Lettre de liaison à la sortie d'un établissement de soins"}
    ]
    assert not str(found["subject"]).startswith("XDM/")

    out_dir = tmp_path / "saved"
    code, out, _ = run(
        [
            "inbox",
            "save",
            str(found["uid"]),
            "--sandbox",
            root,
            "--address",
            HELENE,
            "--dir",
            str(out_dir),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    files = json.loads(out)["files"]
    assert files[0] == "IHE_XDM.ZIP"
    assert any(f.endswith(".pdf") for f in files)
    assert "note.txt" in files
    assert "document-1-11490-0.xml" in files
    assert (out_dir / "note.txt").read_text(encoding="utf-8") == "pièce jointe"
    assert (out_dir / "document-1-11490-0.xml").read_bytes().lstrip().startswith(b"<")


@pytest.mark.sandbox
def test_inbox_folders_and_list(
    mssante_sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(mssante_sandbox.root)
    argv = ["--sandbox", root, "--address", HELENE, "--json"]
    code, out, _ = run(["inbox", "folders", *argv], capsys)
    assert code == 0
    assert "INBOX" in [f["name"] for f in json.loads(out)]
    code, out, _ = run(["inbox", "list", *argv], capsys)
    assert code == 0
    rows = json.loads(out)
    assert all({"uid", "from", "subject", "flags"} <= set(r) for r in rows)


@pytest.mark.sandbox
def test_wrong_password_does_not_leak(
    mssante_sandbox: SandboxInfo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILA_WRONG", "wrong-password-zq7")
    code, out, err = run(
        [
            "inbox",
            "folders",
            "--sandbox",
            str(mssante_sandbox.root),
            "--address",
            HELENE,
            "--password-env",
            "MAILA_WRONG",
        ],
        capsys,
    )
    assert code == 2
    assert "AuthenticationError" in err
    assert "zq7" not in out + err


def _fetch_until(
    root: str, address: str, state: Path, capsys: pytest.CaptureFixture[str], want: str
) -> dict[str, object]:
    """``inbox fetch`` until a message whose Message-ID or reported original is ``want``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        argv = ["inbox", "fetch", "--sandbox", root, "--address", address]
        code, out, _ = run([*argv, "--state", str(state), "--json"], capsys)
        assert code == 0
        for row in json.loads(out):
            report = row["report"] or {}
            if want in (row["message_id"], report.get("original_message_id")):
                return dict(row)
        time.sleep(0.5)
    pytest.fail(f"nothing about {want} arrived")


@pytest.mark.sandbox
def test_receipt_command_sends_an_mdn(
    mssante_sandbox: SandboxInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(mssante_sandbox.root)
    jean_state, helene_state = tmp_path / "jean.json", tmp_path / "helene.json"
    for address, state in ((JEAN, jean_state), (HELENE, helene_state)):
        assert (
            run(
                ["inbox", "fetch", "--sandbox", root, "--address", address, "--state", str(state)],
                capsys,
            )[0]
            == 0
        )
    argv = ["send", "--sandbox", root, "--from", JEAN, "--to", HELENE, "--subject", "MDN CLI"]
    code, out, _ = run([*argv, "--body", "x", "--mdn", "--json"], capsys)
    assert code == 0
    sent_id = json.loads(out)["message_id"]
    received = _fetch_until(root, HELENE, helene_state, capsys, sent_id)
    assert received["wants_mdn"] is True

    argv = ["inbox", "receipt", str(received["uid"]), "--sandbox", root, "--address", HELENE]
    code, out, err = run([*argv, "--error", "903", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["accepted"] == [JEAN]
    back = _fetch_until(root, JEAN, jean_state, capsys, sent_id)
    assert back["report"] == {
        "kind": "disposition",
        "original_message_id": sent_id,
        "is_error": True,
    }
    assert str(back["subject"]).startswith("[KO Intégration système !][903]")

    # a message that did not ask for a receipt gets none
    code, _, err = run(
        ["inbox", "receipt", str(back["uid"]), "--sandbox", root, "--address", JEAN], capsys
    )
    assert code == 2
    assert "did not ask for a read receipt" in err
