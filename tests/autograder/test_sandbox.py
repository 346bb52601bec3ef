"""The sandbox a graded submission runs in (bubblewrap + socat), tested for real.

No Kafka needed: a plain TCP server on loopback stands for a submission's own server, and
another one for everything it must not reach. The resource limits are tested here on plain
processes; tests/autograder/test_limits.py grades notebooks that reach them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder.activities import Limits
from autograder.grader.limits import Confinement, cgroup_v1_parent
from autograder.grader.sandbox import TMP_BYTES, Workspace, isolation_problem
from tests.support.paths import REPO
from tests.support.processes import processes_mentioning


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


def test_a_submission_sees_only_the_student_side_of_the_autograder(workspace):
    """``import autograder`` works (the test cells need it); the grader's side (the sandbox,
    the server pool, trusted execution) and the instructor's (gradebook, LMS, report) are
    not there to read or import."""
    package = REPO / "autograder"
    code = f"""
import importlib, os
import autograder, autograder.checks, autograder.activities
print("STUDENT", autograder.verificar.__module__, len(autograder.activities.ACTIVITIES))
for name in ["autograder.grader.trusted", "autograder.grader.servers",
             "autograder.instructor.grading", "autograder.instructor.lms"]:
    try:
        importlib.import_module(name)
        print("IMPORTED", name)
    except ImportError as error:
        print("NOIMPORT", name, type(error).__name__)
for folder in ["grader", "instructor"]:
    print("LISTED", folder, os.listdir(os.path.join({str(package)!r}, folder)))
"""
    seen = run(workspace, code)
    assert "STUDENT autograder.activities 3" in seen, seen
    assert "IMPORTED" not in seen and seen.count("NOIMPORT") == 4, seen
    assert "LISTED grader []" in seen and "LISTED instructor []" in seen, seen


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


# -- resource limits (autograder.grader.limits.Confinement) -------------------------------

ROOT_WITH_CGROUPS = os.geteuid() == 0 and cgroup_v1_parent("memory") is not None


@pytest.fixture
def limited(tmp_path):
    """A sandboxed workspace under small limits: 256 MB, 2 s of CPU, 48 processes, 2 MB."""
    submission = tmp_path / "entrega"
    submission.mkdir()
    (submission / "entregado.bin").write_bytes(b"x" * (3 << 20))  # handed in that big
    space = Workspace(submission, [], {}, isolated=True, limits=Limits(256, 2, 48, 2))
    yield space
    space.close()


def start(space: Workspace, code: str) -> subprocess.Popen:
    return subprocess.Popen(
        space.command([sys.executable, "-c", code]),
        cwd=space.workdir,
        env=space.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(space: Workspace, code: str, timeout: float = 60) -> tuple[int, str]:
    process = start(space, code)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def test_where_cgroups_can_be_made_memory_and_processes_are_for_the_whole_sandbox(limited):
    if os.geteuid() == 0:
        assert ROOT_WITH_CGROUPS, "as root, cgroup v1 memory and pids must be mounted writable"
    how = limited.confinement.enforced
    assert how["cpu"] == how["file_size"] == "rlimit"
    assert how["memory"] == how["processes"] == ("cgroup" if ROOT_WITH_CGROUPS else "rlimit")


def test_memory_counts_every_process_of_the_sandbox_together(limited):
    assert ROOT_WITH_CGROUPS, "the grading machines (CI too) run as root with cgroup v1"
    # Four processes of 96 MB each: none over 256 MB, all of them together over it. Once
    # one is stopped the others end (SIGTERM, -15); none stops by itself.
    code = """
import subprocess, sys, time
hold = "b = b'x' * (96 << 20); import time; time.sleep(300)"
children = [subprocess.Popen([sys.executable, "-c", hold]) for _ in range(4)]
while all(child.poll() is None for child in children):
    time.sleep(0.05)
for child in children:
    if child.poll() is None:
        child.terminate()
print(sorted(child.wait() for child in children))
"""
    status, output = finish(limited, code)
    assert status == 0 and "-9" in output, output  # one of them was stopped
    (hit,) = limited.limit_hits()
    assert hit.kind == "memory" and hit.value == 256
    assert "que comparten el kernel y todos los programas" in hit.message


def test_processes_count_every_process_of_the_sandbox_together(limited):
    assert ROOT_WITH_CGROUPS, "the grading machines (CI too) run as root with cgroup v1"
    code = """
import subprocess
children = []
try:
    for _ in range(100):
        children.append(subprocess.Popen(["sleep", "10"], start_new_session=True))
except BlockingIOError:
    print("stopped at", len(children))
"""
    status, output = finish(limited, code)
    assert status == 0 and "stopped at" in output, output
    assert int(output.split()[-1]) < 48
    assert [hit.kind for hit in limited.limit_hits()] == ["processes"]


def test_a_file_stops_at_the_size_limit_in_the_folder_and_in_tmp(limited):
    code = """
import sys, time
for path in ("grande.bin", "/tmp/grande-tmp.bin"):
    try:
        with open(path, "wb") as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
    except OSError as error:
        print(path, "errno", error.errno, flush=True)
time.sleep(30)
"""
    assert limited.limit_hits() == []  # the file handed in at 3 MB is not one
    process = start(limited, code)
    try:
        seen = [process.stdout.readline() for _ in range(2)]
        assert all("errno 27" in line for line in seen), seen  # EFBIG
        assert (limited.workdir / "grande.bin").stat().st_size == 2 << 20
        (limited.workdir / "grande.bin").unlink()  # only the one in /tmp is left to find
        (hit,) = limited.limit_hits()
        assert hit.kind == "file_size" and "«grande-tmp.bin»" in hit.message
    finally:
        process.kill()
        process.wait()


def test_cpu_time_is_limited_per_process(limited):
    code = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"
    began = time.monotonic()
    status, _output = finish(limited, code)
    assert status == 128 + signal.SIGXCPU  # bwrap tells the signal that ended its command
    assert time.monotonic() - began < 25
    (hit,) = limited.limit_hits(exit_status=status)
    assert hit.kind == "cpu" and "2 s por proceso" in hit.message


def test_closing_ends_what_is_left_and_removes_the_cgroups(limited):
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"

    def sleeping() -> list[int]:
        return [pid for pid, _, cmd in processes_mentioning(marker) if cmd.startswith("sleep ")]

    process = start(limited, f"import subprocess; subprocess.Popen(['sleep', '{marker}']).wait()")
    deadline = time.monotonic() + 20
    while not sleeping():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    groups = list(limited.confinement._groups.values())
    began = time.perf_counter()
    limited.close()
    assert time.perf_counter() - began < 0.3
    process.wait(timeout=10)
    assert sleeping() == []
    assert not any(group.exists() for group in groups)


def test_limits_cost_little(tmp_path):
    """Setting limits up, looking for limits reached after ten cells and removing them."""
    submission = tmp_path / "entrega"
    submission.mkdir()
    (submission / "cuaderno.ipynb").write_text("{}")
    began = time.perf_counter()
    for _ in range(5):
        confinement = Confinement(Limits(1024, 60, 256, 64), sandboxed=True)
        confinement.handed_in([submission])
        for _ in range(10):
            confinement.hits([submission])
        confinement.close()
    assert (time.perf_counter() - began) / 5 < 0.1


def test_without_root_the_sandbox_counts_only_its_own_processes(monkeypatch):
    """RLIMIT_NPROC set inside bubblewrap's user namespace: the user's 30 processes outside
    do not count against the sandbox's limit of 20. Acting as another user needs root and
    util-linux's setpriv, as on the grading machines and CI."""
    assert os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv"
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    confinement = Confinement(Limits(1024, 60, 20, 64), sandboxed=True, cgroups=False)
    assert confinement.enforced["processes"] == "rlimit"
    inside = confinement.inside()
    fork = (
        "import subprocess\nchildren = []\ntry:\n    for _ in range(40):\n"
        "        children.append(subprocess.Popen(['sleep', '5']))\n"
        "except BlockingIOError:\n    print('stopped at', len(children))\n"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    outside = [subprocess.Popen([*nobody, "sleep", "30"]) for _ in range(30)]
    try:
        sandbox = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL"]
        sandbox += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
        completed = subprocess.run(
            [*nobody, *sandbox, *inside, "/usr/bin/python3", "-c", fork],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for process in outside:
            process.kill()
            process.wait()
    assert "stopped at" in completed.stdout, completed.stderr
    assert 10 < int(completed.stdout.split()[-1]) < 20
