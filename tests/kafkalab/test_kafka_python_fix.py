"""kafka-python against the real cluster: JSON, keys and partitions, groups and lag."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.slow


def json_producer(cluster, **options):
    return KafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        value_serializer=lambda value: json.dumps(value).encode(),
        key_serializer=lambda key: key.encode() if key is not None else None,
        **options,
    )


def consume_all(cluster, topic, expected, **options):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        value_deserializer=lambda raw: json.loads(raw.decode()),
        consumer_timeout_ms=10000,
        **options,
    )
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) == expected:
                break
    finally:
        consumer.close()
    return records


def test_json_producer_and_consumer(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    producer = json_producer(cluster3)
    for i in range(10):
        producer.send(topic, value={"nombre": f"producer {i}"})
    producer.flush()  # instead of sleeping: returns once every message is acknowledged
    producer.close()
    records = consume_all(cluster3, topic, 10, group_id="iabd-grupo-1")
    assert [r.value for r in records] == [{"nombre": f"producer {i}"} for i in range(10)]


def test_same_key_always_lands_in_the_same_partition(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    producer = json_producer(cluster3)
    partitions: dict[str, set[int]] = {}
    for i in range(60):
        key = f"pedido-{i % 6}"
        metadata = producer.send(topic, key=key, value={"n": i}).get(timeout=30)
        partitions.setdefault(key, set()).add(metadata.partition)
    producer.close()
    assert all(len(found) == 1 for found in partitions.values()), partitions
    assert len(set().union(*partitions.values())) > 1  # six keys do not all hash alike

    records = consume_all(cluster3, topic, 60)
    for key, found in partitions.items():
        assert {r.partition for r in records if r.key.decode() == key} == found


def test_group_offsets_and_lag_after_consumers_stop(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    group = f"grupo-{topic}"
    producer = json_producer(cluster3)
    for i in range(8):
        producer.send(topic, key=f"k{i}", value=i)
    producer.flush()

    records = consume_all(cluster3, topic, 8, group_id=group)
    assert sorted(r.value for r in records) == list(range(8))
    for i in range(5):  # sent while nobody in the group is consuming
        producer.send(topic, key=f"late{i}", value=100 + i)
    producer.flush()
    producer.close()

    described = cluster3.run(f"kafka-consumer-groups.sh --describe --group {group}").output
    assert "has no active members" in described
    rows = [line.split() for line in described.splitlines() if line.startswith(group)]
    assert sum(int(row[5]) for row in rows) == 5
    assert sum(int(row[3]) for row in rows) == 8

    # The same numbers, straight from the committed offsets.
    consumer = KafkaConsumer(bootstrap_servers=cluster3.bootstrap_servers, group_id=group)
    try:
        parts = [TopicPartition(topic, p) for p in (0, 1)]
        committed = sum(consumer.committed(tp) or 0 for tp in parts)
        end = sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()
    assert (committed, end) == (8, 13)


def test_scripts_get_the_kafka_python_group_join_fix_without_importing_kafkalab():
    """The .pth hook of `kafkalab install` patches kafka-python in any program of the venv."""
    code = (
        "import sys, kafka.coordinator.base as base\n"
        "assert 'kafkalab' not in sys.modules\n"
        "print(getattr(base.BaseCoordinator.need_rejoin, 'kafkalab_fix', False))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr


def test_two_consumers_of_a_new_topic_share_it_every_time(cluster3):
    """kafka-python 3.0 could leave the leader of a new group stuck without partitions."""
    for attempt in range(3):
        topic = f"reparto-{attempt}-{uuid.uuid4().hex[:6]}"
        cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 4")
        stop = threading.Event()
        assigned = {"ana": [], "luis": []}

        def member(name, topic=topic, stop=stop, assigned=assigned):
            consumer = KafkaConsumer(
                topic,
                bootstrap_servers=cluster3.bootstrap_servers,
                group_id=f"grupo-{topic}",
                client_id=name,
            )
            try:
                while not stop.is_set():
                    consumer.poll(timeout_ms=200)
                    assigned[name] = sorted(tp.partition for tp in consumer.assignment())
            finally:
                consumer.close()

        threads = [threading.Thread(target=member, args=(name,)) for name in assigned]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        try:
            while sorted(map(len, assigned.values())) != [2, 2] and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert sorted(map(len, assigned.values())) == [2, 2], assigned
