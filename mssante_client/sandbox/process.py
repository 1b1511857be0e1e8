"""Starting and stopping daemons by PID, and waiting for their ports (the process edge).

Why: the sandbox must never touch a process it did not start (other sandboxes run beside
it), so every stop goes through a PID recorded at start and checked against the command line
before a signal is sent. A zombie counts as stopped: daemons outlive the command that started
them and are reaped by whoever their parent is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import SandboxError

__all__ = [
    "accepts_connections",
    "cmdline",
    "cwd",
    "find_program",
    "group_members",
    "is_alive",
    "log_tail",
    "port_is_free",
    "run",
    "spawn",
    "terminate",
    "wait_for_ports",
]

log = logging.getLogger("mssante_client.sandbox")

#: Processes started by this Python process, kept so that they are reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_program(name: str) -> str | None:
    """Full path of a system program, also looking in sbin directories (not always on PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead); reaps it if it is our own child."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
            return False
        return True
    state = _state(pid)
    return state is not None and state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def spawn(argv: Sequence[str], log_file: Path) -> int:
    """Start a long-running daemon in its own session; stdout/stderr go to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc.strerror}") from exc
    _children[proc.pid] = proc
    log.debug("started %s as pid %d", argv[0], proc.pid)
    return proc.pid


def run(argv: Sequence[str], what: str, *, timeout: float = 120) -> str:
    """Run a short command to completion; SandboxError with its output tail on failure."""
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{what} failed: {exc}") from exc
    output = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return output


def cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[1].split()  # [state, ppid, pgrp, session, ...]


def group_members(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid`` (a daemon we started leads its own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_and_wait(pids: list[int], sig: int, timeout: float) -> list[int]:
    """Send ``sig`` to ``pids``; return those still alive after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if is_alive(p)]
    return alive


def terminate(pid: int, *, is_ours: Callable[[int], bool], timeout: float = 10) -> None:
    """Stop a daemon and every process it left in its process group.

    SIGTERM to the leader first (its own clean shutdown), then SIGTERM to the members still
    there (e.g. Dovecot's ``imap`` processes of connected clients outlive their master), then
    SIGKILL after ``timeout``. Only processes for which ``is_ours`` holds are signalled: a
    recycled PID that now belongs to someone else (another sandbox) is left alone.
    """
    leader = [pid] if is_alive(pid) and is_ours(pid) else []
    if is_alive(pid) and not leader:
        log.warning("pid %d is not ours any more (%r), not signalled", pid, cmdline(pid)[:80])
        return
    if leader:
        _signal_and_wait(leader, signal.SIGTERM, timeout)
    members = [p for p in group_members(pid) if is_ours(p)]
    if leader and is_alive(pid):
        members = [pid, *members]
    if not members:
        return
    left = _signal_and_wait(members, signal.SIGTERM, timeout / 2)
    if left:
        log.warning("pids %s did not stop after SIGTERM, sending SIGKILL", left)
        _signal_and_wait(left, signal.SIGKILL, 5)


def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether we could listen on ``host:port`` (nobody else does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_ports(
    endpoints: Iterable[tuple[str, int]],
    *,
    timeout: float,
    still_running: Callable[[], str | None],
) -> None:
    """Wait until every endpoint accepts connections.

    ``still_running`` returns the name of a daemon that died (or None): then we stop waiting.
    """
    pending = list(endpoints)
    deadline = time.monotonic() + timeout
    while pending:
        dead = still_running()
        if dead is not None:
            raise SandboxError(f"{dead} exited during start-up")
        pending = [(h, p) for h, p in pending if not accepts_connections(h, p)]
        if not pending:
            return
        if time.monotonic() > deadline:
            listing = ", ".join(f"{h}:{p}" for h, p in pending)
            raise SandboxError(f"not listening after {timeout:.0f} s: {listing}")
        time.sleep(0.05)


def log_tail(path: Path, lines: int = 20) -> str:
    """Last lines of a daemon log, for error messages (daemon logs hold no secrets here)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.rstrip().splitlines()[-lines:])
