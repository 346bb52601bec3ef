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
* runs under the activity's :class:`~autograder.activities.Limits` (memory, CPU time,
  processes, file size), enforced by :class:`~.limits.Confinement`.

Without those tools grading still works, without isolation, and :data:`NOT_ISOLATED` says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..activities import Limits
from .limits import PREFIX, Confinement, LimitHit

__all__ = [
    "NOT_ISOLATED",
    "TMP_BYTES",
    "Workspace",
    "isolation_problem",
    "kill_session",
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
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
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
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
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
            # The grader's own notebook cluster and tool JVM, if it has any: not theirs.
            env.pop("KAFKALAB_BOOTSTRAP_SERVER", None)
            env.pop("KAFKALAB_TOOL_SERVER", None)
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
        # The instructor's choice of fresh JVMs for every Kafka tool (kafkalab.tooljvm).
        if "KAFKALAB_WARM_TOOLS" in os.environ:
            env["KAFKALAB_WARM_TOOLS"] = os.environ["KAFKALAB_WARM_TOOLS"]
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
