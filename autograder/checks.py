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

__all__ = [
    "Message",
    "bootstrap_servers",
    "check_topic",
    "check_messages",
    "check_keys_in_one_partition",
    "check_group_offsets",
    "check_json_messages",
    "check_mongo_collection",
    "consumer_group_lag",
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
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers(),
            client_id="autograder",
            request_timeout_ms=TIMEOUT_MS,
            bootstrap_timeout_ms=TIMEOUT_MS,
        )
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
    """Partition -> replica broker ids of ``topic``, or None when it does not exist."""
    with _admin() as admin:
        described = admin.describe_topics([topic])
    if not described or described[0].get("error_code"):
        return None
    return {p["partition_index"]: list(p["replica_nodes"]) for p in described[0]["partitions"]}


def _existing_topics() -> list[str]:
    with _admin() as admin:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))


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
    from kafka import KafkaConsumer, TopicPartition

    found = topic_partitions(topic)
    if found is None:
        raise AssertionError(f"El topic «{topic}» no existe en el clúster.")
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(),
        client_id="autograder",
        enable_auto_commit=False,
        request_timeout_ms=max(TIMEOUT_MS, 6000),
        consumer_timeout_ms=1000,
    )
    try:
        assigned = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        remaining = {tp for tp, end in ends.items() if end > 0}
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    messages.append(
                        Message(
                            record.partition,
                            record.offset,
                            _text(record.key),
                            _text(record.value) or "",
                        )
                    )
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        if remaining:
            raise AssertionError(
                f"No he podido leer todos los mensajes de «{topic}» en {timeout_s:g} s."
            )
        return sorted(messages, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")


def check_messages(
    topic: str, *, at_least: int = 1, containing: str | None = None
) -> list[Message]:
    """At least ``at_least`` messages, and one whose value contains ``containing``."""
    messages = read_messages(topic)
    if len(messages) < at_least:
        raise AssertionError(
            f"El topic «{topic}» debería tener al menos {at_least} mensajes y tiene "
            f"{len(messages)}."
        )
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
    """Partition -> (committed offset, log end offset) of ``group`` on ``topic``."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    found = topic_partitions(topic)
    if found is None:
        raise AssertionError(f"El topic «{topic}» no existe en el clúster.")
    with _admin() as admin:
        try:
            committed = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError as error:
            raise AssertionError(
                f"No he podido leer los offsets del grupo «{group}»: {error}."
            ) from None
    offsets = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(), request_timeout_ms=max(TIMEOUT_MS, 6000)
    )
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in found])
    finally:
        consumer.close()
    return {
        tp.partition: (offsets.get(tp.partition, -1), end)
        for tp, end in sorted(ends.items(), key=lambda item: item[0].partition)
    }


def check_group_offsets(group: str, topic: str, *, total_lag: int | None = None) -> int:
    """The group committed offsets on the topic; its total LAG is ``total_lag`` if given."""
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
    lag = sum(end - max(c, 0) for c, end in offsets.values())
    if total_lag is not None and lag != total_lag:
        table = ", ".join(f"p{p}: {c}/{end}" for p, (c, end) in offsets.items())
        raise AssertionError(
            f"El LAG total del grupo «{group}» en «{topic}» debería ser {total_lag} (los "
            f"mensajes enviados con los consumidores parados) y es {lag}. Offsets "
            f"(confirmado/final): {table}."
        )
    return lag


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
    messages = read_messages(topic)
    if len(messages) < at_least:
        raise AssertionError(
            f"El topic «{topic}» debería tener al menos {at_least} mensajes y tiene "
            f"{len(messages)}."
        )
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
