"""Kafka tool calls in the cluster's warm tool JVM against a fresh JVM per call, in one run.

On one running broker, each command runs ``--repeat`` times through its launch script as a
notebook's ``!kafka-...`` would: once with a fresh JVM per call (``KAFKALAB_TOOL_SERVER``
unset) and once through the warm JVM. Wall seconds, and CPU seconds of everything the call
costs: the script and the client or JVM it starts (their rusage), plus what the warm JVM
spent meanwhile (``/proc/PID/stat``). Also: the first call of a new cluster, in a fresh JVM,
warm (the call starts the JVM), and warm at once after ``start_tool_jvm()`` (what
``start_cluster`` does when the brokers are up; the JVM's start is counted in the CPU); and
the resident memory of three brokers with and without the warm JVM. Medians.

Usage: python benchmarks/tool_calls.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cluster_start import rss_mb  # noqa: E402
from kafkalab import Cluster, ensure_kafka  # noqa: E402
from kafkalab.tooljvm import SOCKET_VARIABLE  # noqa: E402
from kafkalab.training import prepare_class_sharing  # noqa: E402

TOPIC = "bench"
COMMANDS = {
    "kafka-topics.sh --list": (["kafka-topics.sh", "--list"], None),
    "kafka-topics.sh --describe": (["kafka-topics.sh", "--describe", "--topic", TOPIC], None),
    "console producer, 3 lines": (
        ["kafka-console-producer.sh", "--topic", TOPIC],
        b"uno\ndos\ntres\n",
    ),
    "console consumer, 3 messages": (
        ["kafka-console-consumer.sh", "--topic", TOPIC, "--from-beginning", "--max-messages", "3"],
        None,
    ),
    "kafka-consumer-groups.sh --list": (["kafka-consumer-groups.sh", "--list"], None),
}
TARGET_WALL, TARGET_CPU = 0.10, 0.05


def jvm_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_call(cluster: Cluster, env: dict[str, str], args: list[str], stdin: bytes | None):
    """(wall seconds, CPU seconds) of one call through its launch script."""
    server = cluster.tool_jvm_pid
    before = jvm_cpu(server)
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(cluster.distribution.tool(args[0])), *args[1:]],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process.stdin.write(stdin or b"")
    process.stdin.close()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    server = server or cluster.tool_jvm_pid
    cpu = usage.ru_utime + usage.ru_stime + jvm_cpu(server) - before
    return wall, cpu


def environments(cluster: Cluster) -> tuple[dict[str, str], dict[str, str]]:
    fresh = cluster.distribution.tool_environment()
    fresh.pop(SOCKET_VARIABLE, None)
    fresh["KAFKALAB_BOOTSTRAP_SERVER"] = cluster.bootstrap_servers
    return fresh, fresh | cluster.tool_environment()


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def first_calls(repeat: int) -> dict[str, tuple[float, float]]:
    """The first ``--list`` of a new cluster: in a fresh JVM; warm, which starts the JVM; and
    warm at once after ``start_tool_jvm()`` (what ``start_cluster`` does), the JVM still
    starting. CPU counts the JVM's start too."""
    results: dict[str, list[tuple[float, float]]] = {"fresh": [], "warm": [], "started": []}
    for _ in range(repeat):
        for variant in results:
            with Cluster.start(1, progress=False) as cluster:
                fresh_env, warm_env = environments(cluster)
                env = fresh_env if variant == "fresh" else warm_env
                if variant == "started":
                    cluster.start_tool_jvm()
                    while cluster.tool_jvm_pid is None:  # spawned: its CPU is all counted
                        time.sleep(0.001)
                call = timed_call(cluster, env, ["kafka-topics.sh", "--list"], None)
                results[variant].append(call)
    return {variant: medians(samples) for variant, samples in results.items()}


def memory_of_three_brokers() -> tuple[float, float]:
    with Cluster.start(3, progress=False) as cluster:
        _, warm_env = environments(cluster)
        timed_call(cluster, warm_env, ["kafka-topics.sh", "--list"], None)
        time.sleep(1)
        brokers = rss_mb(cluster)
        status = Path(f"/proc/{cluster.tool_jvm_pid}/status").read_text()
        tools = next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line)
        return brokers, brokers + tools / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    distribution = ensure_kafka(progress=True)
    prepare_class_sharing(distribution, progress=True)
    print(
        f"Kafka {distribution.version}, Java {distribution.java.major} "
        f"({distribution.java.executable}), {args.repeat} calls per cell, medians.\n"
    )
    rows = {}
    with Cluster.start(1, progress=False) as cluster:
        cluster.run(f"kafka-topics.sh --create --topic {TOPIC} --partitions 1")
        fresh_env, warm_env = environments(cluster)
        timed_call(cluster, warm_env, *COMMANDS["kafka-topics.sh --list"])  # starts the JVM
        for label, (command, stdin) in COMMANDS.items():
            samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for _ in range(args.repeat):
                for warm in (False, True):
                    env = warm_env if warm else fresh_env
                    samples[warm].append(timed_call(cluster, env, command, stdin))
            rows[label] = (medians(samples[False]), medians(samples[True]))
            print(f"  measured {label}", file=sys.stderr, flush=True)
    first = first_calls(max(3, args.repeat // 3))
    brokers, with_tools = memory_of_three_brokers()

    print("| call | fresh JVM wall (s) | warm wall (s) | wall ratio | fresh JVM CPU (s) "
          "| warm CPU (s) | CPU ratio |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, ((fresh_wall, fresh_cpu), (warm_wall, warm_cpu)) in [
        *rows.items(),
        ("first call of a cluster, which starts the JVM", (first["fresh"], first["warm"])),
        (
            "first call at once after `start_tool_jvm()`",
            (first["fresh"], first["started"]),
        ),
    ]:
        print(
            f"| {label} | {fresh_wall:.3f} | {warm_wall:.3f} | {warm_wall / fresh_wall:.2f}x "
            f"| {fresh_cpu:.3f} | {warm_cpu:.3f} | {warm_cpu / fresh_cpu:.2f}x |"
        )
    print(
        f"\nTarget (design.md): a warm `--list` <= {TARGET_WALL} s wall and <= {TARGET_CPU} s "
        "of CPU; the first call no slower than a fresh JVM's."
    )
    print(
        f"Resident memory, 3 brokers: {brokers:.0f} MB; with the warm tool JVM: "
        f"{with_tools:.0f} MB (target <= 450 MB)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
