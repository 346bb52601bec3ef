"""Seconds per autograded submission, for each activity: fresh vs warm servers, and what
the resource limits and the sandbox cost.

Grades ``--copies`` correct submissions of each activity through the real driver (nbgrader
autograde + feedback, trusted checks) five times: new grader-owned servers for each
submission (fresh), pooled servers wiped and proven clean between submissions (warm), warm
without resource limits, warm without the bubblewrap sandbox, and warm with a new JVM for
every Kafka tool the notebook runs instead of its warm tool JVM (``KAFKALAB_WARM_TOOLS=0``).
Prints medians side by side.

Usage: python benchmarks/grading.py [--copies 3] [--activity NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.grader.sandbox import isolation_problem  # noqa: E402
from autograder.instructor.grading import CELL_TIMEOUTS, copy_course, grade_class  # noqa: E402
from tests.fixtures.submissions import SUBMISSIONS, write_submission  # noqa: E402

# (label, servers, sandbox, resource limits, warm tool JVM)
VARIANTS = [
    ("fresh", "fresh", "auto", True, True),
    ("warm", "warm", "auto", True, True),
    ("warm, no limits", "warm", "auto", False, True),
    ("warm, no sandbox", "warm", "off", True, True),
    ("warm, a JVM per tool", "warm", "auto", True, False),
]
TARGETS = {
    "actividad1-hola-kafka": 15,
    "actividad2-particiones-y-grupos": 15,
    "actividad3-kafka-a-mongodb": 60,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--activity", nargs="+", default=list(CELL_TIMEOUTS))
    args = parser.parse_args()
    problem = isolation_problem()
    if problem is not None:
        parser.error(f"the sandbox does not work here ({problem}): nothing to compare")

    rows = []
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-grading-") as scratch:
        course = copy_course(Path(scratch))
        for activity in args.activity:
            overrides, expected = SUBMISSIONS[activity]["correcto"]
            students = [f"correcto-{n}" for n in range(1, args.copies + 1)]
            for student in students:
                write_submission(course, activity, student, overrides)
            # The pool's servers start once, before any warm variant is measured.
            grade_class(
                activity, course_root=course, students=students[:1], progress=lambda _: None
            )
            medians = {}
            for label, mode, sandbox, limits, warm_tools in VARIANTS:
                os.environ["KAFKALAB_WARM_TOOLS"] = "1" if warm_tools else "0"
                results = grade_class(
                    activity,
                    course_root=course,
                    mode=mode,
                    sandbox=sandbox,
                    limits=limits,
                    students=students,
                    progress=lambda line, label=label: print(
                        f"  {label}: {line}", file=sys.stderr, flush=True
                    ),
                )
                wrong = [r for r in results if abs(r.score - expected) > 1e-9]
                if wrong:
                    print(f"warning: {activity} {label}: unexpected scores {wrong}")
                medians[label] = statistics.median(r.seconds for r in results)
            rows.append((activity, medians))

    print()
    print(
        f"{'activity':<34} {'fresh s':>8} {'warm s':>8} {'warm/fresh':>11} "
        f"{'no limits s':>12} {'limits cost s':>14} "
        f"{'no sandbox s':>13} {'sandbox cost s':>15} {'JVM per tool s':>15} "
        f"{'warm tools/JVM per tool':>24} {'target s':>9}"
    )
    for activity, m in rows:
        print(
            f"{activity:<34} {m['fresh']:>8.2f} {m['warm']:>8.2f} "
            f"{m['warm'] / m['fresh']:>10.2f}x {m['warm, no limits']:>12.2f} "
            f"{m['warm'] - m['warm, no limits']:>14.2f} {m['warm, no sandbox']:>13.2f} "
            f"{m['warm'] - m['warm, no sandbox']:>15.2f} {m['warm, a JVM per tool']:>15.2f} "
            f"{m['warm'] / m['warm, a JVM per tool']:>23.2f}x {TARGETS[activity]:>9}"
        )
    print(f"({args.copies} submissions per cell, medians; autograde + feedback per submission)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
