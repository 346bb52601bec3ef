"""Processes on this machine, read from /proc and `ss`: what a test started, what it left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, start time) of a live process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[19])


def process_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs: no such process, or a zombie its parent has not reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live process below ``pid`` (children, their children...) as (PID, start time)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))):
            children.setdefault(stat[0], []).append((int(entry), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def kill_processes(processes: list[tuple[int, int]]) -> None:
    """SIGKILL each (PID, start time) that still runs: never a later process with a reused PID."""
    for pid, started in processes:
        if (stat := _stat(pid)) and stat[1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def processes_mentioning(text: str) -> list[tuple[int, int, str]]:
    """(PID, start time, command line with NULs as spaces) of live processes whose command
    line contains ``text``; zombies left out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if text in command and fields[0] != "Z":
            found.append((int(entry), int(fields[19]), command.replace("\0", " ").strip()))
    return found


def java_processes_mentioning(text: str) -> list[int]:
    """PIDs of live java processes whose command line contains ``text``."""
    return [
        pid
        for pid, _started, command in processes_mentioning(text)
        if command.split(" ", 1)[0].endswith("/java")
    ]


def listening_sockets(pids: list[int]) -> list[str]:
    """Local addresses of TCP listening sockets owned by ``pids`` (from `ss`)."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = []
    for line in output.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            addresses.append(line.split()[3])
    return addresses


@contextlib.contextmanager
def programs_seen(
    executables: dict[str, str], interval: float = 0.1, *, commands: dict[str, str] | None = None
):
    """Watch the processes this test process started (its descendants) while the block runs;
    yields the set of names (keys of ``executables``) whose program (the value, a path) was
    seen running at least once, and of ``commands`` whose text (the value) was seen in a
    command line. Only descendants: tests of other pytest workers run the same programs at
    the same time."""
    import threading

    seen: set[str] = set()
    wanted = {os.path.realpath(path): name for name, path in executables.items()}
    done = threading.Event()
    me = os.getpid()

    def watch() -> None:
        while not done.is_set():
            for pid, _started in descendants(me):
                with contextlib.suppress(OSError):
                    name = wanted.get(os.readlink(f"/proc/{pid}/exe"))
                    if name:
                        seen.add(name)
                    if commands:
                        with open(f"/proc/{pid}/cmdline", "rb") as handle:
                            line = handle.read().decode(errors="replace")
                        seen.update(n for n, text in commands.items() if text in line)
            done.wait(interval)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


@contextlib.contextmanager
def owner_killed_after(script: Path):
    """Run the Python file ``script``, which starts servers and prints one JSON line about
    them; yield that line, parsed, then SIGKILL the script (a kernel killed), whatever
    happened in the block."""
    import json
    import sys

    owner = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield json.loads(owner.stdout.readline())
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        owner.stdout.close()
