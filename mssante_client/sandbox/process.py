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
import pty
import select
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
    "find_processes",
    "find_program",
    "is_alive",
    "log_tail",
    "port_is_free",
    "run",
    "run_on_terminal",
    "spawn",
    "terminate",
    "terminate_all",
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


def find_processes(predicate: Callable[[int], bool]) -> list[int]:
    """Live processes (not zombies) for which ``predicate(pid)`` holds."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            pid = int(entry.name)
            if _state(pid) not in (None, "Z", "X") and predicate(pid):
                found.append(pid)
    return found


def _signal_and_wait(pids: Iterable[int], sig: int, timeout: float) -> list[int]:
    """Send ``sig`` to ``pids``; return those still alive after ``timeout``."""
    targets = list(pids)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    alive = [p for p in targets if is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if is_alive(p)]
    return alive


def run_on_terminal(argv: Sequence[str], *, timeout: float = 30) -> str:
    """Run a command on a pseudo-terminal and return what it printed.

    Why: Postfix reports its start-up errors only to syslog or to a terminal; with no syslog
    in a container, a pseudo-terminal is the only way to get the reason (docs/sandbox.md).
    """
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
            close_fds=True,
        )  # fmt: skip
    except OSError as exc:
        os.close(controller)
        os.close(terminal)
        return f"(cannot run {argv[0]}: {exc.strerror})"
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(controller)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n").strip()


def terminate(pid: int, *, is_ours: Callable[[int], bool], timeout: float = 10) -> None:
    """SIGTERM ``pid``, wait for it, SIGKILL after ``timeout``.

    The signal is only sent if ``is_ours(pid)`` holds (guards against a recycled PID that now
    belongs to someone else, e.g. another sandbox).
    """
    if not is_alive(pid):
        return
    if not is_ours(pid):
        log.warning("pid %d is not ours any more (%r), not signalled", pid, cmdline(pid)[:80])
        return
    terminate_all([pid], timeout=timeout)


def terminate_all(pids: Iterable[int], *, timeout: float = 5) -> None:
    """SIGTERM every pid (already checked to be ours), SIGKILL those left after ``timeout``."""
    left = _signal_and_wait(pids, signal.SIGTERM, timeout)
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
