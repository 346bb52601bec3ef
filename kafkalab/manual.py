"""Kafka started by hand, as on a student's own machine: a scratch folder and a shell in it.

    with kafkalab.manual.Terminal() as terminal:
        cluster_id = terminal.run("kafka-storage.sh random-uuid").strip()
        broker_port, controller_port = terminal.free_ports(2)
        terminal.write("server.properties", "process.roles=broker,controller\\n...")
        terminal.run(f"kafka-storage.sh format --standalone -t {cluster_id} -c server.properties")
        terminal.start("kafka-server-start.sh server.properties", port=broker_port)
        terminal.run(f"kafka-topics.sh --bootstrap-server 127.0.0.1:{broker_port} --list")

Each command runs in the folder through ``/bin/sh`` with the course's Kafka tools first on
PATH, and is printed as a terminal shows it (``$ command`` and its output). ``start`` runs a
server in the background under kafkalab's guard and returns once it answers. Leaving the
``with`` block (normally, by an error or by an interrupt) stops the server and deletes the
folder; so does the end of the Python process, even a killed one (the guard), and opening a
new Terminal closes one an interrupted cell left open. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

from .distribution import ensure_kafka
from .errors import KafkaLabError
from .kafka.base import describe_brokers
from .processes import (
    free_ports,
    kill_guarded,
    log_tail,
    owned_temp_dir,
    port_open,
    release_guarded,
    spawn_guarded,
    stop_guarded,
    sweep_orphaned_dirs,
)

__all__ = ["Terminal"]

TEMP_PREFIX = "kafkalab-a-mano-"
# The notebook's cluster address, which the launch scripts would add to a command lacking
# --bootstrap-server: a terminal on another machine knows nothing of it.
_NOTEBOOK_VARIABLES = ("KAFKALAB_BOOTSTRAP_SERVER",)

_open: weakref.WeakSet[Terminal] = weakref.WeakSet()


class Terminal:
    """A temporary folder, and commands run in it as a student would type them.

    Args:
        folder_name: name of the working folder inside the temporary one.
        echo: print each command and its output (False: run quietly, return the output).
    """

    def __init__(self, folder_name: str = "mi-kafka", *, echo: bool = True):
        for earlier in list(_open):
            earlier.close()  # left open by an interrupted cell: nothing may pile up
        sweep_orphaned_dirs(TEMP_PREFIX)
        distribution = ensure_kafka(progress=True)
        base = {k: v for k, v in os.environ.items() if k not in _NOTEBOOK_VARIABLES}
        self.env = distribution.tool_environment(base)
        self._root = owned_temp_dir(TEMP_PREFIX)
        self.folder = self._root / folder_name
        self.folder.mkdir()
        self.echo = echo
        self._servers: list[subprocess.Popen] = []
        self._finalizer = weakref.finalize(self, release_guarded, self._servers, self._root)
        _open.add(self)

    # --- the shell ------------------------------------------------------------------

    def run(self, command: str, *, timeout: float = 60, check: bool = True) -> str:
        """Run ``command`` in the folder, print it and its output, return its standard output.

        Raises KafkaLabError when it fails (``check``) or runs longer than ``timeout`` seconds.
        """
        self._require_open()
        self._say(f"$ {command}")
        process = subprocess.Popen(
            command,
            shell=True,
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its process group: a timeout or an interrupt ends it all
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise KafkaLabError(
                f"La orden «{command}» no ha terminado en {timeout:g} s y se ha detenido."
            ) from None
        except BaseException:
            _kill_group(process)
            raise
        if self.echo:
            sys.stdout.write(stdout)
            sys.stdout.flush()
            sys.stderr.write(stderr)
            sys.stderr.flush()
        if check and process.returncode != 0:
            raise KafkaLabError(
                f"La orden «{command}» ha terminado con código {process.returncode}:\n"
                + (stdout + stderr)[-2000:]
            )
        return stdout

    def write(self, name: str, text: str) -> Path:
        """Write a file in the folder and show it (``$ cat name``)."""
        self._require_open()
        path = self.folder / name
        path.write_text(text)
        self._say(f"$ cat {name}\n{text.rstrip()}")
        return path

    @staticmethod
    def free_ports(count: int) -> list[int]:
        """``count`` TCP ports free on 127.0.0.1 now, for the server's listeners."""
        return free_ports(count)

    # --- a server in the background --------------------------------------------------

    def start(self, command: str, *, port: int, timeout: float = 60) -> None:
        """Start a Kafka server in the background and return once it answers on ``port``.

        Its output goes to ``servidor.log`` in the folder (its own logs to ``logs/``). It runs
        under kafkalab's guard: it stops with this terminal, or with Python itself.
        """
        self._require_open()
        self._say(f"$ {command} &        # en segundo plano; su salida, en servidor.log")
        with open(self.folder / "servidor.log", "ab") as output:
            server = spawn_guarded(
                ["/bin/sh", "-c", f"exec {command}"],
                cleanup=self.folder,
                stdout=output,
                cwd=self.folder,
                env=self.env,
            )
        self._servers.append(server)
        started = time.monotonic()
        deadline = started + timeout
        address = f"127.0.0.1:{port}"
        while not (port_open(port) and describe_brokers([address])):
            if server.poll() is not None:
                raise KafkaLabError(
                    f"El servidor se ha parado al arrancar (código {server.returncode}). "
                    f"Lo último que escribió:\n{self._server_log()}"
                )
            if time.monotonic() > deadline:
                raise KafkaLabError(
                    f"El servidor no responde en {address} tras {timeout:g} s. "
                    f"Lo último que escribió:\n{self._server_log()}"
                )
            time.sleep(0.2)
        self._say(f"(el servidor responde en {address} tras {time.monotonic() - started:.1f} s)")

    def stop(self, timeout: float = 20) -> None:
        """Stop the servers as Ctrl+C in their terminal would (SIGTERM), killing any that
        is still running after ``timeout`` seconds."""
        for server in self._servers:
            if server.poll() is None:
                try:
                    stop_guarded(server, timeout)
                except BaseException:
                    kill_guarded(server)  # an interrupt while waiting: end it at once
                    raise
                self._say("(servidor parado)")

    @property
    def running(self) -> bool:
        return any(server.poll() is None for server in self._servers)

    def _server_log(self) -> str:
        return "\n".join(
            log_tail(path, 15)
            for path in (self.folder / "servidor.log", self.folder / "logs" / "server.log")
            if path.exists()
        )

    # --- ending -----------------------------------------------------------------

    def close(self) -> None:
        """Stop the servers and delete the folder (also what leaving ``with`` does)."""
        if not self._finalizer.alive:
            return
        try:
            self.stop()
        finally:
            self._finalizer()  # kills whatever still runs, deletes the folder
            _open.discard(self)
            self._say(f"(carpeta {self.folder} borrada)")

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_open(self) -> None:
        if self.closed:
            raise KafkaLabError("Este terminal ya está cerrado: abre otro con Terminal().")

    def _say(self, text: str) -> None:
        if self.echo:
            print(text, flush=True)

    def __repr__(self) -> str:
        state = "cerrado" if self.closed else ("servidor en marcha" if self.running else "abierto")
        return f"<Terminal {self.folder} ({state})>"


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)
