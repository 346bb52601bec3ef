"""The sandbox a graded submission runs in (bubblewrap + socat), tested for real.

No Kafka needed: a plain TCP server on loopback stands for a submission's own server, and
another one for everything it must not reach.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder.sandbox import TMP_BYTES, Workspace, isolation_problem
from tests.support.paths import REPO


@pytest.fixture(scope="module", autouse=True)
def sandbox_works():
    problem = isolation_problem()
    assert problem is None, f"bubblewrap and socat must work where these tests run: {problem}"


class EchoServer:
    """A loopback TCP server answering each connection with ``name``."""

    def __init__(self, name: bytes):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.port = self.socket.getsockname()[1]
        self.name = name
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.sendall(self.name)

    def close(self):
        self.socket.close()


@pytest.fixture
def servers():
    own, other = EchoServer(b"propio"), EchoServer(b"ajeno")
    yield own, other
    own.close()
    other.close()


@pytest.fixture
def workspace(tmp_path, servers):
    own, _other = servers
    submission = tmp_path / "entrega"
    submission.mkdir()
    (submission / "cuaderno.ipynb").write_text("{}")
    (submission / "enlace").symlink_to(REPO / "assignments" / "nbgrader_config.py")
    space = Workspace(submission, [own.port], {"SERVIDOR": str(own.port)}, isolated=True)
    yield space
    space.close()


def run(space: Workspace, code: str, timeout: float = 60) -> str:
    completed = subprocess.run(
        space.command([sys.executable, "-c", code]),
        cwd=space.workdir,
        env=space.environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


CONNECT = """
import socket, sys
for port in sys.argv[1:] or [{ports}]:
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=3) as s:
            print(port, s.recv(16).decode())
    except OSError as error:
        print(port, type(error).__name__)
"""


def test_only_the_submissions_own_servers_are_reachable(workspace, servers):
    own, other = servers
    seen = run(workspace, CONNECT.format(ports=f"{own.port}, {other.port}"))
    assert f"{own.port} propio" in seen
    assert f"{other.port} ConnectionRefusedError" in seen
    assert other.connections == 0


def test_the_course_is_invisible_and_nothing_outside_is_writable(workspace):
    code = f"""
import os, pathlib
for path in [{str(REPO / "assignments" / "source")!r}, {str(REPO / "README.md")!r},
             "enlace", "/home", "/etc/shadow"]:
    try:
        data = pathlib.Path(path).read_bytes() if not os.path.isdir(path) else os.listdir(path)
        print("READ", path, len(data))
    except OSError as error:
        print("NOREAD", path, type(error).__name__)
for path in [{str(REPO / "autograder" / "checks.py")!r}, "/usr/pirata",
             {str(Path(sys.prefix) / "pirata")!r}]:
    try:
        open(path, "a").close()
        print("WROTE", path)
    except OSError as error:
        print("NOWRITE", path, type(error).__name__)
open("mio.txt", "w").write("ok")
open("/tmp/mio.txt", "w").write("ok")
print("OWN FILES OK", sorted(os.listdir(".")))
"""
    seen = run(workspace, code)
    assert "WROTE" not in seen, seen
    assert seen.count("NOWRITE") == 3, seen
    for path in (REPO / "assignments" / "source", REPO / "README.md", "enlace", "/home"):
        assert f"NOREAD {path} FileNotFoundError" in seen, (path, seen)
    assert "NOREAD /etc/shadow" in seen, seen  # hidden behind /dev/null
    assert "OWN FILES OK ['cuaderno.ipynb', 'enlace', 'mio.txt']" in seen, seen
    assert not (REPO / "autograder" / "pirata").exists()


def test_private_tmp_is_bounded(workspace):
    code = f"""
try:
    with open("/tmp/grande", "wb") as f:
        for _ in range({TMP_BYTES // (1 << 20) + 16}):
            f.write(b"x" * (1 << 20))
    print("FULL WRITE")
except OSError as error:
    print("STOPPED", type(error).__name__, error.errno)
"""
    assert "STOPPED OSError 28" in run(workspace, code)


def test_no_process_outlives_the_sandbox(workspace):
    marker = f"kafkalab-sandbox-test-{uuid.uuid4().hex}"
    # A grandchild in a session of its own, which a process group kill would miss.
    code = f"""
import subprocess
subprocess.Popen(["sh", "-c", "exec -a {marker} sleep 300"], start_new_session=True)
print("started")
"""
    assert "started" in run(workspace, code)
    time.sleep(0.5)
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in command:
                alive.append(int(entry))
    assert alive == []


def test_a_script_times_out_and_is_killed(workspace):
    workspace_script = workspace.workdir / "lento.py"
    workspace_script.write_text("import time\nprint('empiezo', flush=True)\ntime.sleep(300)\n")
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        workspace.run_python(["lento.py"], timeout=2)
    assert time.monotonic() - began < 10
