"""Reading a live cluster, in one place: an admin client, a whole topic, a group's offsets.

The lessons' self-checks (:mod:`.exercises`), the pictures (:mod:`.pictures`), the live
consumer panes (:mod:`.widgets`), the cluster's own waits (:mod:`.kafka`) and the
autograder's checks all read Kafka through these, so a timeout, a client option or the way
lag is counted is decided once.

Nothing here joins a consumer group, commits an offset or creates a topic: reading must not
change what a check or a picture is about to look at.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "INTERNAL_TOPICS",
    "TIMEOUT_MS",
    "PartitionOffsets",
    "METADATA_SETTLE_S",
    "admin_client",
    "eventually",
    "group_offsets",
    "read_topic",
    "user_topics",
]

TIMEOUT_MS = 5000
# A broker learns of a topic that another client created a moment after the controller does:
# how long a topic that cannot be found is looked for before it is said to be missing.
METADATA_SETTLE_S = 1.0
# Topics Kafka keeps for itself; a user may name a topic "__mine", so the set is explicit.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})


def _servers(servers: str | Sequence[str]) -> list[str]:
    return servers.split(",") if isinstance(servers, str) else list(servers)


def eventually(read, *, timeout: float = METADATA_SETTLE_S, interval: float = 0.1):
    """``read()``, again every ``interval`` seconds while it returns None, for at most
    ``timeout`` seconds; its last answer. For what the cluster's metadata shows a moment
    after a change (a topic just created by another client): never a fixed wait."""
    deadline = time.monotonic() + timeout
    while (found := read()) is None and time.monotonic() < deadline:
        time.sleep(interval)
    return found


def admin_client(
    servers: str | Sequence[str], *, client_id: str = "kafkalab", timeout_ms: int = TIMEOUT_MS
):
    """A kafka-python admin client on ``servers`` that gives up after ``timeout_ms`` (to
    connect and per request); ``with`` closes it. Connecting raises kafka-python's errors
    (``NoBrokersAvailable``...): callers say in Spanish what that means for them."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=_servers(servers),
        client_id=client_id,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def user_topics(admin) -> set[str]:
    """The cluster's topics but Kafka's own."""
    return {name for name in admin.list_topics() if name not in INTERNAL_TOPICS}


def read_topic(
    servers: str | Sequence[str],
    topic: str,
    *,
    timeout: float = 10,
    client_id: str = "kafkalab",
    **consumer_options,
) -> list | None:
    """Every record ``topic`` holds now, partition by partition, or None when it does not
    exist.

    Reads each partition from its first offset up to its end offset at the time of the call,
    without a group, so it ends by itself: ``TimeoutError`` after ``timeout`` seconds with
    records still unread. ``consumer_options`` go to KafkaConsumer (``value_deserializer``,
    ``isolation_level``...).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=_servers(servers),
        client_id=client_id,
        enable_auto_commit=False,
        allow_auto_create_topics=False,  # reading a missing topic must not create it
        request_timeout_ms=max(TIMEOUT_MS, int(1000 * timeout)),
        **consumer_options,
    )
    try:
        partitions = eventually(lambda: consumer.partitions_for_topic(topic) or None)
        if not partitions:
            return None
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        records: dict[int, list] = {p.partition: [] for p in assigned}
        deadline = time.monotonic() + timeout
        while any(consumer.position(p) < ends[p] for p in assigned):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: records still unread after {timeout:g} s")
            for part, batch in consumer.poll(timeout_ms=200).items():
                records[part.partition].extend(r for r in batch if r.offset < ends[part])
        return [record for p in sorted(records) for record in records[p]]
    finally:
        consumer.close()


@dataclass(frozen=True)
class PartitionOffsets:
    """Where a group is in one partition: its committed offset (None: none yet) and the
    partition's end offset (None: unknown)."""

    topic: str
    partition: int
    committed: int | None
    end: int | None

    @property
    def lag(self) -> int | None:
        """LAG as ``kafka-consumer-groups.sh --describe`` shows it: records after the
        committed offset; None (shown "-") where the group never committed."""
        if self.committed is None or self.end is None:
            return None
        return max(self.end - self.committed, 0)


def group_offsets(admin, group: str, topics: Iterable[str] | None = None) -> list[PartitionOffsets]:
    """``group``'s committed offset and the end offset of every partition of ``topics``
    (default: the topics it committed offsets on), sorted by topic and partition.

    A topic that does not exist has no partitions here but those the group still keeps
    offsets on (with ``end`` None). Raises kafka-python's errors when the cluster does not
    answer.
    """
    from kafka.admin import OffsetSpec
    from kafka.structs import TopicPartition

    committed = {
        (tp.topic, tp.partition): meta.offset
        for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
        if meta.offset is not None and meta.offset >= 0
    }
    wanted = sorted({t for t, _ in committed} if topics is None else set(topics))
    partitions: set[tuple[str, int]] = set()
    if wanted:
        for entry in admin.describe_topics(wanted):
            if not entry.get("error_code"):
                name = entry["name"]
                partitions.update((name, p["partition_index"]) for p in entry["partitions"])
    ends: dict[tuple[str, int], int] = {}
    if partitions:
        latest = admin.list_partition_offsets(
            {TopicPartition(t, p): OffsetSpec.LATEST for t, p in partitions}
        )
        ends = {(tp.topic, tp.partition): value.offset for tp, value in latest.items()}
    # Offsets the group kept on partitions that are gone (a deleted topic) show too.
    partitions |= {tp for tp in committed if tp[0] in wanted}
    return [
        PartitionOffsets(t, p, committed.get((t, p)), ends.get((t, p)))
        for t, p in sorted(partitions)
    ]
