"""Cluster start time and memory, docker backend against local backend, side by side.

For 1 and 3 brokers, each backend starts a real cluster ``--repeat`` times and records the
seconds until ``Cluster.start`` returns (every broker registered, metadata visible), then,
one second later, the memory of its brokers:

* RSS: the summed resident memory (VmRSS) of the broker JVMs; for docker, of each
  container's main process (the JVM), read from /proc on this machine (a local engine);
* docker stats: each container's memory as ``docker stats`` shows it (cgroup usage less
  inactive page cache), which also counts the container's page cache and other processes.

The first start of each backend is not counted (it warms the page cache and, for docker,
starts Ryuk). Usage: python benchmarks/docker_vs_local.py [--repeat 3] [--brokers 1 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafkalab import Cluster  # noqa: E402
from kafkalab.docker_engine import docker_client  # noqa: E402
from kafkalab.errors import DockerUnavailableError, KafkaLabError  # noqa: E402


def _vm_rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _memory(cluster) -> tuple[float, float | None]:
    """(RSS of the broker JVMs, docker stats memory or None) in MB."""
    if cluster.backend == "local":
        return sum(_vm_rss_mb(b.java_pid) for b in cluster.brokers), None
    rss = stats = 0.0
    for broker in cluster.brokers:
        container = broker.container.get_wrapped_container()
        container.reload()
        rss += _vm_rss_mb(container.attrs["State"]["Pid"])
        memory = container.stats(stream=False)["memory_stats"]
        details = memory.get("stats", {})
        inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
        stats += (memory.get("usage", 0) - inactive) / 1024 / 1024
    return rss, stats


def _measure(brokers: int, backend: str) -> tuple[float, float, float | None]:
    began = time.perf_counter()
    cluster = Cluster.start(brokers, backend=backend, progress=False)
    elapsed = time.perf_counter() - began
    try:
        time.sleep(1)
        return (elapsed, *_memory(cluster))
    finally:
        cluster.close()


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _cell(value: float | None, digits: int, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--brokers", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    backends = ["local", "docker"]
    try:
        docker_client()
    except DockerUnavailableError as error:
        print(f"(docker backend not measured: {error})\n")
        backends = ["local"]
    results: dict[tuple[int, str], tuple[float | None, ...]] = {}
    for brokers in args.brokers:
        for backend in backends:
            try:
                _measure(brokers, backend)  # warm-up, not counted
                runs = [_measure(brokers, backend) for _ in range(args.repeat)]
            except KafkaLabError as error:
                print(f"({backend}, {brokers} broker(s) not measured: {error})", file=sys.stderr)
                continue
            results[brokers, backend] = tuple(
                _median(list(column)) for column in zip(*runs, strict=True)
            )
            print(
                f"  measured {brokers} broker(s), {backend}: {results[brokers, backend][0]:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    print(f"Medians of {args.repeat} starts; memory one second after the start, in MB.\n")
    header = (
        f"{'brokers':>7}  {'local start s':>13} {'docker start s':>14}"
        f"  {'local RSS':>9} {'docker RSS':>10} {'docker stats':>12}"
    )
    print(header)
    print("-" * len(header))
    for brokers in args.brokers:
        local = results.get((brokers, "local"), (None, None, None))
        docker = results.get((brokers, "docker"), (None, None, None))
        print(
            f"{brokers:>7}  {_cell(local[0], 2, 13)} {_cell(docker[0], 2, 14)}"
            f"  {_cell(local[1], 0, 9)} {_cell(docker[1], 0, 10)} {_cell(docker[2], 0, 12)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
