"""Grade a whole class with nbgrader: ``python -m autograder grade``.

nbgrader's autograde does the work, through the course's ``nbgrader_config.py``: the grader
owns each submission's Kafka cluster and MongoDB, runs the notebook sandboxed and decides the
test cells in its own process (:mod:`autograder.trusted`). Here: the class loop, the mode
(``warm``: servers from a pool, wiped between submissions; ``fresh``: new servers for each),
and feedback.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .activities import ACTIVITIES
from .notebooks import COURSE_ROOT, convert_sources
from .sandbox import NOT_ISOLATED, isolation_problem

__all__ = ["GradeResult", "grade_class", "prepare_course"]

# Seconds a single cell may run before it is interrupted.
CELL_TIMEOUTS = {name: spec.cell_timeout for name, spec in ACTIVITIES.items()}


@dataclass
class GradeResult:
    student: str
    score: float
    max_score: float
    seconds: float
    ok: bool
    error: str = ""


def _api(
    course_root: Path,
    timeout: int | None = None,
    reuse_servers: bool = True,
    sandbox: str = "auto",
):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    # nbgrader runs `alembic` for its database: it lives beside this Python.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    if timeout is not None:
        config.TrustedExecute.cell_timeout = timeout
    config.TrustedExecute.reuse_servers = reuse_servers
    config.TrustedExecute.sandbox = sandbox
    return NbGraderAPI(config=config)


def prepare_course(course_root: Path = COURSE_ROOT, activities: list[str] | None = None) -> None:
    """Convert the Markdown sources and run ``nbgrader generate_assignment`` on each."""
    convert_sources(course_root)
    api = _api(course_root)
    for activity in activities or list(CELL_TIMEOUTS):
        result = api.generate_assignment(activity, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {activity}:\n{result.get('log', '')}")


def grade_class(
    activity: str,
    *,
    course_root: Path = COURSE_ROOT,
    mode: str = "warm",
    students: list[str] | None = None,
    timeout: int | None = None,
    feedback: bool = True,
    sandbox: str = "auto",
    progress=print,
) -> list[GradeResult]:
    """Autograde every submission of ``activity`` and return one result per student."""
    if mode not in ("fresh", "warm"):
        raise ValueError("mode is 'fresh' or 'warm'")
    submitted = course_root / "submitted"
    if students is None:
        students = sorted(p.name for p in submitted.glob("*") if (p / activity).is_dir())
    api = _api(course_root, timeout, reuse_servers=mode == "warm", sandbox=sandbox)
    problem = "sandbox desactivado" if sandbox == "off" else isolation_problem()
    if problem is not None:
        if sandbox == "required":
            raise RuntimeError(NOT_ISOLATED.format(reason=problem))
        progress(NOT_ISOLATED.format(reason=problem))
    results = []
    for student in students:
        began = time.perf_counter()
        outcome = api.autograde(activity, student, force=True, create=True)
        if feedback and outcome["success"]:
            api.generate_feedback(activity, student, force=True)
        seconds = time.perf_counter() - began
        score, max_score = _score(api, activity, student)
        result = GradeResult(
            student,
            score,
            max_score,
            seconds,
            outcome["success"],
            "" if outcome["success"] else _last_error(outcome),
        )
        results.append(result)
        progress(
            f"{student}: {score:g}/{max_score:g} en {seconds:.1f} s"
            + ("" if result.ok else f" (error: {result.error})")
        )
    return results


def _score(api, activity: str, student: str) -> tuple[float, float]:
    from nbgrader.api import MissingEntry

    with api.gradebook as gradebook:
        try:
            submission = gradebook.find_submission(activity, student)
        except MissingEntry:
            assignment = gradebook.find_assignment(activity)
            return 0.0, float(assignment.max_score)
        return float(submission.score), float(submission.max_score)


def _last_error(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
    return text[-1][:200] if text else "error desconocido"


def summary_table(activity: str, results: list[GradeResult]) -> str:
    lines = [f"{activity}", f"{'estudiante':<28} {'nota':>10} {'segundos':>9}  estado"]
    for r in results:
        state = "ok" if r.ok else f"error: {r.error}"
        lines.append(
            f"{r.student:<28} {r.score:>5.2f}/{r.max_score:<4.2f} {r.seconds:>9.1f}  {state}"
        )
    return "\n".join(lines)
