"""Copies of the nbgrader course for the tests that grade submissions.

The course is prepared once per test session (its Markdown sources converted, ``nbgrader
generate_assignment`` run for every activity: a template), and each test module grades on its
own copy of that template.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from autograder.grader.servers import default_pool
from autograder.instructor.grading import copy_course

_template: Path | None = None


def prepared_course(folder: Path) -> Path:
    """A copy in ``folder`` of the course with its student versions generated."""
    global _template
    if _template is None:
        made = Path(tempfile.mkdtemp(prefix="kafkalab-plantilla-curso-"))
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        _template = copy_course(made / "curso")
    shutil.copytree(_template, folder, symlinks=True, dirs_exist_ok=True)
    return folder


@contextlib.contextmanager
def course_copy(folder: Path) -> Iterator[Path]:
    """:func:`prepared_course` in ``folder``; on the way out, the servers the grader kept warm
    for it (Kafka, MongoDB) are closed."""
    try:
        yield prepared_course(folder)
    finally:
        default_pool().close()
