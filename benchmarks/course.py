"""Seconds to execute each course notebook top to bottom, and the whole course.

Each notebook runs in a copy in a temporary folder (the files it writes stay there), with
nbclient, starting and closing its own cluster, as the tests and a student do: once as shipped,
then again in the same kernel with its exercise solved (course/soluciones/), as a student who
re-runs everything after solving it. Targets (design.md): <= 90 s per notebook, <= 6 min for
the course, on 2 cores; the first run is what a student waits for.

Usage: python benchmarks/course.py [NOTEBOOK.md ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.course import EXERCISE, solution_of  # noqa: E402
from tests.support.notebooks import COURSE, execute_runs, last_run_seconds  # noqa: E402


def main() -> int:
    names = sys.argv[1:] or sorted(p.name for p in COURSE.glob("[0-9][0-9]-*.md"))
    totals = [0.0, 0.0]
    print(f"{'notebook':<36} {'first run':>10} {'re-run':>8} {'target':>7}")
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-course-") as scratch:
        for name in names:
            folder = Path(scratch) / name.removesuffix(".md")
            folder.mkdir()
            shutil.copy(COURSE / name, folder / name)
            execute_runs(folder / name, [{}, {EXERCISE: solution_of(name)}])
            seconds = [last_run_seconds(f"{name}#{run}") for run in (1, 2)]
            totals = [total + s for total, s in zip(totals, seconds, strict=True)]
            print(f"{name:<36} {seconds[0]:>10.1f} {seconds[1]:>8.1f} {90:>7}", flush=True)
    print(f"{'whole course':<36} {totals[0]:>10.1f} {totals[1]:>8.1f} {360:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
