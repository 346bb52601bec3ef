"""What an activity is: its steps (one per automatic test cell), what a step may use, and the
limits a submission's processes get when graded.

Every automatic test cell of an activity is a :class:`Step` named by the cell's nbgrader
``grade_id``. A test cell reads as one line, ``autograder.verificar("actividad1",
"test-topic")``: in the student's notebook (running it, nbgrader's *Validate*,
``comprobar``) the step runs there against the notebook's cluster. When grading, the grader
never runs test cells in the student's kernel: it runs the same step in its own process
against the cluster it owns (:mod:`autograder.grader.trusted`), and the only things it takes
from the kernel are the answers the activity asks for (:attr:`Activity.answers`), as text.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Activity",
    "CheckFailed",
    "Context",
    "Limits",
    "Step",
    "failure_lines",
    "topic_name",
]


@dataclass(frozen=True)
class Limits:
    """What one submission may use while it is graded (enforced by the grader's
    sandbox, :class:`autograder.grader.limits.Confinement`).

    Attributes:
        memory_mb: memory (MiB) of all of its processes together: the kernel, every program
            it starts, the scripts a check runs and its private ``/tmp``.
        cpu_seconds: CPU time of each process.
        processes: processes and threads alive at once, all together.
        file_mb: size (MiB) of each file it writes.
    """

    memory_mb: int
    cpu_seconds: int
    processes: int
    file_mb: int

    def value(self, kind: str) -> int:
        """The limit of ``kind`` (memory, cpu, processes, file_size), in its unit."""
        return {
            "memory": self.memory_mb,
            "cpu": self.cpu_seconds,
            "processes": self.processes,
            "file_size": self.file_mb,
        }[kind]


def topic_name(prefix: str, name: str) -> str:
    """A valid Kafka topic name from a person's name: ``iabd-topic-jose-martinez``.

    Kafka allows ASCII letters, digits, '.', '_' and '-' (at most 249 characters), so accents
    are dropped, spaces become '-' and anything else goes.
    """
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^A-Za-z0-9._-]+", "-", plain.strip().lower()).strip("-.")
    if not words:
        raise ValueError(f"«{name}» no deja nada válido para un nombre de topic.")
    return f"{prefix}-{words}"[:249]


@dataclass
class Context:
    """What a step may use: the servers, the student's answers and the student's folder."""

    kafka: str
    mongo_uri: str | None = None
    answers: dict[str, str | None] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)
    # Runs one of the student's scripts (argv without the interpreter) in the student's
    # folder; returns the finished process or raises subprocess.TimeoutExpired.
    run_script: Callable[[list[str], float], subprocess.CompletedProcess] | None = None

    def answer(self, name: str, variable: str) -> str:
        value = self.answers.get(name)
        if value is None:
            raise AssertionError(
                f"No encuentro tu respuesta en la variable {variable}: ejecuta su celda y "
                f'escríbela como texto ({variable} = "...").'
            )
        return value


@dataclass(frozen=True)
class Step:
    grade_id: str
    title: str
    run: Callable[[Context], str]  # the success message; AssertionError when it fails


@dataclass(frozen=True)
class Activity:
    name: str  # nbgrader assignment name
    short: str  # what students type: "actividad1"
    brokers: int
    mongo: bool
    cell_timeout: int  # seconds a cell may run when grading
    steps: tuple[Step, ...]
    answers: dict[str, str] = field(default_factory=dict)  # kernel variable -> answer name
    # Locked cells that only help students (comprobar() repeats the checks): not run when
    # grading.
    student_only: tuple[str, ...] = ("comprobar",)
    # What the submission's processes may use when grading (:class:`Limits`), far
    # above what a correct submission uses: the peaks measured are next to each activity.
    limits: Limits = Limits(memory_mb=1024, cpu_seconds=60, processes=256, file_mb=64)

    def step(self, grade_id: str) -> Step | None:
        return next((s for s in self.steps if s.grade_id == grade_id), None)


class CheckFailed(AssertionError):
    """A failed step; IPython shows its Spanish message alone, without a traceback."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title
        self.message = message

    def _render_traceback_(self) -> list[str]:
        return failure_lines(self.title, self.message)


def failure_lines(title: str, message: str) -> list[str]:
    return [f"\x1b[0;31m✘ {title}\x1b[0m", message]
