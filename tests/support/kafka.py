"""Reading a Kafka cluster the way a person does (its CLI), and waiting for it to change."""

from __future__ import annotations

import re
import time


def describe_partitions(cluster, topic: str) -> list[dict[str, str]]:
    """The per-partition lines of kafka-topics.sh --describe, as dicts."""
    output = cluster.run(f"kafka-topics.sh --describe --topic {topic}").stdout
    rows = []
    for line in output.splitlines():
        if "Partition:" in line:
            rows.append(dict(re.findall(r"(\w+): ?([^\t]*)", line.strip())))
    return rows


def wait_for(condition, timeout: float = 30.0, interval: float = 0.5, *, what: str | None = None):
    """Call ``condition`` every ``interval`` seconds until it returns something true, and return
    that. After ``timeout`` seconds: return its last (false) answer, for the caller to assert
    on; or, when ``what`` says what was awaited, fail with an AssertionError that names it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            if what is None:
                return value
            raise AssertionError(f"después de {timeout:.0f} s sigue sin pasar: {what}")
        time.sleep(interval)
