"""A JupyterLab server for browser tests: started from the venv in its own folders, stopped
with everything it started (kernels, their brokers, the grader's servers)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kafkalab.distribution import cache_root

from .kafka import wait_for
from .processes import descendants, kill_processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterServer:
    """``command`` (a JupyterLab) on 127.0.0.1 with a free port and a random token, with a
    temporary HOME and Jupyter folders, an environment without the caller's Jupyter and
    Kafka variables, plus ``env``; its output goes to ``<base>/<name>.log``."""

    # Removed from the caller's environment: the server must not inherit a cluster or a Jupyter.
    SCRUBBED = ("JUPYTER", "KAFKALAB_", "KAFKA_", "VIRTUAL_ENV")

    def __init__(self, base: Path, name: str, command: list[str], cwd: Path, env: dict):
        self.name = name
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = base / "home"
        self.home.mkdir(exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if not k.startswith(self.SCRUBBED)}
        environment.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(base / "jupyter" / "config"),
            JUPYTER_DATA_DIR=str(base / "jupyter" / "data"),
            JUPYTER_RUNTIME_DIR=str(base / "jupyter" / "runtime"),
            IPYTHONDIR=str(base / "ipython"),
            KAFKALAB_CACHE_DIR=str(cache_root()),  # Kafka's jars, downloaded once by setup
        )
        environment.update(env)
        self.log = base / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    *command,
                    "--no-browser",
                    f"--port={self.port}",
                    "--ServerApp.port_retries=0",
                    f"--IdentityProvider.token={self.token}",
                    *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
                ],
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} terminó al arrancar:\n{self.log_tail()}")
        try:
            self.api("/api/status")
        except OSError:
            return False
        return True

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        below = descendants(self.process.pid)  # kernels, their brokers, the grader's servers
        if self.process.poll() is None:
            self.process.terminate()  # Jupyter shuts its kernels down, then exits
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        kill_processes(below)


@contextlib.contextmanager
def serving(server: JupyterServer, timeout: float, what: str) -> Iterator[JupyterServer]:
    """``server`` once it answers (``what`` names it if it does not), stopped on the way out."""
    try:
        wait_for(server.ready, timeout, what=what)
        yield server
    finally:
        server.stop()
