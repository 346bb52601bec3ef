"""Server processes on this machine: free ports, guarded launches, stops, orphan sweeps.

Every server (broker, mongod, FerretDB, live console consumer) runs under ``_guard.py``, which
kills it and deletes its folder when its owner ends, even by SIGKILL. Folders are named
``<prefix><owner pid>-...``: a later start deletes those of owners that died unguarded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

GUARD = Path(__file__).with_name("_guard.py")


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a server's log file, or ``"(sin registros)"``."""
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace").splitlines()
        if text:
            return "\n".join(text[-lines:])
    return "(sin registros)"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    """True when something accepts connections on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_pid(process: subprocess.Popen | None) -> int | None:
    """Process id of a guard's server (its child), where /proc tells it; None once ended."""
    if process is None or process.poll() is not None:
        return None
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(children.read_text().split()[0])
    return None


def owned_temp_dir(prefix: str) -> Path:
    """A new temp folder named after this process, for :func:`sweep_orphaned_dirs`."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def sweep_orphaned_dirs(prefix: str) -> None:
    """Delete the folders of :func:`owned_temp_dir` whose owning process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        owner = folder.name.removeprefix(prefix).split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not pid_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def spawn_guarded(
    command: Sequence[str],
    *,
    cleanup: Path | None = None,
    stdout=None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin_fd: int | None = None,
) -> subprocess.Popen:
    """Start ``command`` under the guard, in a session of its own.

    ``cleanup`` is deleted when the owner dies. With ``stdout`` (a file) both output streams
    go there; without it both are pipes for the caller to read. ``stdin_fd``: the server's
    standard input (default /dev/null).
    """
    streams = (
        {"stdout": stdout, "stderr": subprocess.STDOUT}
        if stdout is not None
        else {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    )
    passed = [] if stdin_fd is None else [str(stdin_fd)]
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(GUARD), str(cleanup or "-"), *passed, "--", *command],
        stdin=subprocess.PIPE,
        pass_fds=() if stdin_fd is None else (stdin_fd,),
        cwd=cwd,
        env=env,
        start_new_session=True,
        **streams,
    )


def stop_guarded(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the server (a clean stop), SIGKILL if it still runs after ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    kill_guarded(process)


def kill_guarded(process: subprocess.Popen) -> None:
    """SIGKILL to the server at once (SIGUSR1 tells the guard so), and wait for it."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.send_signal(signal.SIGUSR1)
        process.wait()
    with contextlib.suppress(OSError, ValueError):
        process.stdin.close()


def release_guarded(
    processes: Sequence[subprocess.Popen], folder: Path | None = None, timeout: float = 15
) -> None:
    """End servers as their owner's death would (the guards kill them and delete their
    folders), then delete ``folder``. Also runs at interpreter exit: it must not refer to any
    owner object."""
    for process in processes:
        if process.poll() is None:
            # Closing the guard's stdin is its "owner gone" signal.
            with contextlib.suppress(OSError):
                process.stdin.close()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError, ValueError):
            process.stdin.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
