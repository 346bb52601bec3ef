"""Where a submission's code runs while it is graded: a bubblewrap sandbox.

Each graded submission gets a :class:`Workspace`: a private copy of its folder, outside the
course. With Debian's ``bubblewrap`` (``bwrap``) and ``socat`` installed, its kernel and every
process the kernel starts run inside a sandbox (:meth:`Workspace.command`) that

* sees only the system (``/usr``, ``/etc`` without password files), Python, Java, the Kafka
  jars and the ``kafkalab``/``autograder`` packages, all read-only, plus its own folder and a
  private ``/tmp``: never the solutions, other submissions, the gradebook or feedback;
* has its own network namespace with nothing but loopback, where the ports of the
  submission's own Kafka cluster and MongoDB are forwarded (socat, through Unix sockets that
  only lead to those servers), so nothing else on this machine can be reached;
* has its own process namespace, no capabilities and no controlling terminal, and dies as a
  whole when grading of the submission ends;
* runs under :class:`Limits` (memory, CPU time, processes, file size) set per activity: a
  cgroup for all of its processes together where the machine lets the grader make one, and
  rlimits (:class:`Confinement` explains which and why).

Without those tools grading still works, without isolation, and :data:`NOT_ISOLATED` says so.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..activities import Limits

__all__ = [
    "LIMIT_KINDS",
    "NOT_ISOLATED",
    "Confinement",
    "LimitHit",
    "Limits",
    "Workspace",
    "isolation_problem",
    "kill_session",
    "limit_message",
]

NOT_ISOLATED = (
    "Atención: las entregas se califican SIN aislamiento ({reason}). Su código podría leer "
    "las soluciones y escribir fuera de su carpeta. Instala bubblewrap y socat (Debian/Ubuntu: "
    "sudo apt-get install bubblewrap socat) para calificar cada entrega aislada."
)
_BWRAP_BASE = [
    "--unshare-all",  # user, mount, pid, network, ipc, uts and cgroup namespaces
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
]
# Files of /etc a submission has no business reading, hidden behind /dev/null.
_MASKED = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
TMP_BYTES = 512 * 1024 * 1024
_PR_SET_PDEATHSIG = 1
_PREFIX = "kafkalab-entrega-"


@functools.cache
def isolation_problem() -> str | None:
    """Why submissions cannot be sandboxed here (Spanish), or None when they can."""
    if os.environ.get("KAFKALAB_SANDBOX", "").strip() == "0":
        return "KAFKALAB_SANDBOX=0"
    missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
    if missing:
        return "no están instalados: " + ", ".join(missing)
    try:
        probe = subprocess.run(
            ["bwrap", *_BWRAP_BASE, *_system_binds(), "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap no funciona: {error}"
    if probe.returncode != 0:
        return f"bwrap no puede crear el aislamiento en esta máquina: {probe.stderr.strip()}"
    return None


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", "/etc", "/etc"]
    for secret in _MASKED:
        if Path(secret).exists():
            args += ["--ro-bind", "/dev/null", secret]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # /tmp lives in memory: bounded, so a submission cannot fill the machine's memory with it.
    return args + ["--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--dir", "/tmp/home"]


def _grader_side() -> list[Path]:
    """The folders of the autograder package a submission has no business reading: the
    grader's side and the instructor's. Inside the sandbox an empty folder hides each, so
    ``import autograder`` finds only the student's side (``autograder``, ``checks``,
    ``activities``), wherever the package is installed."""
    import autograder

    package = Path(autograder.__file__).resolve().parent
    return [package / "grader", package / "instructor"]


def _readable_paths() -> list[Path]:
    """What the student's code needs to read: Python, our packages (the autograder's grader
    and instructor sides then hidden, :func:`_grader_side`), Java, the Kafka cache."""
    import autograder
    import kafkalab
    from kafkalab.distribution import cache_root
    from kafkalab.java import find_java

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parents[1]}
    paths |= {Path(kafkalab.__file__).resolve().parent, Path(autograder.__file__).resolve().parent}
    paths.add(cache_root().resolve())
    with contextlib.suppress(Exception):
        paths.add(Path(find_java().executable).resolve().parents[1])
    # Only the outermost of nested paths: binding a parent after a child would hide it.
    ordered = sorted(p for p in paths if p.exists() and str(p) != "/")
    return [p for p in ordered if not any(q != p and q in p.parents for q in ordered)]


def _sweep_abandoned() -> None:
    """Delete the folders of graders that were killed before they could (their pid is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _copy_submission(source: Path, target: Path) -> None:
    """The submission's files, symbolic links kept as links (they lead nowhere inside)."""
    shutil.copytree(
        source,
        target,
        symlinks=True,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )


# -- resource limits -------------------------------------------------------------------------

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
    ``roots`` (links not followed, ``ignore``'s left out), looking at no more than
    :data:`_SCAN_BUDGET` entries: the rlimit stops a file at exactly its limit, so a file
    that big that the submission's processes wrote is one that reached it."""
    found: list[tuple[str, int]] = []
    budget = _SCAN_BUDGET
    todo = list(roots)
    while todo and budget > 0:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries[:budget]:
            budget -= 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))
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
        for folder in parent.glob(f"{_PREFIX}*-*"):
            pid = folder.name.removeprefix(_PREFIX).split("-", 1)[0]
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
        name = f"{_PREFIX}{os.getpid()}-{next(self._made)}"
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
        for pid in _cgroup_procs(next(iter(self._groups.values()))):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/ns/mnt") != own:
                    return [Path(f"/proc/{pid}/root/tmp")]
        return []

    def close(self) -> None:
        """Kill every process left in the cgroups and remove them. Safe twice."""
        deadline = time.monotonic() + 5
        for controller, folder in list(self._groups.items()):
            if _remove_cgroup(folder, deadline):
                del self._groups[controller]


class Workspace:
    """The private folder, environment and (when possible) sandbox of one submission.

    Args:
        source: the submission's folder (nbgrader's autograded copy); it is copied.
        ports: loopback ports of the servers the submission may reach.
        environment: variables the submission's processes get (servers, ...).
        isolated: run in a bubblewrap sandbox (needs :func:`isolation_problem` to be None).
        limits: what its processes may use (:class:`Confinement`); None: no limits.
        cgroups: enforce memory and processes with cgroups where this machine allows it
            (False: rlimits only, as on a machine without them).
    """

    def __init__(
        self,
        source: Path,
        ports: list[int],
        environment: dict[str, str],
        *,
        isolated: bool,
        limits: Limits | None = None,
        cgroups: bool = True,
    ):
        self.isolated = isolated
        self.ports = sorted(set(ports))
        _sweep_abandoned()
        self.root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.workdir = self.root / "entrega"
        self.rundir = self.root / "kernel"
        self.bridgedir = self.root / "puentes"
        self.emptydir = self.root / "vacia"  # mounted over what the sandbox must not see
        self._bridges: list[subprocess.Popen] = []
        self._environment = dict(environment)
        self.confinement: Confinement | None = None
        try:
            if limits is not None:
                self.confinement = Confinement(limits, sandboxed=isolated, cgroups=cgroups)
            _copy_submission(source, self.workdir)
            if self.confinement is not None:
                self.confinement.handed_in([self.workdir])
            self.rundir.mkdir()
            self.emptydir.mkdir()
            if isolated:
                self.bridgedir.mkdir()
                self._start_bridges()
        except BaseException:
            self.close()
            raise

    # -- network ------------------------------------------------------------------------------

    def _start_bridges(self) -> None:
        """Outside end of each forwarded port: a Unix socket that leads to 127.0.0.1:port."""
        for port in self.ports:
            socket_path = self.bridgedir / f"{port}.sock"
            self._bridges.append(
                subprocess.Popen(
                    [
                        "socat",
                        f"UNIX-LISTEN:{socket_path},fork,mode=600",
                        f"TCP:127.0.0.1:{port}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            )
        deadline = time.monotonic() + 10
        while not all((self.bridgedir / f"{p}.sock").exists() for p in self.ports):
            if time.monotonic() > deadline or any(b.poll() is not None for b in self._bridges):
                raise RuntimeError("socat no ha podido abrir los puentes hacia los servidores.")
            time.sleep(0.005)

    def _inside_prelude(self) -> str:
        """Shell run first inside the sandbox: the inside end of each forwarded port, then the
        command (under the limits that must be set inside, :meth:`Confinement.inside`)."""
        inside = self.confinement.inside() if self.confinement else []
        run = " ".join(["exec", *map(shlex.quote, inside), '"$@"'])
        if not self.ports:
            return run
        listeners = " ".join(
            f"socat TCP-LISTEN:{p},bind=127.0.0.1,fork,reuseaddr "
            f"UNIX-CONNECT:{self.bridgedir}/{p}.sock </dev/null >/dev/null 2>&1 &"
            for p in self.ports
        )
        # Wait (at most 5 s) until every listener is up: LISTEN is state 0A in /proc/net/tcp.
        return (
            f"{listeners} i=0; "
            f'while [ "$(awk \'$4=="0A"\' /proc/net/tcp | wc -l)" -lt {len(self.ports)} ] '
            "&& [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; " + run
        )

    # -- processes ----------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment of the submission's processes."""
        from kafkalab.distribution import cache_root

        bin_dirs = [str(Path(sys.executable).parent)]
        with contextlib.suppress(Exception):
            from kafkalab.distribution import ensure_kafka

            bin_dirs.insert(0, str(ensure_kafka(progress=False).bin_dir))
        if not self.isolated:
            env = dict(os.environ)
            env.pop("KAFKALAB_BOOTSTRAP_SERVER", None)
            env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")])
            env.update(self._environment)
            return env
        env = {
            "PATH": os.pathsep.join([*bin_dirs, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": "/tmp/home",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "KAFKALAB_CACHE_DIR": str(cache_root().resolve()),
        }
        with contextlib.suppress(Exception):
            from kafkalab.java import find_java

            env["KAFKALAB_JAVA"] = str(find_java().executable)
        env.update(self._environment)
        return env

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` as it must be started to run inside this submission's sandbox, under its
        limits."""
        wrap = self.confinement.wrap if self.confinement else list
        if not self.isolated:
            return wrap(argv)
        args = ["bwrap", *_BWRAP_BASE, *_system_binds()]
        for path in _readable_paths():
            args += ["--ro-bind", str(path), str(path)]
        for hidden in _grader_side():
            args += ["--ro-bind", str(self.emptydir), str(hidden)]
        args += ["--bind", str(self.workdir), str(self.workdir)]
        args += ["--bind", str(self.rundir), str(self.rundir)]
        args += ["--ro-bind", str(self.bridgedir), str(self.bridgedir)]
        args += ["--chdir", str(self.workdir), "--clearenv"]
        for name, value in sorted(self.environment().items()):
            args += ["--setenv", name, value]
        return wrap([*args, "--", "/bin/sh", "-c", self._inside_prelude(), "sh", *argv])

    def run_python(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run ``python ARGV`` in the submission's folder, sandboxed like its kernel."""
        process = subprocess.Popen(
            self.command([sys.executable, *argv]),
            cwd=self.workdir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise
        finally:
            _kill_group(process)
            if self.confinement is not None:
                self.confinement.exited(process.returncode)
        return subprocess.CompletedProcess(process.args, process.returncode, output, "")

    def limit_hits(self, exit_status: int | None = None, outputs=None) -> list[LimitHit]:
        """The limits reached since the last call (:meth:`Confinement.hits`); ``exit_status``
        is the kernel's, when it ended, and ``outputs`` those of the cell that ran."""
        if self.confinement is None:
            return []
        return self.confinement.hits(
            [self.workdir, self.rundir], exit_status=exit_status, outputs=outputs
        )

    def close(self) -> None:
        """Stop the bridges, end every process left and delete the folder. Safe twice."""
        for bridge in self._bridges:
            _kill_group(bridge)
        self._bridges.clear()
        if self.confinement is not None:
            self.confinement.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _die_with_parent() -> None:
    """In a child before exec: SIGKILL it when the grader dies, however it dies."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=5)


def kill_session(session: int) -> int:
    """Kill every process of a session (an unsandboxed kernel's, whose id is its pid).

    Without a sandbox this is how the processes a submission started (console consumers
    left running...) end with it; a process that started a session of its own escapes it.
    """
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session:  # state ppid pgrp session ...
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
    return killed
