"""Seconds to execute each course notebook top to bottom, and the whole course: with the
cluster's warm tool JVM (kafkalab.tooljvm) and with a new JVM for every Kafka tool, in one run.

Each notebook runs in a copy in a temporary folder (the files it writes stay there), with
nbclient, starting and closing its own cluster, as the tests and a student do: once as shipped,
then again in the same kernel with its exercise solved (course/soluciones/), as a student who
re-runs everything after solving it. Then the same with ``KAFKALAB_WARM_TOOLS=0`` (a JVM per
tool call, as before the warm tool JVM). Targets (design.md): <= 90 s per notebook, <= 6 min
for the course, on 2 cores; the first run is what a student waits for; the warm tool JVM
should make the course at least 30 % faster.

Usage: python benchmarks/course.py [--only-warm] [NOTEBOOK.md ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.course import EXERCISE, solution_of  # noqa: E402
from tests.support.notebooks import COURSE, execute_runs, last_run_seconds  # noqa: E402

VARIANTS = {"warm tool JVM": "1", "a JVM per tool": "0"}


def run_course(names: list[str], scratch: Path, label: str) -> dict[str, list[float]]:
    """{notebook: [first run s, re-run s]} with KAFKALAB_WARM_TOOLS as ``label`` says."""
    os.environ["KAFKALAB_WARM_TOOLS"] = VARIANTS[label]  # the kernels inherit it
    seconds = {}
    for name in names:
        folder = scratch / label.replace(" ", "-") / name.removesuffix(".md")
        folder.mkdir(parents=True)
        shutil.copy(COURSE / name, folder / name)
        execute_runs(folder / name, [{}, {EXERCISE: solution_of(name)}])
        seconds[name] = [last_run_seconds(f"{name}#{run}") for run in (1, 2)]
        print(f"  {label}: {name} {seconds[name][0]:.1f} s", file=sys.stderr, flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-warm", action="store_true", help="skip the JVM-per-tool run")
    parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.name for p in COURSE.glob("[0-9][0-9]-*.md"))
    labels = list(VARIANTS)[:1] if args.only_warm else list(VARIANTS)
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-course-") as scratch:
        results = {label: run_course(names, Path(scratch), label) for label in labels}

    header = f"{'notebook':<36} " + " ".join(
        f"{label + ' ' + run:>28}" for label in labels for run in ("first", "re-run")
    )
    print(header + f" {'target':>7}")
    for name in names:
        cells = " ".join(f"{s:>28.1f}" for label in labels for s in results[label][name])
        print(f"{name:<36} {cells} {90:>7}")
    totals = {label: [sum(results[label][n][i] for n in names) for i in (0, 1)] for label in labels}
    cells = " ".join(f"{s:>28.1f}" for label in labels for s in totals[label])
    print(f"{'whole course':<36} {cells} {360:>7}")
    if len(labels) == 2:
        warm, fresh = (totals[label] for label in labels)
        print(
            f"warm tool JVM / a JVM per tool: first run {warm[0] / fresh[0]:.2f}x, "
            f"re-run {warm[1] / fresh[1]:.2f}x (target <= 0.70x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
