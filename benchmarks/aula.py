"""What one student costs on the class hub (deploy/jupyterhub): the seconds from logging in to a
running JupyterLab, and for each lesson run top to bottom in the student's container (as
shipped, through the hub, as JupyterLab runs it): its seconds, the container's peak memory
and the CPU seconds it used. The peak of the heaviest lesson sizes the per-container memory
limit (aula.toml) and the table of students per server in the README.

A hub with one instructor and one student; nothing else runs. Needs Docker and the class
image (built first if missing).

Usage: python benchmarks/aula.py [LESSON.md ...]   (default: every lesson of course/)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.aula import cgroup_usage, reset_peak, running_hub  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("lessons", nargs="*")
    args = parser.parse_args()
    lessons = args.lessons or sorted(p.name for p in (ROOT / "course").glob("[0-9][0-9]-*.md"))
    with (
        tempfile.TemporaryDirectory(prefix="aula-bench-") as base,
        running_hub(Path(base), "kafka-iabd", ["profe"], ["ana"]) as hub,
    ):
        started = time.monotonic()
        hub.tokens["ana"] = hub.login("ana")
        hub.start("ana")
        hub.wait_ready("ana")
        ready = time.monotonic() - started
        container = hub.container("ana")
        idle, _ = cgroup_usage(container)
        print(f"login -> JupyterLab ready: {ready:.1f} s; idle server: {idle / 2**20:.0f} MiB")
        print(f"{'lesson':<34} {'seconds':>8} {'peak MiB':>9} {'CPU s':>7}  errors")
        rows = []
        if not reset_peak(container):
            print("(this kernel cannot reset a peak: each peak is the highest so far)")
        for lesson in lessons:
            reset_peak(container)
            _, cpu_before = cgroup_usage(container)
            began = time.monotonic()
            runs = hub.server("ana").run_notebook(f"curso/{lesson}", cell_timeout=300)
            seconds = time.monotonic() - began
            peak, cpu_after = cgroup_usage(container)
            errors = [r for r in runs if r.error]
            note = (
                f"{errors[0].error.get('ename')}: {errors[0].error.get('evalue')}"[:60]
                if errors
                else ""
            )
            rows.append((lesson, seconds, peak / 2**20, cpu_after - cpu_before))
            print(
                f"{lesson:<34} {seconds:8.1f} {peak / 2**20:9.0f} {cpu_after - cpu_before:7.1f}"
                f"  {note}",
                flush=True,
            )
        heaviest = max(rows, key=lambda row: row[2])
        print(
            f"heaviest lesson: {heaviest[0]}, peak {heaviest[2]:.0f} MiB; whole course "
            f"{sum(r[1] for r in rows):.0f} s, {sum(r[3] for r in rows):.0f} CPU s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
