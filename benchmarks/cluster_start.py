"""Cluster start time and memory: kafkalab's tuned JVMs against stock Kafka JVM settings.

For 1 and 3 brokers, each variant starts a real local cluster ``--repeat`` times and records
the seconds until every broker is registered and metadata is visible to a client (what
``Cluster.start`` returns on), then the summed resident memory (VmRSS) of the broker JVMs
one second later. Variants, same jars, same server.properties, same readiness check:

* ours: kafkalab's JVM options and its class archive (AppCDS on Java 17-24, AOT cache 25+);
* ours, no class archive: the same options without the archive, to show what it buys;
* stock: what ``kafka-server-start.sh`` of the official tarball uses
  (-Xmx1G -Xms1G, G1 with Kafka's GC flags, no application class archive).

Usage: python benchmarks/cluster_start.py [--repeat 5] [--brokers 1 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafkalab import Cluster, ensure_kafka  # noqa: E402
from kafkalab.distribution import BROKER_JVM_OPTIONS  # noqa: E402
from kafkalab.training import prepare_class_sharing  # noqa: E402

# kafka-run-class.sh / kafka-server-start.sh defaults of Apache Kafka 4.x.
STOCK_OPTIONS = [
    "-Xmx1G",
    "-Xms1G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]


def _argfile(folder: Path, name: str, options: list[str], distribution) -> Path:
    classpath = ":".join(str(jar) for jar in distribution.jars)
    log4j = distribution.config_dir / "log4j2.properties"
    path = folder / f"{name}.jvmargs"
    path.write_text(
        "\n".join([*options, f'-Dlog4j2.configurationFile="{log4j}"', "-cp", f'"{classpath}"'])
        + "\n"
    )
    return path


def rss_mb(cluster: Cluster) -> float:
    total = 0
    for broker in cluster.brokers:
        pid = broker.java_pid
        if pid is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def measure_start(brokers: int, argfile: Path | None = None) -> tuple[float, float]:
    began = time.perf_counter()
    cluster = Cluster.start(brokers, progress=False, jvm_argfile=argfile)
    elapsed = time.perf_counter() - began
    try:
        time.sleep(1)
        return elapsed, rss_mb(cluster)
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--brokers", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    distribution = ensure_kafka(progress=True)
    prepare_class_sharing(distribution, progress=True)
    java = distribution.java
    print(f"Kafka {distribution.version}, Java {java.major} ({java.executable}), ", end="")
    print(f"{args.repeat} runs per cell, medians.", flush=True)
    with tempfile.TemporaryDirectory(prefix="kafkalab-bench-") as scratch:
        folder = Path(scratch)
        variants = {
            "ours": None,
            "ours, no class archive": _argfile(folder, "plain", BROKER_JVM_OPTIONS, distribution),
            "stock": _argfile(folder, "stock", STOCK_OPTIONS, distribution),
        }
        if not distribution.class_sharing_ready():
            print("(no class archive: KAFKALAB_CLASS_SHARING=0 or it could not be recorded)")
        results: dict[tuple[int, str], tuple[float, float]] = {}
        for brokers in args.brokers:
            measure_start(brokers)  # warm the page cache; not counted
            for name, argfile in variants.items():
                starts, memory = [], []
                for _ in range(args.repeat):
                    seconds, rss = measure_start(brokers, argfile)
                    starts.append(seconds)
                    memory.append(rss)
                results[brokers, name] = (statistics.median(starts), statistics.median(memory))
                print(
                    f"  measured {brokers} broker(s), {name}: {results[brokers, name][0]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )

    print()
    header = (
        f"{'brokers':>7}  {'variant':<24} {'start s':>8} {'RSS MB':>8}"
        f" {'start vs stock':>15} {'RSS vs stock':>13}"
    )
    print(header)
    print("-" * len(header))
    for brokers in args.brokers:
        stock_start, stock_rss = results[brokers, "stock"]
        for name in variants:
            start, rss = results[brokers, name]
            print(
                f"{brokers:>7}  {name:<24} {start:>8.2f} {rss:>8.0f}"
                f" {start / stock_start:>14.2f}x {rss / stock_rss:>12.2f}x"
            )
    print()
    print("Targets (design.md): 1 broker <= 4 s, 3 brokers <= 8 s, RSS of 3 brokers <= 900 MB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
