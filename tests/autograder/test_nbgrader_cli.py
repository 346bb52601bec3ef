"""nbgrader's own command line, the venv's, as a reader of the README runs it: from the course
folder, without the venv's bin on PATH.

nbgrader runs `alembic` from PATH when it creates a gradebook (nbgrader.api.get_alembic_version);
the course's nbgrader_config.py puts the venv's scripts on PATH for that. The first
generate_assignment in a course without gradebook.db must succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grader.course import COURSE_ROOT
from autograder.instructor.notebooks import convert_sources

pytestmark = pytest.mark.slow

NBGRADER = Path(sys.prefix) / "bin" / "nbgrader"
SYSTEM_PATH = "/usr/bin:/bin"  # no venv, no alembic
ACTIVITY = "actividad1-hola-kafka"


@pytest.fixture
def course(tmp_path) -> Path:
    """A copy of assignments/ with its sources only (no gradebook.db, no generated folders),
    the notebooks nbgrader reads converted from them as `make assignments` does."""
    course = tmp_path / "assignments"
    course.mkdir()
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
    shutil.copytree(
        COURSE_ROOT / "source",
        course / "source",
        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"),
    )
    convert_sources(course)
    return course


def test_generate_assignment_without_the_venv_on_path(course, tmp_path):
    assert shutil.which("alembic", path=SYSTEM_PATH) is None, "alembic en el PATH del sistema"
    assert not (course / "gradebook.db").exists()
    (tmp_path / "home").mkdir()
    environment = {
        "PATH": SYSTEM_PATH,
        "HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter" / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter" / "data"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    run = subprocess.run(
        [str(NBGRADER), "generate_assignment", ACTIVITY, "--force"],
        cwd=course,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "alembic" not in output, output
    assert (course / "gradebook.db").is_file()
    released = course / "release" / ACTIVITY / f"{ACTIVITY}.ipynb"
    assert released.is_file(), output
    notebook = json.loads(released.read_text())
    source = "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "ESCRIBE AQUÍ TU CÓDIGO" in source  # nbgrader's student version, solutions cleared
