"""Copies of the nbgrader course for the tests that grade submissions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from autograder.grader.servers import default_pool
from autograder.instructor.grading import copy_course


@contextlib.contextmanager
def course_copy(folder: Path) -> Iterator[Path]:
    """A copy of the nbgrader course in ``folder``, its student versions generated; on the way
    out, the servers the grader kept warm for it (Kafka, MongoDB) are closed."""
    try:
        yield copy_course(folder)
    finally:
        default_pool().close()
