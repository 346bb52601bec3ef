"""Cluster start times of this working tree against another commit's, in one run.

    python benchmarks/start_vs_ref.py REF [--rounds 5] [--brokers 1 3] [--backends local docker]

Checks out REF in a temporary git worktree, then starts the same clusters with each tree's
kafkalab, alternating (REF, ours, ours, REF, ...) so that a slow moment of the machine hits
both alike; each start runs in a fresh interpreter. Prints the medians and ours/REF.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """\
import sys, time
sys.path.insert(0, sys.argv[1])
from kafkalab import Cluster
began = time.perf_counter()
cluster = Cluster.start(int(sys.argv[2]), backend=sys.argv[3], progress=False)
print(time.perf_counter() - began)
cluster.close()
"""


def start_seconds(tree: Path, brokers: int, backend: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tree), str(brokers), backend],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the {backend} start failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to compare with, e.g. HEAD~5 or a hash")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--brokers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--backends", nargs="+", default=["local"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kafkalab-ref-") as scratch:
        worktree = Path(scratch) / "ref"
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "--detach",
                "--quiet",
                str(worktree),
                args.ref,
            ],
            check=True,
        )
        try:
            trees = {args.ref: worktree, "ours": ROOT}
            print(f"{'backend':8} {'brokers':>7} {args.ref[:12]:>12} {'ours':>8} {'ratio':>6}")
            for backend in args.backends:
                for brokers in args.brokers:
                    times: dict[str, list[float]] = {name: [] for name in trees}
                    for round_ in range(args.rounds):
                        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
                        for name in order:
                            times[name].append(start_seconds(trees[name], brokers, backend))
                    ref, ours = (statistics.median(times[name]) for name in trees)
                    print(
                        f"{backend:8} {brokers:>7} {ref:>11.2f}s {ours:>7.2f}s {ours / ref:>6.2f}",
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                check=False,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
