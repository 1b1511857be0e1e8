"""Start twice is harmless, restart keeps the sandbox usable, stop leaves nothing behind.

Uses its own small sandbox on port base 11000 (the session one stays up for other tests).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mssante_client.cli import main
from mssante_client.errors import MissingDependencyError, SandboxError
from mssante_client.sandbox import Sandbox, SandboxInfo, SandboxPorts
from mssante_client.sandbox import process as sandbox_process
from mssante_client.sandbox.services import all_endpoints

pytestmark = pytest.mark.sandbox


def _free_port_base(first: int) -> int:
    """First of ``first``, ``first + 1000``, ... whose ports are all free, so that another
    run of this suite (another engineer's) does not collide with ours."""
    for base in range(first, first + 8000, 1000):
        if all(
            sandbox_process.port_is_free(h, p)
            for h, p in all_endpoints(SandboxPorts.from_base(base))
        ):
            return base
    raise AssertionError(f"no free port base from {first}")


PORT_BASE = _free_port_base(11000)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _all_endpoints(info: SandboxInfo) -> list[tuple[str, int]]:
    p = info.ports
    mail = [
        (h, port)
        for h in ("127.0.0.1", "127.0.0.2")
        for port in (p.imap, p.imaps, p.submission, p.submissions)
    ]
    return [
        *mail,
        ("127.0.0.1", p.lmtp),
        ("127.0.0.1", p.smtp_internal),
        ("127.0.0.1", p.ldap),
        ("127.0.0.1", p.ldaps),
        ("127.0.0.1", p.whitelist),
    ]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (read from /proc, independently)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _cli(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture(scope="module")
def small() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="mssante-sandbox-lifecycle-"))
    sandbox = Sandbox(root, port_base=PORT_BASE)
    try:
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A world-traversable scratch directory (daemon workers must reach a sandbox root)."""
    root = Path(tempfile.mkdtemp(prefix="mssante-sandbox-scratch-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_start_twice_is_harmless(small: Sandbox) -> None:
    first = small.start(directory_entries=50)
    second = small.start(directory_entries=50)
    assert second == first
    assert Sandbox(small.root, port_base=PORT_BASE).status() == first
    assert SandboxInfo.model_validate_json(small.layout.info_file.read_bytes()) == first
    assert all(_listening(h, p) for h, p in _all_endpoints(first))
    assert first.directory_entries == 50


def test_info_file_and_keys_are_private(small: Sandbox) -> None:
    info = small.start(directory_entries=50)
    assert small.layout.info_file.stat().st_mode & 0o777 == 0o600
    for account in info.accounts:
        for secret in (account.key_file, account.p12_file):
            if secret is not None:
                assert secret.stat().st_mode & 0o777 == 0o600
    assert info.tokens.hs256_key_file.stat().st_mode & 0o777 == 0o600
    assert info.tokens.rs256_key_file.stat().st_mode & 0o777 == 0o600


def test_cli_status_json_describes_the_running_sandbox(
    small: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    info = small.start(directory_entries=50)
    assert _cli("sandbox", "status", "--root", str(small.root), "--json") == 0
    described = SandboxInfo.model_validate(json.loads(capsys.readouterr().out))
    assert described == info
    assert (
        _cli(
            "sandbox",
            "token",
            "--root",
            str(small.root),
            "--alg",
            "RS256",
            "jean.dupont@medecin.mssante.test",
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    assert token.count(".") == 2
    assert _cli("sandbox", "env", "--root", str(small.root)) == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines()
    )
    assert exports["MSSANTE_SANDBOX_ROOT"] == str(small.root)
    assert exports["MSS_IMAPS"] == str(info.imaps_port) and exports["MSS_HOST"] == "127.0.0.2"
    assert exports["LDAPTLS_CACERT"] == str(info.ca_file)


def test_restart_service_keeps_the_sandbox_usable(small: Sandbox) -> None:
    before = small.start(directory_entries=50)
    after = small.restart_service("dovecot")
    assert after.pids["dovecot"] != before.pids["dovecot"]
    assert not _alive(before.pids["dovecot"])
    assert small.status() == after
    ctx = ssl.create_default_context(cafile=str(after.ca_file))
    with (
        socket.create_connection((after.host, after.imaps_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=after.host) as tls,
    ):
        assert tls.recv(100).startswith(b"* OK")
    with pytest.raises(SandboxError):
        small.restart_service("sendmail")


@pytest.mark.parametrize("drop_sessions", [False, True])
def test_dovecot_restart_and_open_imap_sessions(small: Sandbox, drop_sessions: bool) -> None:
    """Logged-in sessions outlive Dovecot's master unless ``drop_sessions``; new logins work."""
    import imaplib

    info = small.start(directory_entries=50)
    jean = info.account("jean.dupont@medecin.mssante.test")
    assert jean.password
    ctx = ssl.create_default_context(cafile=str(info.ca_file))
    conn = imaplib.IMAP4_SSL(info.host, info.imaps_port, ssl_context=ctx, timeout=10)
    conn.login(jean.address, jean.password)
    conn.select("INBOX")
    small.restart_service("dovecot", drop_sessions=drop_sessions)
    if drop_sessions:
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            conn.noop()
    else:
        assert conn.noop()[0] == "OK"
        conn.logout()
    again = imaplib.IMAP4_SSL(info.host, info.imaps_port, ssl_context=ctx, timeout=10)
    try:
        assert again.login(jean.address, jean.password)[0] == "OK"
    finally:
        again.logout()


@pytest.mark.parametrize("service", ["postfix", "slapd", "whitelist"])
def test_every_service_can_be_restarted(small: Sandbox, service: str) -> None:
    before = small.start(directory_entries=50)
    after = small.restart_service(service)
    assert after.pids[service] != before.pids[service]
    assert small.status() == after
    assert all(_listening(h, p) for h, p in _all_endpoints(after))


def test_a_postfix_start_failure_says_why(small: Sandbox) -> None:
    """Postfix prints its fatal errors only on a terminal: the SandboxError must carry them."""
    info = small.start(directory_entries=50)
    main_cf = small.layout.postfix_dir / "main.cf"
    good = main_cf.read_text()
    main_cf.write_text(
        good.replace(
            f"maillog_file_prefixes = {small.layout.log_dir}",
            "maillog_file_prefixes = /nonexistent",
        )
    )
    try:
        with pytest.raises(
            SandboxError, match="does not match any prefix in maillog_file_prefixes"
        ):
            small.restart_service("postfix")
    finally:
        main_cf.write_text(good)
    assert small.status() is None  # Postfix is down: the next start restarts everything
    assert small.start(directory_entries=50).pids != info.pids


def test_publishing_a_new_whitelist_changes_its_etag(small: Sandbox) -> None:
    import datetime as dt
    import urllib.request

    from mssante_client.sandbox import WhitelistDomain, sandbox_domains

    info = small.start(directory_entries=50)
    ctx = ssl.create_default_context(cafile=str(info.ca_file))

    def fetch() -> tuple[str, bytes]:
        with urllib.request.urlopen(info.whitelist_url, context=ctx, timeout=10) as response:
            return response.headers["ETag"], response.read()

    etag, _ = fetch()
    now = dt.datetime.now(dt.UTC)
    extra = WhitelistDomain(
        "nouveau.mssante.test",
        "Nouvel opérateur",
        "CN=x,C=FR",
        "r@nouveau.mssante.test",
        "s@nouveau.mssante.test",
        now,
    )
    small.publish_whitelist([*sandbox_domains(now), extra])
    new_etag, body = fetch()
    assert new_etag != etag and b"<Nom>nouveau.mssante.test</Nom>" in body


def test_another_root_cannot_take_the_same_ports(small: Sandbox, scratch: Path) -> None:
    """...and that other sandbox never claims our processes (its start first stops its own)."""
    info = small.start(directory_entries=50)
    other = Sandbox(scratch, port_base=PORT_BASE)
    with pytest.raises(SandboxError, match="ports already in use"):
        other.start(directory_entries=50)
    other.stop()
    assert small.status() == info
    for service, pid in info.pids.items():
        ours = _group(pid)
        assert ours
        # (a worker may exit between the listing and the check: then it owns nothing)
        assert all(small._owns(service, p) or not _alive(p) for p in ours)
        assert not any(other._owns(service, p) for p in ours)


def test_half_dead_sandbox_is_restarted_whole(small: Sandbox) -> None:
    import os
    import signal

    before = small.start(directory_entries=50)
    os.kill(before.pids["whitelist"], signal.SIGKILL)  # a daemon we started dies
    deadline = time.monotonic() + 10
    while small.status() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert small.status() is None
    after = small.start(directory_entries=50)
    assert set(after.pids.values()).isdisjoint(before.pids.values())
    assert not any(_alive(pid) for pid in before.pids.values())
    assert all(_listening(h, p) for h, p in _all_endpoints(after))


def test_stop_leaves_no_process_and_frees_the_ports(small: Sandbox) -> None:
    import imaplib

    info = small.start(directory_entries=50)
    pids = dict(info.pids)
    jean = info.account("jean.dupont@medecin.mssante.test")
    assert jean.password
    ctx = ssl.create_default_context(cafile=str(info.ca_file))
    client = imaplib.IMAP4_SSL(info.host, info.imaps_port, ssl_context=ctx, timeout=10)
    client.login(jean.address, jean.password)  # a connected client keeps an imap process busy
    assert len(_group(pids["dovecot"])) > 3 and len(_group(pids["postfix"])) > 1
    small.stop()
    client.shutdown()
    assert [name for name, pid in pids.items() if _alive(pid)] == []
    assert {name: _group(pid) for name, pid in pids.items()} == {name: [] for name in pids}
    assert [e for e in _all_endpoints(info) if _listening(*e)] == []
    assert small.status() is None
    small.stop()  # harmless when nothing runs
    assert _cli("sandbox", "status", "--root", str(small.root)) == 1


def test_non_sandbox_directory_is_refused(scratch: Path) -> None:
    root = scratch
    (root / "precious.txt").write_text("keep me")
    with pytest.raises(SandboxError, match="not a sandbox root"):
        Sandbox(root, port_base=12000).start(directory_entries=10)
    assert (root / "precious.txt").read_text() == "keep me"


def test_invalid_parameters_are_refused(scratch: Path) -> None:
    with pytest.raises(SandboxError, match="port_base"):
        Sandbox(scratch, port_base=65000)
    root = scratch
    with pytest.raises(SandboxError, match="directory entries"):
        Sandbox(root, port_base=12000).start(directory_entries=3)
    assert list(root.iterdir()) == []  # refused before anything was written


def test_missing_system_program_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    real = sandbox_process.find_program
    monkeypatch.setattr(
        sandbox_process, "find_program", lambda name: None if name == "slapd" else real(name)
    )
    with pytest.raises(MissingDependencyError) as caught:
        Sandbox(scratch, port_base=12000).start(directory_entries=10)
    assert "install-system-deps.sh" in caught.value.install
    assert "apt-get install" in caught.value.install


def test_root_under_a_private_directory_is_refused(tmp_path: Path) -> None:
    """Daemon workers (nobody, postfix) could not reach it: say so instead of failing later."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxError, match="not traversable"):
        Sandbox(private / "sandbox", port_base=12000).start(directory_entries=10)


def test_cli_start_prints_one_json_document_and_daemons_outlive_it(scratch: Path) -> None:
    """``mssante sandbox start --json`` in its own process; the daemons keep running after."""
    cli = [sys.executable, "-m", "mssante_client", "sandbox"]
    root = ["--root", str(scratch)]
    base = _free_port_base(11500)
    started = subprocess.run(
        [*cli, "start", *root, "--port-base", str(base), "--entries", "20", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    try:
        assert started.returncode == 0, started.stderr
        info = SandboxInfo.model_validate_json(started.stdout)  # the whole stdout is one document
        assert info.port_base == base and info.directory_entries == 20
        assert Sandbox(scratch, port_base=base).status() == info
        assert all(_alive(pid) for pid in info.pids.values())
        status = subprocess.run(
            [*cli, "status", *root, "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert status.returncode == 0
        assert SandboxInfo.model_validate_json(status.stdout) == info
    finally:
        stopped = subprocess.run(
            [*cli, "stop", *root], capture_output=True, text=True, check=False, timeout=60
        )
    assert stopped.returncode == 0
    assert not any(_alive(pid) for pid in info.pids.values())
    assert not any(_listening(h, p) for h, p in _all_endpoints(info))
