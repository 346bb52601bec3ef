"""Seconds to execute each course notebook top to bottom, and the whole course.

Each notebook runs in a fresh kernel with nbclient, starting and closing its own cluster,
exactly as the tests and a student do. Targets (design.md): <= 90 s per notebook, <= 6 min
for the course, on 2 cores.

Usage: python benchmarks/course.py [NOTEBOOK.md ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.notebooks import COURSE, execute_notebook, last_run_seconds  # noqa: E402


def main() -> int:
    names = sys.argv[1:] or sorted(p.name for p in COURSE.glob("[0-9][0-9]-*.md"))
    total = 0.0
    print(f"{'notebook':<40} {'seconds':>8} {'target':>7}")
    for name in names:
        execute_notebook(COURSE / name)
        seconds = last_run_seconds(name)
        total += seconds
        print(f"{name:<40} {seconds:>8.1f} {90:>7}", flush=True)
    print(f"{'whole course':<40} {total:>8.1f} {360:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
