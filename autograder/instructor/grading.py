"""Grade a whole class with nbgrader: ``python -m autograder grade``.

nbgrader's autograde does the work, through the course's ``nbgrader_config.py``: the grader
owns each submission's Kafka cluster and MongoDB, runs the notebook sandboxed and decides the
test cells in its own process (:mod:`autograder.grader.trusted`). Here: the class loop (one
submission at a time, or several grading processes at once), the mode (``warm``: servers
from a pool, wiped between submissions; ``fresh``: new servers for each), and feedback.
Each run's results are kept in ``<course>/informes/<activity>/calificacion.json`` (merged
with earlier runs for other students) for the class report (:mod:`autograder.instructor.report`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..activities import ACTIVITIES
from ..grader.course import COURSE_ROOT, Course
from ..grader.records import GradingRun, RecordError, RunResult, read_record, write_record
from ..grader.sandbox import NOT_ISOLATED, isolation_problem
from .notebooks import convert_sources

__all__ = [
    "GradeResult",
    "copy_course",
    "default_jobs",
    "grade_class",
    "prepare_course",
]

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
    # Why the first grading of this submission failed, when it had to be graded again.
    retried: str = ""


def prepare_course(course_root: Path = COURSE_ROOT, activities: list[str] | None = None) -> None:
    """Convert the Markdown sources and run ``nbgrader generate_assignment`` on each."""
    convert_sources(course_root)
    api = Course(course_root).api()
    for activity in activities or list(CELL_TIMEOUTS):
        result = api.generate_assignment(activity, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {activity}:\n{result.get('log', '')}")


def default_jobs() -> int:
    """Submissions graded at once by default: one per core, while each has about 1.5 GB of
    free memory (a 3-broker cluster, the kernel, the Kafka tools it runs).

    Grading is mostly CPU (every Kafka command line tool is a JVM start) with some waiting on
    Kafka: on 2 cores, 60 submissions of activity 2 took 731 s one at a time and 557 s two at
    once (``make bench-class``); four at once were slower than one (a class of 12: 190 s
    against 130 s).
    """
    cores = os.cpu_count() or 1
    available = 2 << 30
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    return max(1, min(cores, int((available - (1 << 30)) / (1.5 * (1 << 30)))))


@dataclass(frozen=True)
class _Settings:
    course_root: Path
    activity: str
    mode: str
    timeout: int | None
    feedback: bool
    sandbox: str
    limits: bool = True


def _grade_one(api, settings: _Settings, student: str) -> GradeResult:
    """Autograde (and give feedback to) one submission; once more when the grading itself
    failed (servers that did not start or died, a kernel that did not start...): that is
    never the student's doing, so it must not be their grade. The first failure is kept in
    ``retried`` for the class report; a second failure is the result."""
    began = time.perf_counter()
    result = _attempt(api, settings, student)
    if not result.ok and result.error not in _FINAL_ERRORS.values():
        first = result.error
        result = _attempt(api, settings, student)
        result.retried = first
    result.seconds = time.perf_counter() - began
    return result


def _attempt(api, settings: _Settings, student: str) -> GradeResult:
    began = time.time()
    try:
        outcome = api.autograde(settings.activity, student, force=True, create=True)
        if settings.feedback and outcome["success"]:
            api.generate_feedback(settings.activity, student, force=True)
        score, max_score = _score(api, settings.activity, student)
    except Exception as error:  # one submission's failure never stops the class
        outcome = {"success": False, "error": f"{type(error).__name__}: {error}"}
        score, max_score = 0.0, 0.0
    ok = outcome["success"]
    error = "" if ok else _grader_error(settings, student, since=began) or _last_error(outcome)
    return GradeResult(student, score, max_score, 0.0, ok, error)


def _grader_error(settings: _Settings, student: str, *, since: float) -> str:
    """Why the trusted grader stopped on this submission, as its record of this grading
    says (nbgrader's own last line only says "see the above traceback")."""
    from ..grader.records import Events

    path = Course(settings.course_root).events(settings.activity, student)
    try:
        if path.stat().st_mtime < since:
            return ""  # an earlier grading's record
        return read_record(path, Events).error
    except (OSError, RecordError):
        return ""


def _settings_api(settings: _Settings):
    return Course(settings.course_root).api(
        cell_timeout=settings.timeout,
        reuse_servers=settings.mode == "warm",
        sandbox=settings.sandbox,
        limits=settings.limits,
    )


def worker_main(settings: dict) -> int:
    """A grading process (``python -m autograder.instructor.worker``): reads a student per line
    on stdin, grades it, answers with JSON lines; stops at end of input."""
    import json
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # Stopped by the parent: unwind, so the submission's folder and servers are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the answers
    settings = _Settings(**{**settings, "course_root": Path(settings["course_root"])})
    api = _settings_api(settings)
    for line in sys.stdin:
        student = line.strip()
        if not student:
            break
        result = _grade_one(api, settings, student)
        answers.write(json.dumps(result.__dict__) + "\n")
    return 0


def copy_course(target: Path, source: Path = COURSE_ROOT) -> Path:
    """A new nbgrader course in ``target`` from the sources of ``source``, prepared."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "nbgrader_config.py", target)
    shutil.copytree(source / "source", target / "source", ignore=shutil.ignore_patterns("*.ipynb"))
    prepare_course(target)
    return target


def grade_class(
    activity: str,
    *,
    course_root: Path = COURSE_ROOT,
    mode: str = "warm",
    students: list[str] | None = None,
    timeout: int | None = None,
    feedback: bool = True,
    sandbox: str = "auto",
    jobs: int = 1,
    progress=print,
    bar: bool = False,
    limits: bool = True,
) -> list[GradeResult]:
    """Autograde every submission of ``activity`` and return one result per student.

    With ``jobs`` > 1, that many grading processes work at once, each with its own servers;
    the results (and the gradebook) are the same as one at a time. A process that dies
    fails its submission with the reason, and another takes its place. Ctrl+C stops every
    process and keeps the grades already written.
    """
    if mode not in ("fresh", "warm"):
        raise ValueError("mode is 'fresh' or 'warm'")
    if students is None:
        students = Course(course_root).students(activity)
    problem = "sandbox desactivado" if sandbox == "off" else isolation_problem()
    if problem is not None:
        if sandbox == "required":
            raise RuntimeError(NOT_ISOLATED.format(reason=problem))
        progress(NOT_ISOLATED.format(reason=problem))
    settings = _Settings(course_root, activity, mode, timeout, feedback, sandbox, limits)
    meter = _Meter(len(students), enabled=bar)
    results: list[GradeResult] = []

    def record(result: GradeResult) -> None:
        results.append(result)
        meter.update(result.seconds)
        (meter.write if bar else progress)(
            f"{result.student}: {result.score:g}/{result.max_score:g} en {result.seconds:.1f} s"
            + ("" if result.ok else f" (error: {result.error})")
            + (f" (calificada otra vez; la primera falló: {result.retried})" * bool(result.retried))
        )

    try:
        if jobs <= 1 or len(students) <= 1:
            api = _settings_api(settings)
            for student in students:
                record(_grade_one(api, settings, student))
        else:
            _grade_in_parallel(settings, students, min(jobs, len(students)), record)
    finally:
        meter.close()
        _record_run(
            settings, 1 if len(students) <= 1 else max(1, min(jobs, len(students))), results
        )
    order = {student: n for n, student in enumerate(students)}
    return sorted(results, key=lambda r: order[r.student])


def _grade_in_parallel(settings: _Settings, students: list[str], jobs: int, record) -> None:
    """``jobs`` grading processes, each fed one student at a time."""
    import json
    import selectors
    import subprocess
    from collections import deque

    waiting = deque(students)
    selector = selectors.DefaultSelector()
    holding: dict[subprocess.Popen, str] = {}
    encoded = json.dumps({**settings.__dict__, "course_root": str(settings.course_root)})

    def feed(worker: subprocess.Popen) -> None:
        if waiting:
            holding[worker] = waiting.popleft()
            worker.stdin.write(holding[worker] + "\n")
            worker.stdin.flush()
        else:
            worker.stdin.close()  # no more work: it exits

    def start_worker() -> None:
        worker = subprocess.Popen(
            [sys.executable, "-m", "autograder.instructor.worker", encoded],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        selector.register(worker.stdout, selectors.EVENT_READ, worker)
        feed(worker)

    for _ in range(min(jobs, len(waiting))):
        start_worker()
    try:
        while selector.get_map():
            for key, _ in selector.select():
                worker = key.data
                line = worker.stdout.readline()
                if line:
                    holding.pop(worker, None)
                    record(GradeResult(**json.loads(line)))
                    feed(worker)
                    continue
                # The worker ended: normally when told to, or it died on a submission.
                selector.unregister(worker.stdout)
                code = worker.wait()
                student = holding.pop(worker, None)
                if student is not None:
                    record(
                        GradeResult(
                            student,
                            0.0,
                            0.0,
                            0.0,
                            False,
                            f"el proceso que la calificaba terminó inesperadamente ({code})",
                        )
                    )
                    if waiting:
                        start_worker()
    finally:
        workers = [key.data for key in selector.get_map().values()]
        for worker in workers:
            worker.terminate()  # its servers and sandboxes die with it
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


class _Meter:
    """A progress bar: submissions graded, average seconds each, time left."""

    def __init__(self, total: int, *, enabled: bool):
        self._bar = None
        self._seconds: list[float] = []
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="entrega", desc="Calificando", leave=True)

    def update(self, seconds: float) -> None:
        self._seconds.append(seconds)
        if self._bar is not None:
            average = sum(self._seconds) / len(self._seconds)
            self._bar.set_postfix_str(f"media {average:.1f} s por entrega")
            self._bar.update(1)

    def write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _record_run(settings: _Settings, jobs: int, results: list[GradeResult]) -> None:
    """Write this run's results, keeping earlier results of students it did not grade."""
    import datetime

    path = Course(settings.course_root).grading_record(settings.activity)
    try:
        earlier = read_record(path, GradingRun)
    except RecordError:
        earlier = None  # an unreadable record: start again
    kept = {result.student: result for result in (earlier.results if earlier else [])}
    for result in results:
        kept[result.student] = RunResult(
            result.student,
            result.score,
            result.max_score,
            round(result.seconds, 2),
            result.ok,
            result.error,
            result.retried,
        )
    record = GradingRun(
        activity=settings.activity,
        finished=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        jobs=jobs,
        mode=settings.mode,
        results=[kept[student] for student in sorted(kept)],
    )
    try:
        write_record(path, record)
    except (OSError, RecordError) as error:  # the grades are in the gradebook anyway
        print(f"No se pudo guardar {path}: {error}", file=sys.stderr)


def _score(api, activity: str, student: str) -> tuple[float, float]:
    from nbgrader.api import MissingEntry

    with api.gradebook as gradebook:
        try:
            submission = gradebook.find_submission(activity, student)
        except MissingEntry:
            assignment = gradebook.find_assignment(activity)
            return 0.0, float(assignment.max_score)
        return float(submission.score), float(submission.max_score)


# nbgrader's errors an instructor meets, in Spanish (the rest are shown as nbgrader says them):
# the submission's own, so grading it again would change nothing.
_FINAL_ERRORS = {
    "No notebooks were matched": "la carpeta de la entrega no tiene el cuaderno de la actividad "
    "(¿otro nombre de fichero?)",
}


def _last_error(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
    if not text:
        return "error desconocido"
    for english, spanish in _FINAL_ERRORS.items():
        if english in text[-1]:
            return spanish
    return text[-1][:200]


def summary_table(activity: str, results: list[GradeResult]) -> str:
    lines = [f"{activity}", f"{'estudiante':<28} {'nota':>10} {'segundos':>9}  estado"]
    for r in results:
        state = "ok" if r.ok else f"error: {r.error}"
        lines.append(
            f"{r.student:<28} {r.score:>5.2f}/{r.max_score:<4.2f} {r.seconds:>9.1f}  {state}"
        )
    return "\n".join(lines)
