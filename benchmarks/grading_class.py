"""A whole class of activity 2: one submission at a time, several at once, and several at
once with a new JVM for every Kafka tool (as before the warm tool JVM), in one run.

Builds ``--size`` submissions from the fixture variants (correct and partial mixed, as in
tests/fixtures/submissions.py), grades them with ``--jobs 1`` (unless ``--skip-serial``) and
with the default number of grading processes (or ``--jobs``), the latter also with
``KAFKALAB_WARM_TOOLS=0``, and prints total time, seconds per submission, the ratio, peak
memory, how many submissions had to be graded twice (their first grading failed: see
autograder.instructor.grading._grade_one) and whether the scores match.

Usage: python benchmarks/grading_class.py [--size 60] [--jobs N] [--skip-serial]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.grader.course import Course  # noqa: E402
from autograder.instructor.grading import copy_course, default_jobs, grade_class  # noqa: E402
from tests.fixtures.submissions import ACTIVITY2, SUBMISSIONS, write_submission  # noqa: E402

VARIANTS = ["correcto", "tres-particiones", "factor-1", "grupo-equivocado", "borra-topics"]
TARGET_S = 5 * 60 / 100  # a class of 100 in 5 minutes
OUTPUT = ROOT / "benchmarks" / "output"


class MemoryPeak:
    """Peak of the machine's used memory (MemTotal - MemAvailable), sampled every 0.5 s."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.5):
            info = dict(
                line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines()
            )
            used = int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])
            self.peak = max(self.peak, used * 1024)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


def keep_unexpected(course: Path, label: str, found: dict, expected: dict) -> None:
    """Copy what a submission graded to an unexpected score left (its autograded notebook and
    feedback) to benchmarks/output/, before the next variant overwrites it."""
    for student, score in found.items():
        if score == round(expected[student], 6):
            continue
        target = OUTPUT / label.replace(" ", "").replace(",", "-") / student
        for kind in ("autograded", "feedback"):
            source = course / kind / student / ACTIVITY2
            if source.exists():
                shutil.copytree(source, target / kind, dirs_exist_ok=True)
        events = Course(course).events(ACTIVITY2, student)
        if events.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(events, target / "eventos.json")
        print(f"unexpected score {score} for {student} ({label}): kept in {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument(
        "--skip-serial", action="store_true", help="leave out the one-at-a-time run"
    )
    args = parser.parse_args()
    # (label, jobs, warm tool JVM): the last one is grading as it was before the warm JVM.
    variants = [
        (f"jobs={args.jobs}", args.jobs, True),
        (f"jobs={args.jobs}, a JVM per tool", args.jobs, False),
    ]
    if not args.skip_serial:
        variants.insert(0, ("jobs=1", 1, True))

    rows = []
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-class-") as scratch:
        course = copy_course(Path(scratch))
        students, expected = [], {}
        for n, variant in zip(range(args.size), itertools.cycle(VARIANTS), strict=False):
            student = f"{n:03d}-{variant}"
            write_submission(course, ACTIVITY2, student, SUBMISSIONS[ACTIVITY2][variant][0])
            students.append(student)
            expected[student] = SUBMISSIONS[ACTIVITY2][variant][1]
        scores = {}
        for label, jobs, warm_tools in variants:
            os.environ["KAFKALAB_WARM_TOOLS"] = "1" if warm_tools else "0"
            with MemoryPeak() as memory:
                began = time.perf_counter()
                results = grade_class(
                    ACTIVITY2,
                    course_root=course,
                    students=students,
                    jobs=jobs,
                    feedback=True,
                    progress=lambda line, label=label: print(
                        f"  {label}: {line}", file=sys.stderr, flush=True
                    ),
                )
                total = time.perf_counter() - began
            scores[label] = {r.student: round(r.score, 6) for r in results}
            retried = sum(bool(r.retried) for r in results)
            rows.append((label, total, total / len(students), memory.peak, retried))
            keep_unexpected(course, label, scores[label], expected)
    self_rusage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print()
    print(f"activity 2, a class of {args.size} (variants: {', '.join(VARIANTS)})")
    print(
        f"{'variant':<28} {'total s':>9} {'s/submission':>13} {'vs a JVM per tool':>18} "
        f"{'peak used MB':>13} {'graded twice':>13}"
    )
    base = rows[-1][1]
    for label, total, each, peak, retried in rows:
        print(
            f"{label:<28} {total:>9.1f} {each:>13.2f} {total / base:>17.2f}x "
            f"{peak / 2**20:>13.0f} {retried:>13}"
        )
    wanted = {s: round(v, 6) for s, v in expected.items()}
    same = all(found == scores[rows[0][0]] for found in scores.values())
    right = scores[rows[0][0]] == wanted
    print(f"scores identical across variants: {same}; as expected: {right}")
    print(f"target: {TARGET_S:.1f} s per submission (100 in 5 min)")
    print(f"(largest child process: {self_rusage:.0f} MB)")
    return 0 if same and right else 1


if __name__ == "__main__":
    sys.exit(main())
