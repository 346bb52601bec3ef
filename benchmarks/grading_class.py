"""A whole class of activity 2: one submission at a time vs several at once, in one run.

Builds ``--size`` submissions from the fixture variants (correct and partial mixed, as in
tests/fixtures/submissions.py), grades them with ``--jobs 1`` and with the default number of
grading processes (or ``--jobs``), and prints total time, seconds per submission, the ratio,
peak memory and whether the scores match.

Usage: python benchmarks/grading_class.py [--size 60] [--jobs N]
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.instructor.grading import copy_course, default_jobs, grade_class  # noqa: E402
from tests.fixtures.submissions import ACTIVITY2, SUBMISSIONS, write_submission  # noqa: E402

VARIANTS = ["correcto", "tres-particiones", "factor-1", "grupo-equivocado", "borra-topics"]
TARGET_S = 5 * 60 / 100  # a class of 100 in 5 minutes


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()

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
        for jobs in (1, args.jobs):
            with MemoryPeak() as memory:
                began = time.perf_counter()
                results = grade_class(
                    ACTIVITY2,
                    course_root=course,
                    students=students,
                    jobs=jobs,
                    feedback=True,
                    progress=lambda line, jobs=jobs: print(
                        f"  jobs={jobs}: {line}", file=sys.stderr, flush=True
                    ),
                )
                total = time.perf_counter() - began
            scores[jobs] = {r.student: round(r.score, 6) for r in results}
            rows.append((jobs, total, total / len(students), memory.peak))
    self_rusage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print()
    print(f"activity 2, a class of {args.size} (variants: {', '.join(VARIANTS)})")
    print(f"{'jobs':>5} {'total s':>9} {'s/submission':>13} {'vs jobs=1':>10} {'peak used MB':>13}")
    base = rows[0][1]
    for jobs, total, each, peak in rows:
        print(f"{jobs:>5} {total:>9.1f} {each:>13.2f} {base / total:>9.2f}x {peak / 2**20:>13.0f}")
    same = scores[1] == scores[args.jobs]
    right = scores[args.jobs] == {s: round(v, 6) for s, v in expected.items()}
    print(f"scores identical across jobs: {same}; as expected: {right}")
    print(f"target: {TARGET_S:.1f} s per submission (100 in 5 min)")
    print(f"(largest child process: {self_rusage:.0f} MB)")
    return 0 if same and right else 1


if __name__ == "__main__":
    sys.exit(main())
