"""Checks that read the live Kafka cluster and MongoDB, for nbgrader test cells.

Every check asks the real servers, never variables of the notebook, and fails with an
``AssertionError`` whose Spanish message says what was expected and what was found. Every
client call has a short timeout, so a check never hangs a grading run.

The cluster is the grader's when it grades (:func:`on_cluster`), else the one the notebook
started (``KAFKALAB_BOOTSTRAP_SERVER``, set by ``kafkalab.Cluster``) or
``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from kafkalab.readers import admin_client, eventually, group_offsets, read_topic, user_topics

__all__ = [
    "Message",
    "bootstrap_servers",
    "check_topic",
    "check_messages",
    "check_keys_in_one_partition",
    "check_group_members",
    "check_group_offsets",
    "check_json_messages",
    "check_mongo_collection",
    "consumer_group_lag",
    "GroupHistory",
    "GroupMember",
    "group_history",
    "offsets_partition",
    "mongo_documents",
    "on_cluster",
    "read_messages",
    "topic_partitions",
]

TIMEOUT_MS = 5000
# Set by the grader for the checks it runs in its own process: the environment is then
# never consulted.
_SERVERS: contextvars.ContextVar[str | None] = contextvars.ContextVar("servers", default=None)


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: str | None
    value: str


@contextlib.contextmanager
def on_cluster(servers: str) -> Iterator[None]:
    """Checks inside this block read the cluster at ``servers``, whatever the environment."""
    token = _SERVERS.set(servers)
    try:
        yield
    finally:
        _SERVERS.reset(token)


def bootstrap_servers() -> str:
    servers = (
        _SERVERS.get()
        or os.environ.get("KAFKALAB_BOOTSTRAP_SERVER")
        or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    )
    if not servers:
        raise AssertionError(
            "No encuentro el clúster de Kafka. Ejecuta primero la celda que lo arranca "
            "(cluster = Cluster.start(...))."
        )
    return servers


@contextlib.contextmanager
def _admin() -> Iterator:
    from kafka.errors import KafkaError

    try:
        admin = admin_client(bootstrap_servers(), client_id="autograder", timeout_ms=TIMEOUT_MS)
    except KafkaError as error:
        raise AssertionError(
            f"No puedo conectar con Kafka en {bootstrap_servers()}: {error}. ¿Sigue en marcha "
            "el clúster del cuaderno?"
        ) from None
    try:
        yield admin
    finally:
        admin.close()


def topic_partitions(topic: str) -> dict[int, list[int]] | None:
    """Partition -> replica broker ids of ``topic``, or None when it does not exist (after
    :data:`~kafkalab.readers.METADATA_SETTLE_S`: the broker asked may not know yet of a topic
    created a moment ago)."""

    def describe(admin):
        described = admin.describe_topics([topic])
        if not described or described[0].get("error_code"):
            return None
        return {p["partition_index"]: list(p["replica_nodes"]) for p in described[0]["partitions"]}

    with _admin() as admin:
        return eventually(lambda: describe(admin))


def _existing_topics() -> list[str]:
    with _admin() as admin:
        return sorted(user_topics(admin))


def check_topic(
    topic: str, *, partitions: int | None = None, replication_factor: int | None = None
) -> None:
    """The topic exists, with exactly that many partitions and replicas when given."""
    found = topic_partitions(topic)
    if found is None:
        existing = ", ".join(_existing_topics()) or "ninguno"
        raise AssertionError(
            f"El topic «{topic}» no existe en el clúster. Topics que hay: {existing}."
        )
    if partitions is not None and len(found) != partitions:
        raise AssertionError(
            f"El topic «{topic}» debería tener {partitions} particiones y tiene {len(found)}."
        )
    if replication_factor is not None:
        factors = sorted({len(replicas) for replicas in found.values()})
        if factors != [replication_factor]:
            shown = ", ".join(str(f) for f in factors)
            raise AssertionError(
                f"El topic «{topic}» debería tener factor de replicación {replication_factor} "
                f"y tiene {shown}."
            )


def read_messages(topic: str, *, timeout_s: float = 15) -> list[Message]:
    """Every message of ``topic`` from the beginning to its current end, without a group."""
    try:
        records = read_topic(bootstrap_servers(), topic, timeout=timeout_s, client_id="autograder")
    except TimeoutError:
        raise AssertionError(
            f"No he podido leer todos los mensajes de «{topic}» en {timeout_s:g} s."
        ) from None
    if records is None:
        raise AssertionError(f"El topic «{topic}» no existe en el clúster.")
    return [Message(r.partition, r.offset, _text(r.key), _text(r.value) or "") for r in records]


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")


def _at_least(topic: str, at_least: int) -> list[Message]:
    """The topic's messages; AssertionError when it has fewer than ``at_least``."""
    messages = read_messages(topic)
    if len(messages) < at_least:
        raise AssertionError(
            f"El topic «{topic}» debería tener al menos {at_least} mensajes y tiene "
            f"{len(messages)}."
        )
    return messages


def check_messages(
    topic: str, *, at_least: int = 1, containing: str | None = None
) -> list[Message]:
    """At least ``at_least`` messages, and one whose value contains ``containing``."""
    messages = _at_least(topic, at_least)
    if containing is not None:
        wanted = containing.strip().casefold()
        if not wanted:
            raise AssertionError("Escribe tu nombre en la variable NOMBRE.")
        if not any(wanted in m.value.casefold() for m in messages):
            sample = "; ".join(m.value for m in messages[:5])
            raise AssertionError(
                f"Ningún mensaje de «{topic}» contiene «{containing}». Algunos de los que "
                f"hay: {sample}"
            )
    return messages


def check_keys_in_one_partition(topic: str, *, at_least_keys: int = 2) -> dict[str, int]:
    """Messages have keys, at least ``at_least_keys`` different, each in one partition."""
    messages = read_messages(topic)
    keyed = [m for m in messages if m.key not in (None, "")]
    if not keyed:
        raise AssertionError(
            f"Los mensajes de «{topic}» no tienen clave. Envíalos con el productor de consola "
            "y --reader-property parse.key=true --reader-property key.separator=:"
        )
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for message in keyed:
        partitions_of[message.key].add(message.partition)
    if len(partitions_of) < at_least_keys:
        raise AssertionError(
            f"Hay {len(partitions_of)} clave(s) distinta(s) en «{topic}»; se esperaban al "
            f"menos {at_least_keys}."
        )
    spread = {k: sorted(p) for k, p in partitions_of.items() if len(p) > 1}
    if spread:
        raise AssertionError(
            f"Cada clave debería ir siempre a la misma partición, pero no es así: {spread}."
        )
    return {key: next(iter(parts)) for key, parts in partitions_of.items()}


def consumer_group_lag(group: str, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (committed offset, log end offset) of ``group`` on ``topic``; -1 where
    the group never committed."""
    from kafka.errors import KafkaError

    if topic_partitions(topic) is None:
        raise AssertionError(f"El topic «{topic}» no existe en el clúster.")
    with _admin() as admin:
        try:
            rows = group_offsets(admin, group, [topic])
        except KafkaError as error:
            raise AssertionError(
                f"No he podido leer los offsets del grupo «{group}»: {error}."
            ) from None
    return {
        r.partition: (-1 if r.committed is None else r.committed, r.end or 0)
        for r in rows
        if r.topic == topic
    }


def check_group_offsets(
    group: str, topic: str, *, total_lag: int | None = None, require_members: bool = False
) -> int:
    """The group committed offsets on the topic; its total LAG is ``total_lag`` if given.

    With ``require_members``, the offsets must also come from consumers that joined the
    group (:func:`check_group_members`), not only from the admin tool: that is checked after
    the commits and before the LAG.
    """
    with _admin() as admin:
        groups = {g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()}
    if group not in groups:
        shown = ", ".join(sorted(groups)) or "ninguno"
        raise AssertionError(f"No existe el grupo de consumidores «{group}». Grupos: {shown}.")
    offsets = consumer_group_lag(group, topic)
    committed = {p: c for p, (c, _end) in offsets.items() if c >= 0}
    if not committed:
        raise AssertionError(
            f"El grupo «{group}» no ha confirmado (commit) ningún offset en «{topic}»: "
            "¿llegaron a leer los consumidores?"
        )
    if require_members:
        check_group_members(group, topic)
    lag = sum(end - max(c, 0) for c, end in offsets.values())
    if total_lag is not None and lag != total_lag:
        table = ", ".join(f"p{p}: {c}/{end}" for p, (c, end) in offsets.items())
        raise AssertionError(
            f"El LAG total del grupo «{group}» en «{topic}» debería ser {total_lag} (los "
            f"mensajes enviados con los consumidores parados) y es {lag}. Offsets "
            f"(confirmado/final): {table}."
        )
    return lag


# --- Who joined a group: its history in __consumer_offsets ------------------------------------
#
# Committed offsets alone prove nothing about consumers: ``kafka-consumer-groups.sh
# --reset-offsets --execute`` and kafka-python's ``alter_group_offsets`` commit offsets for a
# group that no consumer ever joined (an OffsetCommit with generation -1, which the
# coordinator accepts only while the group is empty). What only a consumer can leave behind is
# the coordinator's own record of the group's members, in the same internal topic as the
# offsets, ``__consumer_offsets``:
#
# - classic groups (JoinGroup/SyncGroup; the default of Kafka 4's console consumer and the only
#   protocol of kafka-python): a GroupMetadataValue (key type 2) each time a generation is
#   settled, with the protocol type, the generation and every member with its subscription and
#   assignment (both in the consumer protocol's own format). Offset commits are key types 0/1.
#   A group of the admin tool has no such record, or only one with generation 0 and no members;
# - KIP-848 "consumer" groups (``group.protocol=consumer``, Java clients only): a
#   ConsumerGroupMemberMetadataValue (key type 5) per member, with the topics it subscribed to,
#   written when the member's first heartbeat joins it, and its current assignment (key type 8,
#   by topic id). They are accepted the same way: only a member's heartbeat writes them.
#
# Deleting a group (``kafka-consumer-groups.sh --delete``, ``delete_groups``, the grader's wipe
# of a pooled cluster) writes tombstones: a null GroupMetadataValue (type 2) or
# ConsumerGroupMetadataValue (type 3). What came before belongs to an earlier group of the same
# name, so the history starts again after the last one.
#
# Why this evidence: DescribeGroups shows only the members present now (none once the
# consumers are stopped, as the activity asks), and the coordinator's log lines are files only
# the grader could read. This topic reads the same from the student's notebook and from the
# grader, with a plain consumer. The group's protocol type now (ListGroups) is checked too, so
# records forged into the topic do not count either (:func:`check_group_members`).

OFFSETS_TOPIC = "__consumer_offsets"
HISTORY_TIMEOUT_S = 15
_OFFSET_COMMIT_TYPES = (0, 1)  # OffsetCommitKey: group, topic, partition
_CLASSIC_GROUP_TYPE = 2  # GroupMetadataKey: group
_CONSUMER_GROUP_TYPE = 3  # ConsumerGroupMetadataKey: group (KIP-848)
_CONSUMER_MEMBER_TYPE = 5  # ConsumerGroupMemberMetadataKey: group, member id
_CONSUMER_ASSIGNMENT_TYPE = 8  # ConsumerGroupCurrentMemberAssignmentKey: group, member id


@dataclass(frozen=True)
class GroupMember:
    """A consumer that joined a group, as the group's coordinator recorded it."""

    member_id: str
    client_id: str
    protocol: str  # "classic" (JoinGroup/SyncGroup) or "consumer" (KIP-848 heartbeats)
    topics: frozenset[str]  # subscribed to, or assigned partitions of
    generations: tuple[int, ...]  # classic generations it was in; KIP-848 member epochs


@dataclass(frozen=True)
class GroupHistory:
    """What ``__consumer_offsets`` holds about a group since it was last deleted."""

    group: str
    partition: int  # of __consumer_offsets (its leader is the group's coordinator)
    deletions: int  # tombstones of the group seen: only what came after the last one counts
    commits: dict[str, int]  # topic -> offset commit records
    members: tuple[GroupMember, ...]
    unreadable: int  # records of the group that could not be decoded, left out

    def members_of(self, topic: str) -> tuple[GroupMember, ...]:
        """The members that subscribed to ``topic`` or were assigned partitions of it."""
        return tuple(m for m in self.members if topic in m.topics)


def offsets_partition(group: str, partitions: int) -> int:
    """The partition of ``__consumer_offsets`` that holds ``group``, placed as Kafka does:
    ``Utils.abs(group.hashCode()) % partitions``, with Java's ``String.hashCode`` (over
    UTF-16 code units, 32-bit signed) and ``Utils.abs`` (0 for ``Integer.MIN_VALUE``)."""
    units = group.encode("utf-16-be")
    code = 0
    for index in range(0, len(units), 2):
        code = (31 * code + int.from_bytes(units[index : index + 2], "big")) & 0xFFFFFFFF
    if code & 0x80000000:
        code -= 1 << 32
    return (0 if code == -(1 << 31) else abs(code)) % partitions


class _Fields:
    """Reads the fields of one record with kafka-python's protocol codecs: classic encoding,
    or compact strings and arrays with tagged fields (KIP-482) once ``flexible``."""

    def __init__(self, data: bytes):
        import io

        from kafka.protocol.schemas.fields import codecs

        self._codecs = codecs
        self._data = io.BytesIO(data)
        self._string = codecs.String("utf-8")
        self.flexible = False

    def int8(self) -> int:
        return self._codecs.Int8.decode(self._data)

    def int16(self) -> int:
        return self._codecs.Int16.decode(self._data)

    def int32(self) -> int:
        return self._codecs.Int32.decode(self._data)

    def int64(self) -> int:
        return self._codecs.Int64.decode(self._data)

    def string(self) -> str | None:
        return self._string.decode(self._data, compact=self.flexible)

    def bytes(self) -> bytes | None:
        return self._codecs.Bytes.decode(self._data, compact=self.flexible)

    def uuid(self) -> str:
        return str(self._codecs.UUID.decode(self._data))

    def count(self) -> int:
        """The length of an array (a null array is empty)."""
        if self.flexible:
            return self._codecs.UnsignedVarInt32.decode(self._data) - 1
        return self._codecs.Int32.decode(self._data)

    def skip_tagged_fields(self) -> None:
        if not self.flexible:
            return
        varint = self._codecs.UnsignedVarInt32
        for _ in range(varint.decode(self._data)):
            varint.decode(self._data)  # the tag
            size = varint.decode(self._data)
            if len(self._data.read(size)) != size:
                raise ValueError("truncated tagged field")


def _record_key(raw: bytes) -> tuple[int, str | None, str | None]:
    """(record type, group, topic of an offset commit or member id) of a key."""
    fields = _Fields(raw)
    kind = fields.int16()
    group = fields.string()
    more = _OFFSET_COMMIT_TYPES + (_CONSUMER_MEMBER_TYPE, _CONSUMER_ASSIGNMENT_TYPE)
    return kind, group, fields.string() if kind in more else None


def _classic_generation(raw: bytes) -> tuple[int, list[tuple[str, str, set[str]]]]:
    """(generation, [(member id, client id, topics)]) of a GroupMetadataValue, versions 0-4
    (a newer version is read as 4: KIP-915 only lets tagged fields be added)."""
    from kafka.protocol.consumer.metadata import (
        ConsumerProtocolAssignment,
        ConsumerProtocolSubscription,
    )

    fields = _Fields(raw)
    version = fields.int16()
    fields.flexible = version >= 4
    protocol_type = fields.string()
    generation = fields.int32()
    fields.string()  # protocol (the assignor's name)
    fields.string()  # leader
    if version >= 2:
        fields.int64()  # currentStateTimestamp
    members = []
    for _ in range(fields.count()):
        member_id = fields.string() or ""
        if version >= 3:
            fields.string()  # groupInstanceId
        client_id = fields.string() or ""
        fields.string()  # clientHost
        if version >= 1:
            fields.int32()  # rebalanceTimeout
        fields.int32()  # sessionTimeout
        subscription, assignment = fields.bytes(), fields.bytes()
        fields.skip_tagged_fields()
        topics: set[str] = set()
        if protocol_type == "consumer":  # only consumers' metadata has this format
            if subscription:
                topics.update(ConsumerProtocolSubscription.decode(subscription).topics or ())
            if assignment:
                assigned = ConsumerProtocolAssignment.decode(assignment).assigned_partitions
                topics.update(part.topic for part in assigned or () if part.partitions)
        members.append((member_id, client_id, topics))
    return generation, members


def _consumer_member(raw: bytes) -> tuple[str, set[str]]:
    """(client id, subscribed topic names) of a ConsumerGroupMemberMetadataValue."""
    fields = _Fields(raw)
    fields.int16()  # version (0, flexible)
    fields.flexible = True
    fields.string()  # InstanceId
    fields.string()  # RackId
    client_id = fields.string() or ""
    fields.string()  # ClientHost
    topics = {fields.string() for _ in range(fields.count())}
    return client_id, {t for t in topics if t}


def _consumer_assignment(raw: bytes) -> tuple[int, set[str]]:
    """(member epoch, ids of the topics with assigned partitions) of a
    ConsumerGroupCurrentMemberAssignmentValue."""
    fields = _Fields(raw)
    fields.int16()  # version (0, flexible)
    fields.flexible = True
    epoch = fields.int32()
    fields.int32()  # PreviousMemberEpoch
    fields.int8()  # State
    topic_ids = set()
    for _ in range(fields.count()):
        topic_id = fields.uuid()
        partitions = [fields.int32() for _ in range(fields.count())]
        fields.skip_tagged_fields()
        if partitions:
            topic_ids.add(topic_id)
    return epoch, topic_ids


def _read_partition(topic: str, partition: int, *, timeout_s: float) -> list:
    """Every record of one partition, from its beginning to its current end, without a group
    (assigned, never subscribed: nothing joins, commits or creates a topic)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    where = TopicPartition(topic, partition)
    deadline = time.monotonic() + timeout_s
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(),
            client_id="autograder",
            group_id=None,
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            request_timeout_ms=max(TIMEOUT_MS, 6000),
        )
    except KafkaError as error:
        raise AssertionError(f"No puedo leer {topic} en {bootstrap_servers()}: {error}.") from None
    try:
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        end = consumer.end_offsets([where], timeout_ms=TIMEOUT_MS)[where]
        records = []
        while True:
            position = consumer.position(where, timeout_ms=TIMEOUT_MS)
            if position is not None and position >= end:
                return records
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"No he podido leer la partición {partition} de {topic} en {timeout_s:g} s."
                )
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(record for record in batch if record.offset < end)
    except KafkaError as error:
        raise AssertionError(f"No he podido leer {topic}: {error}.") from None
    finally:
        consumer.close()


def group_history(group: str, *, timeout_s: float = HISTORY_TIMEOUT_S) -> GroupHistory:
    """The members and offset commits of ``group`` that ``__consumer_offsets`` records since
    the group was last deleted (see the comment above :class:`GroupMember`).

    Reads only the group's partition of ``__consumer_offsets``, by assignment (no group is
    joined, no topic created), within ``timeout_s``. The topic is compacted, but only its
    closed segments (100 MB by default), so a course's or a grading run's history is whole.
    """
    with _admin() as admin:
        topics = admin.describe_topics()
    names = {str(t.get("topic_id")): t["name"] for t in topics if not t.get("error_code")}
    internal = next((t for t in topics if t["name"] == OFFSETS_TOPIC), None)
    if internal is None or internal.get("error_code") or not internal["partitions"]:
        # No group has ever committed or joined: Kafka creates the topic for the first one.
        return GroupHistory(group, -1, 0, {}, (), 0)
    partition = offsets_partition(group, len(internal["partitions"]))
    records = _read_partition(OFFSETS_TOPIC, partition, timeout_s=timeout_s)

    deletions = unreadable = 0
    commits: Counter[str] = Counter()
    seen: dict[str, dict] = {}

    def joined(member_id, protocol, client_id, topics, generation) -> None:
        member = seen.setdefault(
            member_id, {"protocol": protocol, "client": "", "topics": set(), "generations": set()}
        )
        member["client"] = client_id or member["client"]
        member["topics"].update(topics)
        if generation is not None:
            member["generations"].add(generation)

    for record in records:
        try:
            kind, owner, detail = _record_key(record.key)
        except Exception:  # not a key Kafka wrote: it cannot be this group's
            continue
        if owner != group:
            continue
        value = record.value
        try:
            if kind in (_CLASSIC_GROUP_TYPE, _CONSUMER_GROUP_TYPE) and value is None:
                deletions += 1  # the group was deleted: what came before was another one
                commits.clear()
                seen.clear()
            elif value is None:
                continue  # a member left, an offset was deleted: the history keeps them
            elif kind in _OFFSET_COMMIT_TYPES:
                commits[detail] += 1
            elif kind == _CLASSIC_GROUP_TYPE:
                generation, members = _classic_generation(value)
                if generation >= 1:
                    for member_id, client_id, member_topics in members:
                        joined(member_id, "classic", client_id, member_topics, generation)
            elif kind == _CONSUMER_MEMBER_TYPE:
                client_id, member_topics = _consumer_member(value)
                joined(detail, "consumer", client_id, member_topics, None)
            elif kind == _CONSUMER_ASSIGNMENT_TYPE:
                epoch, topic_ids = _consumer_assignment(value)
                assigned = {names.get(topic_id, topic_id) for topic_id in topic_ids}
                joined(detail, "consumer", None, assigned, epoch)
        except Exception:  # a value that does not decode proves nothing; it is counted
            unreadable += 1
    members = tuple(
        GroupMember(
            member_id,
            data["client"],
            data["protocol"],
            frozenset(data["topics"]),
            tuple(sorted(data["generations"])),
        )
        for member_id, data in seen.items()
    )
    return GroupHistory(group, partition, deletions, dict(commits), members, unreadable)


def _group_protocol_type(group: str) -> str | None:
    """The protocol type the coordinator holds for ``group`` now (None: no such group)."""
    with _admin() as admin:
        listed = admin.list_groups()
    for entry in listed:
        if isinstance(entry, dict):
            group_id, kind = entry["group_id"], entry.get("protocol_type")
        else:
            group_id, kind = entry[0], entry[1] if len(entry) > 1 else None
        if group_id == group:
            return kind or ""
    return None


def check_group_members(
    group: str, topic: str, *, timeout_s: float = HISTORY_TIMEOUT_S
) -> tuple[GroupMember, ...]:
    """Consumers of ``topic`` joined ``group``: offsets set with the admin tool do not count.

    The evidence is the coordinator's record of the group's members in ``__consumer_offsets``
    (:func:`group_history`): since the group was last created, at least one member of a
    generation >= 1 (classic protocol) or one member that heartbeated in (KIP-848 protocol)
    subscribed to ``topic`` or was assigned partitions of it. Offsets committed with
    ``kafka-consumer-groups.sh --reset-offsets --execute`` or ``alter_group_offsets`` leave
    offset commits and no member. A member of the group that read other topics does not count
    for this one.

    Anyone who can write to ``__consumer_offsets`` (a producer whose ``client.id`` is
    ``__admin_client`` may) could forge those records, but the coordinator never reads them
    back while it leads the partition: so the group the coordinator holds now must also be a
    consumer group (protocol type ``consumer``), which a group of the admin tool is not.

    Returns the members of ``topic``; raises ``AssertionError`` with a Spanish message that
    says what the history holds.
    """
    history = group_history(group, timeout_s=timeout_s)
    members = history.members_of(topic)
    if not members:
        raise AssertionError(_no_members_message(history, topic))
    kind = _group_protocol_type(group)
    if kind != "consumer":
        raise AssertionError(
            f"El historial del grupo «{group}» en {OFFSETS_TOPIC} dice que se unieron "
            f"{len(members)} consumidor(es) de «{topic}», pero el coordinador del grupo no "
            f"lo tiene por un grupo de consumidores (tipo de protocolo «{kind or ''}»): esos "
            "registros no los ha escrito Kafka. Lanza los consumidores del grupo y deja que "
            "lean el topic."
        )
    return members


def _no_members_message(history: GroupHistory, topic: str) -> str:
    group, commits = history.group, history.commits.get(topic, 0)
    since = " (desde que se creó por última vez)" if history.deletions else ""
    if commits:
        head = f"El grupo «{group}» tiene offsets confirmados"
    else:
        head = f"El grupo «{group}» no tiene offsets confirmados en «{topic}»"
    if history.members:
        read = sorted({t for m in history.members for t in m.topics})
        shown = ", ".join(f"«{t}»" for t in read) or "ningún topic"
        return (
            f"{head}, pero ningún consumidor de «{topic}» se ha unido nunca al grupo: su "
            f"historial en {OFFSETS_TOPIC}{since} tiene {len(history.members)} miembro(s), "
            f"suscritos a {shown}. Lanza los consumidores del grupo sobre «{topic}»."
        )
    others = sum(n for t, n in history.commits.items() if t != topic)
    also = f" (y {others} de otros topics)" if others else ""
    return (
        f"{head}, pero ningún consumidor se ha unido nunca al grupo: su historial en "
        f"{OFFSETS_TOPIC}{since} tiene {commits} confirmación(es) de offsets de «{topic}»"
        f"{also} y ningún miembro, en ninguna generación. Así quedan los offsets cuando se "
        "fijan con la herramienta de administración (kafka-consumer-groups.sh "
        "--reset-offsets o alter_group_offsets) y no los confirma un consumidor que lee el "
        "topic. Lanza los consumidores del grupo (kafkalab.watch_consumers) y deja que lean."
    )


_TYPE_NAMES = {str: "texto", int: "entero", float: "número decimal"}


def _type_problems(document: dict, fields: dict[str, type | tuple[type, ...]]) -> list[str]:
    problems = []
    for name, expected in fields.items():
        if name not in document:
            problems.append(f"falta «{name}»")
            continue
        value = document[name]
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) or not isinstance(value, allowed):
            wanted = " o ".join(_TYPE_NAMES.get(t, t.__name__) for t in allowed)
            problems.append(f"«{name}» debería ser {wanted} y es {value!r}")
    return problems


def check_json_messages(
    topic: str, fields: dict[str, type | tuple[type, ...]], *, at_least: int = 1
) -> list[dict]:
    """Every message value is a JSON object with ``fields`` of the given types."""
    messages = _at_least(topic, at_least)
    documents = []
    for message in messages:
        try:
            document = json.loads(message.value)
        except json.JSONDecodeError:
            raise AssertionError(
                f"El mensaje {message.partition}/{message.offset} de «{topic}» no es JSON: "
                f"{message.value[:120]!r}"
            ) from None
        if not isinstance(document, dict):
            raise AssertionError(
                f"El mensaje {message.partition}/{message.offset} debería ser un objeto JSON "
                f"({{...}}) y es {document!r:.120}"
            )
        problems = _type_problems(document, fields)
        if problems:
            raise AssertionError(
                f"El mensaje {message.partition}/{message.offset} de «{topic}» no es correcto: "
                + "; ".join(problems)
            )
        documents.append(document)
    return documents


def mongo_documents(uri: str, database: str, collection: str) -> list[dict]:
    """Every document of ``database.collection``, ``_id`` included."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(uri, serverSelectionTimeoutMS=TIMEOUT_MS, socketTimeoutMS=TIMEOUT_MS)
    try:
        return list(client[database][collection].find({}))
    except PyMongoError as error:
        raise AssertionError(f"No puedo leer MongoDB en {uri}: {error}") from None
    finally:
        client.close()


def check_mongo_collection(
    uri: str,
    database: str,
    collection: str,
    fields: dict[str, type | tuple[type, ...]],
    *,
    expected: list[dict] | None = None,
) -> int:
    """Documents have ``fields``; with ``expected``, each expected one is there exactly once."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(uri, serverSelectionTimeoutMS=TIMEOUT_MS, socketTimeoutMS=TIMEOUT_MS)
    try:
        try:
            documents = list(client[database][collection].find({}, {"_id": 0}))
        except PyMongoError as error:
            raise AssertionError(f"No puedo leer MongoDB en {uri}: {error}") from None
    finally:
        client.close()
    if not documents:
        raise AssertionError(
            f"La colección «{database}.{collection}» está vacía: el consumidor no ha insertado "
            "nada."
        )
    for document in documents:
        problems = _type_problems(document, fields)
        if problems:
            raise AssertionError(
                f"Un documento de «{collection}» no es correcto: " + "; ".join(problems)
            )
    if expected is not None:
        key = _canonical
        have = Counter(key(d, fields) for d in documents)
        want = Counter(key(d, fields) for d in expected)
        duplicated = sum(count - 1 for doc, count in have.items() if count > 1)
        missing = sum(count for doc, count in want.items() if doc not in have)
        extra = sum(count for doc, count in have.items() if doc not in want)
        if duplicated or missing or extra:
            raise AssertionError(
                f"Cada mensaje del topic debería estar una sola vez en «{collection}»: hay "
                f"{len(expected)} mensajes y {len(documents)} documentos ({duplicated} "
                f"repetidos, {missing} sin insertar, {extra} que no vienen del topic)."
            )
    return len(documents)


def _canonical(document: dict, fields: dict) -> str:
    return json.dumps({name: document.get(name) for name in fields}, sort_keys=True)
