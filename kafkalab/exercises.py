"""The end-of-lesson exercises: a self-check that reads the live cluster, and two readers.

    kafkalab.self_check(
        ("Existe el topic «alertas»", lambda: "alertas" in kafkalab.topic_info()),
        ("Tiene 3 particiones", lambda: kafkalab.topic_info("alertas").partitions == 3),
    )

A check is a sentence and a function: it passes when the function returns something true;
it fails when it returns something false, or raises ``AssertionError`` (whose message becomes
the hint shown next to the ✘), or any other error (shown as "no se pudo comprobar"). The
self-check never raises, so "Run all" always reaches the cells below it; it is not graded.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import KafkaLabError
from .kafka.base import Cluster

__all__ = ["SelfCheck", "TopicInfo", "read_topic", "self_check", "topic_info"]

PASSED = "Ejercicio superado: todo en orden."
NOT_YET = "Todavía no"
_TIMEOUT_MS = 5000


def _cluster(cluster: Cluster | None) -> Cluster:
    if cluster is not None:
        return cluster
    from .notebook import current_cluster

    return current_cluster()


@dataclass(frozen=True)
class Result:
    text: str
    passed: bool
    hint: str = ""


@dataclass
class SelfCheck:
    """What :func:`self_check` found: one ✔ or ✘ per check, and a verdict."""

    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(result.passed for result in self.results)

    def verdict(self) -> str:
        failed = sum(not result.passed for result in self.results)
        if not failed:
            return PASSED
        return f"{NOT_YET}: {failed} de {len(self.results)} comprobaciones sin cumplir."

    def __repr__(self) -> str:
        lines = ["Comprobación del ejercicio"]
        for result in self.results:
            mark = "✔" if result.passed else "✘"
            hint = f" — {result.hint}" if result.hint else ""
            lines.append(f"  {mark} {result.text}{hint}")
        lines.append(self.verdict())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = []
        for result in self.results:
            colour, mark = ("#1b5e20", "✔") if result.passed else ("#b71c1c", "✘")
            hint = f" <i>— {html.escape(result.hint)}</i>" if result.hint else ""
            items.append(
                f'<li style="list-style:none;color:{colour}">{mark} '
                f"{html.escape(result.text)}{hint}</li>"
            )
        colour = "#1b5e20" if self.passed else "#b71c1c"
        return (
            '<div style="font-family:system-ui,sans-serif">'
            "<b>Comprobación del ejercicio</b>"
            f'<ul style="padding-left:8px;margin:4px 0">{"".join(items)}</ul>'
            f'<b style="color:{colour}">{html.escape(self.verdict())}</b></div>'
        )


def _run(text: str, check: Callable[[], object]) -> Result:
    try:
        outcome = check()
    except AssertionError as error:
        return Result(text, False, str(error))
    except Exception as error:  # noqa: BLE001 - a self-check reports, it never raises
        return Result(text, False, f"no se pudo comprobar ({type(error).__name__}: {error})")
    return Result(text, bool(outcome))


def self_check(*checks: tuple[str, Callable[[], object]]) -> SelfCheck:
    """Run each ``(sentence, function)`` check in order and show ✔/✘ with a verdict.

    Args:
        checks: pairs of a sentence in Spanish (what should be true) and a function without
            arguments that returns a truthy value when it is; it may raise ``AssertionError``
            with a hint for the student.
    """
    if not checks:
        raise KafkaLabError("self_check necesita al menos una comprobación.")
    return SelfCheck([_run(text, check) for text, check in checks])


@dataclass(frozen=True)
class TopicInfo:
    """A topic as the cluster describes it now."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]  # the topic's own settings (those given at creation or altered)
    leaders: dict[int, int]  # partition -> leader broker id (-1: none)
    isr: dict[int, list[int]]  # partition -> in-sync replicas


def _admin(cluster: Cluster):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=cluster.reachable_servers(),
        client_id="kafkalab-ejercicio",
        request_timeout_ms=_TIMEOUT_MS,
        bootstrap_timeout_ms=_TIMEOUT_MS,
    )


def topic_info(topic: str | None = None, *, cluster: Cluster | None = None):
    """The names of the cluster's topics (without ``topic``), or one topic's :class:`TopicInfo`.

    Raises AssertionError (a failed check) when the topic does not exist.
    """
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = _admin(_cluster(cluster))
    try:
        names = {name for name in admin.list_topics() if not name.startswith("__")}
        if topic is None:
            return names
        if topic not in names:
            raise AssertionError(f"no existe el topic «{topic}»")
        (described,) = admin.describe_topics([topic])
        partitions = sorted(described["partitions"], key=lambda p: p["partition_index"])
        response = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = response.get("topic", {}).get(topic, {})
        return TopicInfo(
            name=topic,
            partitions=len(partitions),
            replication_factor=max((len(p["replica_nodes"]) for p in partitions), default=0),
            configs={name: entry["value"] for name, entry in configs.items()},
            leaders={p["partition_index"]: p["leader_id"] for p in partitions},
            isr={p["partition_index"]: list(p["isr_nodes"]) for p in partitions},
        )
    finally:
        admin.close()


def read_topic(
    topic: str, *, cluster: Cluster | None = None, timeout: float = 10, **consumer_options
) -> list:
    """Every record the topic holds now, partition by partition, without joining a group.

    Reads from each partition's first offset up to its end offset at the time of the call, so
    it ends by itself (at most ``timeout`` seconds); ``consumer_options`` go to KafkaConsumer
    (``value_deserializer``, ``isolation_level``...). Raises AssertionError when the topic
    does not exist.
    """
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=_cluster(cluster).reachable_servers(),
        client_id="kafkalab-ejercicio",
        enable_auto_commit=False,
        allow_auto_create_topics=False,  # reading a missing topic must not create it
        request_timeout_ms=max(_TIMEOUT_MS, 1000 * int(timeout)),
        **consumer_options,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise AssertionError(f"no existe el topic «{topic}»")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        records: dict[int, list] = {p.partition: [] for p in assigned}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(consumer.position(p) < ends[p] for p in assigned):
            for part, batch in consumer.poll(timeout_ms=200).items():
                records[part.partition].extend(r for r in batch if r.offset < ends[part])
        return [record for p in sorted(records) for record in records[p]]
    finally:
        consumer.close()
