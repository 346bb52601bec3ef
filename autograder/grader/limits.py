"""Resource limits of a graded submission: memory, CPU time, processes, file size.

:class:`Confinement` enforces an activity's :class:`~autograder.activities.Limits` on every
process of one submission (the kernel, what it starts, the scripts a check runs) and tells
which were reached (:class:`LimitHit`, with the Spanish message of :func:`limit_message`).
Memory and processes count all of a submission's processes together, in a cgroup made for
it where the grader may make one; CPU time and file size are rlimits, inherited by every
process. Its docstring says why each and what stands in where cgroups cannot be made. The
sandbox (:mod:`.sandbox`) wraps every command it starts with it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..activities import Limits

__all__ = [
    "EACH",
    "PREFIX",
    "LIMIT_KINDS",
    "WHOLE",
    "Confinement",
    "LimitHit",
    "Limits",
    "cgroup_v1_folder",
    "cgroup_v1_parent",
    "errors_in",
    "files_at_least",
    "limit_message",
    "signal_of",
]

# Names of what a grader makes for one submission (its folder, its cgroups): with the pid of
# the grader that made them, so what a killed grader left behind can be found and removed.
PREFIX = "kafkalab-entrega-"
LIMIT_KINDS = ("memory", "cpu", "processes", "file_size")
_MB = 1 << 20
# How a limit is enforced: on the whole sandbox (a cgroup: every process of the submission
# counts together) or on each process (an rlimit, inherited by every process it starts).
WHOLE, EACH = "cgroup", "rlimit"
_CPU_GRACE = 2  # seconds between SIGXCPU (soft limit) and SIGKILL (hard limit)
_SCAN_BUDGET = 20_000  # directory entries looked at when searching for a file at the limit
_OPTIONAL = {"memory.memsw.limit_in_bytes"}  # only where swap is accounted


@dataclass(frozen=True)
class LimitHit:
    """A limit a submission reached: its kind, its value (MB, s, count, MB) and the Spanish
    message its feedback shows."""

    kind: str
    value: int
    message: str

    def record(self) -> dict:
        """As the class records keep it (``Events.limit``)."""
        return {"kind": self.kind, "value": self.value, "message": self.message}


def limit_message(kind: str, value: int, how: str, detail: str = "") -> str:
    """The Spanish message of a limit reached; ``how`` is :data:`WHOLE` or :data:`EACH`."""
    if kind == "memory":
        if how == WHOLE:
            return (
                f"Tu cuaderno superó el límite de memoria de {value} MB, que comparten el "
                "kernel y todos los programas que arranca: el sistema detuvo el proceso que "
                "más memoria usaba. ¿Guardas demasiados datos en memoria o arrancas demasiados "
                "programas a la vez?"
            )
        return (
            f"Tu cuaderno superó el límite de memoria de {value} MB por proceso: no se pudo "
            "reservar más memoria (MemoryError). ¿Guardas demasiados datos en memoria?"
        )
    if kind == "cpu":
        return (
            f"Tu cuaderno superó el límite de tiempo de CPU de {value} s por proceso: el "
            "sistema detuvo el proceso. ¿Hay un bucle que no termina?"
        )
    if kind == "processes":
        scope = "entre todos" if how == WHOLE else "a la vez"
        return (
            f"Tu cuaderno superó el límite del número de procesos: {value} procesos e hilos "
            f"{scope}, contando el kernel y lo que arranca, y no se pudieron crear más. ¿Hay "
            "un bucle que lanza programas sin esperar a que terminen?"
        )
    where = f" en «{detail}»" if detail else ""
    return (
        f"Tu cuaderno superó el límite de tamaño de fichero de {value} MB: no se pudo "
        f"escribir más{where}. ¿Hace falta un fichero tan grande?"
    )


def signal_of(status: int | None, sandboxed: bool) -> int | None:
    """The signal that ended a process, from its exit status (bwrap exits 128 + signal)."""
    if status is None:
        return None
    if status < 0:
        return -status
    if sandboxed and status > 128:
        return status - 128
    return None


def errors_in(outputs) -> list[tuple[str, str]]:
    """(ename, evalue) of the error outputs of a cell."""
    return [
        (str(o.get("ename", "")), str(o.get("evalue", "")))
        for o in outputs or []
        if o.get("output_type") == "error"
    ]


def files_at_least(
    roots: list[Path], size: int, ignore: frozenset[tuple[str, int]] = frozenset()
) -> list[tuple[str, int]]:
    """(path, modification time in ns) of the regular files of ``size`` bytes or more under
    ``roots``, each on its own file system (links and mounts not followed, ``ignore``'s left
    out), looking at no more than
    :data:`_SCAN_BUDGET` entries: the rlimit stops a file at exactly its limit, so a file
    that big that the submission's processes wrote is one that reached it."""
    found: list[tuple[str, int]] = []
    budget = _SCAN_BUDGET
    todo: list[tuple[Path, int]] = []
    for root in roots:
        with contextlib.suppress(OSError):
            todo.append((Path(root), os.stat(root).st_dev))
    while todo and budget > 0:
        folder, device = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries[:budget]:
            budget -= 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    # One file system, as `find -xdev`: what is mounted into the sandbox's
                    # /tmp (read-only folders of this machine, a virtualenv under /tmp) is
                    # not the submission's.
                    if entry.stat(follow_symlinks=False).st_dev == device:
                        todo.append((Path(entry.path), device))
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    key = (entry.path, info.st_mtime_ns)
                    if info.st_size >= size and key not in ignore:
                        found.append(key)
            except OSError:
                continue
    return found


@functools.cache
def cgroup_v1_parent(controller: str) -> Path | None:
    """This process's cgroup of the v1 ``controller`` when its hierarchy is mounted and
    writable here (child cgroups can be made in it), else None."""
    try:
        cgroups = Path("/proc/self/cgroup").read_text()
        mounts = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    folder = cgroup_v1_folder(controller, cgroups, mounts)
    if folder is not None and folder.is_dir() and os.access(folder, os.W_OK):
        return folder
    return None


def cgroup_v1_folder(controller: str, cgroups: str, mounts: str) -> Path | None:
    """Where the cgroup of the v1 ``controller`` listed in ``cgroups`` (/proc/PID/cgroup) is
    mounted, according to ``mounts`` (/proc/PID/mountinfo); None when it is not."""
    own = None
    for line in cgroups.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            own = parts[2]
    if own is None:
        return None
    for line in mounts.splitlines():
        fields = line.split()
        if "-" not in fields[5:]:
            continue
        tail = fields[fields.index("-", 5) + 1 :]
        if len(tail) < 3 or tail[0] != "cgroup" or controller not in tail[2].split(","):
            continue
        root, mountpoint = fields[3], fields[4].replace("\\040", " ")
        if root == "/":
            relative = own
        elif own == root or own.startswith(root + "/"):
            relative = own[len(root) :]
        else:
            continue
        return Path(mountpoint) / relative.lstrip("/")
    return None


def _jvm_floor_mb() -> int:
    """MiB of data a JVM started without ``-Xmx`` commits at once on this machine: its initial
    heap (1/64 of the memory, HotSpot's default) and 256 MB for the rest of it."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 // 64 + 256
    except (OSError, ValueError, IndexError):
        pass
    return 512


def _cgroup_procs(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _counter(path: Path, name: str) -> int:
    """The counter ``name`` of a cgroup file of ``name value`` lines (0 when unreadable)."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _remove_cgroup(folder: Path, deadline: float) -> bool:
    """Kill every process left in a cgroup and remove it (True when it is gone)."""
    while True:
        for pid in _cgroup_procs(folder):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)


def _sweep_abandoned_cgroups() -> None:
    """Remove the cgroups of graders that were killed before they could (their pid is gone)."""
    for controller in ("memory", "pids"):
        parent = cgroup_v1_parent(controller)
        if parent is None:
            continue
        for folder in parent.glob(f"{PREFIX}*-*"):
            pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _remove_cgroup(folder, time.monotonic() + 2)


class Confinement:
    """Enforces :class:`Limits` on every process of one submission; tells which were reached.

    The mechanism, and why:

    * **Memory and number of processes: a cgroup** (v1 ``memory`` and ``pids`` hierarchies,
      where they are mounted writable for this process: as root on the grading machines).
      It is the only kernel mechanism that counts all of a submission's processes together,
      whatever they do (fork, ``setsid``, double fork), and it counts what matters: memory
      actually used (including the private ``/tmp``, a tmpfs), where ``RLIMIT_AS`` counts
      address space (a Kafka command line JVM with ``-Xmx128m`` reserves about 2.4 GB of it
      and uses about 110 MB), and tasks alive, where ``RLIMIT_NPROC`` counts every process
      of the user and is not enforced at all for root (kernel/fork.c exempts the initial
      user's root, and bubblewrap's user namespace maps the sandbox to that same uid 0).
      Going over the memory limit makes the kernel's OOM killer stop the largest process of
      the cgroup (``memory.oom_control``'s ``oom_kill`` counts it); a fork over the process
      limit fails with EAGAIN (``pids.events``' ``max`` counts it).
    * **CPU time and file size: rlimits** (``prlimit`` from util-linux, inherited by every
      process started inside), since no cgroup caps a total of CPU time or a file's size:
      ``RLIMIT_CPU`` per process (SIGXCPU, then SIGKILL 2 s later), ``RLIMIT_FSIZE`` per file
      (EFBIG, and SIGXFSZ for programs that do not ignore it as Python and Java do).
      ``RLIMIT_CORE`` is 0: a process killed by those signals leaves no core file behind.
    * **Without writable v1 cgroups** (no root, or cgroup v2 only, whose delegated subtrees
      this code does not use: students' and instructors' machines) rlimits stand in, per
      process: ``RLIMIT_DATA`` for memory
      (the heap and writable private mappings, not reserved address space; never below what
      a JVM without ``-Xmx`` commits at start here, :func:`_jvm_floor_mb`, or ``java
      -version`` itself would fail) and, inside bubblewrap's user namespace and only when not
      root, ``RLIMIT_NPROC`` (counted per user namespace, so only the sandbox's processes
      count). :attr:`enforced` says which limit is enforced how (None: not enforced) and
      :attr:`values` the values enforced.

    The cgroups are children of this process's own (``kafkalab-entrega-<pid>-<n>``), joined
    by a small shell before it execs the sandbox, so no process of the submission ever runs
    outside them; :meth:`close` kills whatever is left in them and removes them.

    What it costs, measured on the 2-core grading machine: about 1 ms to make and remove the
    cgroups, 6 ms more for each sandbox started (the kernel, each script a check runs) and
    under 1 ms to look for limits reached after a cell: under 30 ms per submission.
    """

    _made = itertools.count(1)

    def __init__(self, limits: Limits, *, sandboxed: bool, cgroups: bool = True):
        self.limits = limits
        self.sandboxed = sandboxed
        self.problems: list[str] = []
        self._groups: dict[str, Path] = {}
        self._prlimit = shutil.which("prlimit")
        if cgroups:
            _sweep_abandoned_cgroups()
            self._make_cgroups()
        rlimits = self._prlimit is not None
        self.enforced: dict[str, str | None] = {
            "memory": WHOLE if "memory" in self._groups else (EACH if rlimits else None),
            "cpu": EACH if rlimits else None,
            "processes": (
                WHOLE
                if "pids" in self._groups
                else (EACH if rlimits and sandboxed and os.geteuid() != 0 else None)
            ),
            "file_size": EACH if rlimits else None,
        }
        self.values = {kind: limits.value(kind) for kind in LIMIT_KINDS}
        if self.enforced["memory"] == EACH:
            self.values["memory"] = max(limits.memory_mb, _jvm_floor_mb())
        self._reported: set[str] = set()
        self._exits: list[int] = []
        self._handed_in: frozenset[tuple[str, int]] = frozenset()

    def handed_in(self, roots: list[Path]) -> None:
        """Files already at the size limit before the submission ran (it handed them in):
        not a limit reached."""
        self._handed_in = frozenset(files_at_least(roots, self.limits.file_mb * _MB))

    def _make_cgroups(self) -> None:
        name = f"{PREFIX}{os.getpid()}-{next(self._made)}"
        settings = {
            "memory": {
                "memory.limit_in_bytes": self.limits.memory_mb * _MB,
                "memory.memsw.limit_in_bytes": self.limits.memory_mb * _MB,  # no swap either
            },
            "pids": {"pids.max": self.limits.processes},
        }
        for controller, files in settings.items():
            parent = cgroup_v1_parent(controller)
            if parent is None:
                continue
            folder = parent / name
            try:
                folder.mkdir()
            except OSError as error:
                self.problems.append(f"{controller}: {error}")
                continue
            try:
                for file, value in files.items():
                    if file in _OPTIONAL and not (folder / file).exists():
                        continue
                    (folder / file).write_text(str(value))
            except OSError as error:
                self.problems.append(f"{controller}: {error}")
                _remove_cgroup(folder, time.monotonic() + 2)
                continue
            self._groups[controller] = folder

    def describe(self) -> str:
        """What is enforced and how, in Spanish (for the instructor's log)."""
        units = {"memory": "MB", "cpu": "s", "processes": "", "file_size": "MB"}
        names = {
            "memory": "memoria",
            "cpu": "tiempo de CPU",
            "processes": "procesos e hilos",
            "file_size": "tamaño de fichero",
        }
        parts = []
        for kind in LIMIT_KINDS:
            how = self.enforced[kind]
            value = f"{self.values[kind]} {units[kind]}".strip()
            scope = {WHOLE: "toda la entrega", EACH: "por proceso"}.get(how, "NO se aplica")
            parts.append(f"{names[kind]} {value} ({scope})")
        return "; ".join(parts)

    # -- starting processes ---------------------------------------------------------------------

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the cgroups and under the rlimits (outside the sandbox)."""
        prefix: list[str] = []
        if self._groups:
            joins = " && ".join(
                f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}"
                for folder in self._groups.values()
            )
            prefix = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh"]
        if self._prlimit:
            cpu = self.limits.cpu_seconds
            options = [
                f"--cpu={cpu}:{cpu + _CPU_GRACE}",
                f"--fsize={self.limits.file_mb * _MB}",
                "--core=0",
            ]
            if self.enforced["memory"] == EACH:
                options.append(f"--data={self.values['memory'] * _MB}")
            prefix += [self._prlimit, *options, "--"]
        return [*prefix, *argv]

    def inside(self) -> list[str]:
        """What the sandbox's first shell runs its command under (its own user namespace)."""
        if self.enforced["processes"] == EACH:
            return ["prlimit", f"--nproc={self.limits.processes}", "--"]
        return []

    # -- what was reached -----------------------------------------------------------------------

    def exited(self, status: int | None) -> None:
        """Note how a process of the submission ended (its exit status)."""
        if status is not None:
            self._exits.append(status)

    def hits(self, roots: list[Path], *, exit_status: int | None = None, outputs=None):
        """The limits reached since the last call (each kind once): from the cgroups'
        counters, the signals that ended the kernel or a checked script (``exit_status``,
        :meth:`exited`), a file at the size limit under ``roots`` and, for limits enforced
        per process, the error a failed allocation or fork raised in a cell (``outputs``).

        A program the kernel started that is stopped at the CPU limit is not seen here (only
        the kernel's and the checked scripts' ends are); its output in the cell tells it."""
        found: dict[str, str] = {}
        memory, pids = self._groups.get("memory"), self._groups.get("pids")
        if memory and _counter(memory / "memory.oom_control", "oom_kill") > 0:
            found["memory"] = ""
        if pids and _counter(pids / "pids.events", "max") > 0:
            found["processes"] = ""
        statuses = [*self._exits, *([] if exit_status is None else [exit_status])]
        self._exits.clear()
        for status in statuses:
            number = signal_of(status, self.sandboxed)
            if number == signal.SIGXCPU and self.enforced["cpu"]:
                found.setdefault("cpu", "")
            if number == signal.SIGXFSZ and self.enforced["file_size"]:
                found.setdefault("file_size", "")
        for ename, evalue in errors_in(outputs):
            if ename == "MemoryError" and self.enforced["memory"] == EACH:
                found.setdefault("memory", "")
            if (
                ename == "BlockingIOError"
                and "Errno 11" in evalue
                and self.enforced["processes"] == EACH
            ):
                found.setdefault("processes", "")
        if self.enforced["file_size"] and "file_size" not in self._reported:
            big = files_at_least(
                [*roots, *self._sandbox_tmp()], self.limits.file_mb * _MB, self._handed_in
            )
            if big:
                found["file_size"] = Path(big[0][0]).name
        hits = []
        for kind in LIMIT_KINDS:
            if kind in found and kind not in self._reported:
                self._reported.add(kind)
                value = self.values[kind]
                message = limit_message(kind, value, self.enforced[kind] or EACH, found[kind])
                hits.append(LimitHit(kind, value, message))
        return hits

    def _sandbox_tmp(self) -> list[Path]:
        """The private /tmp of a running sandbox, seen from here through /proc."""
        if not self.sandboxed or not self._groups:
            return []
        try:
            own = os.readlink("/proc/self/ns/mnt")
        except OSError:
            return []
        host_root, host_tmp = os.stat("/"), os.stat(tempfile.gettempdir())
        for pid in _cgroup_procs(next(iter(self._groups.values()))):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/ns/mnt") == own:
                    continue
                # A process of the sandbox that has not moved into its root yet (bubblewrap
                # while it sets up) still sees this machine's /tmp: only a private one counts.
                root, tmp = os.stat(f"/proc/{pid}/root"), os.stat(f"/proc/{pid}/root/tmp")
                if (root.st_dev, root.st_ino) == (host_root.st_dev, host_root.st_ino):
                    continue
                if (tmp.st_dev, tmp.st_ino) == (host_tmp.st_dev, host_tmp.st_ino):
                    continue
                return [Path(f"/proc/{pid}/root/tmp")]
        return []

    def close(self) -> None:
        """Kill every process left in the cgroups and remove them. Safe twice."""
        deadline = time.monotonic() + 5
        for controller, folder in list(self._groups.items()):
            if _remove_cgroup(folder, deadline):
                del self._groups[controller]
