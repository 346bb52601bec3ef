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

from . import readers
from .errors import KafkaLabError
from .kafka.base import Cluster
from .readers import admin_client, eventually, user_topics

__all__ = ["SelfCheck", "TopicInfo", "read_topic", "self_check", "topic_info"]

PASSED = "Ejercicio superado: todo en orden."
NOT_YET = "Todavía no"
_CLIENT = "kafkalab-ejercicio"


def cluster_of(cluster: Cluster | None) -> Cluster:
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


def run_check(text: str, check: Callable[[], object]) -> Result:
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
    return SelfCheck([run_check(text, check) for text, check in checks])


@dataclass(frozen=True)
class TopicInfo:
    """A topic as the cluster describes it now."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]  # the topic's own settings (those given at creation or altered)
    leaders: dict[int, int]  # partition -> leader broker id (-1: none)
    isr: dict[int, list[int]]  # partition -> in-sync replicas


def topic_info(topic: str | None = None, *, cluster: Cluster | None = None):
    """The names of the cluster's topics (without ``topic``), or one topic's :class:`TopicInfo`.

    Raises AssertionError (a failed check) when the topic does not exist.
    """
    from kafka.admin import ConfigResource, ConfigResourceType

    with admin_client(cluster_of(cluster).reachable_servers(), client_id=_CLIENT) as admin:
        if topic is None:
            return user_topics(admin)
        if eventually(lambda: topic in user_topics(admin) or None) is None:
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


def read_topic(
    topic: str, *, cluster: Cluster | None = None, timeout: float = 10, **consumer_options
) -> list:
    """Every record the topic holds now, partition by partition, without joining a group.

    Reads from each partition's first offset up to its end offset at the time of the call, so
    it ends by itself (at most ``timeout`` seconds); ``consumer_options`` go to KafkaConsumer
    (``value_deserializer``, ``isolation_level``...). Raises AssertionError when the topic
    does not exist or cannot be read whole in time.
    """
    servers = cluster_of(cluster).reachable_servers()
    try:
        records = readers.read_topic(
            servers, topic, timeout=timeout, client_id=_CLIENT, **consumer_options
        )
    except TimeoutError:
        raise AssertionError(f"no he podido leer todo «{topic}» en {timeout:g} s") from None
    if records is None:
        raise AssertionError(f"no existe el topic «{topic}»")
    return records
