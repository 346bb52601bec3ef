"""Broker failures on purpose: leader election, ISR, and no loss with acks=all."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from kafkalab import Cluster

from .test_cli import describe_partitions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with Cluster.start(brokers=3, progress=False) as started:
        yield started


def wait_for(condition, timeout=30.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_stopping_the_leader_moves_leadership_and_shrinks_the_isr(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 3")
    (before,) = describe_partitions(cluster, topic)
    leader = int(before["Leader"])
    assert sorted(before["Isr"].split(",")) == ["1", "2", "3"]

    cluster.stop_broker(leader)
    assert cluster.broker(leader).state == "stopped"
    (after,) = describe_partitions(cluster, topic)
    assert int(after["Leader"]) != leader
    assert str(leader) not in after["Isr"].split(",")
    assert str(leader) in after["Replicas"].split(",")

    cluster.start_broker(leader)
    rejoined = wait_for(
        lambda: str(leader) in describe_partitions(cluster, topic)[0]["Isr"].split(",")
    )
    assert rejoined, describe_partitions(cluster, topic)


def test_acks_all_loses_nothing_when_a_broker_is_killed(cluster, topic):
    cluster.run(
        f"kafka-topics.sh --create --topic {topic} --partitions 3 --replication-factor 3 "
        "--config min.insync.replicas=2"
    )
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        value_serializer=lambda value: json.dumps(value).encode(),
    )
    victim = 2
    futures = []
    for i in range(10_000):
        futures.append(producer.send(topic, value=i))
        if i == 3_000:
            cluster.kill_broker(victim)
    producer.flush(timeout=120)
    producer.close()
    assert cluster.broker(victim).state == "killed"
    assert all(future.succeeded() for future in futures)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
        value_deserializer=lambda raw: json.loads(raw.decode()),
    )
    seen = set()
    try:
        for record in consumer:
            seen.add(record.value)
            if len(seen) == 10_000:
                break
    finally:
        consumer.close()
    assert seen == set(range(10_000))
    cluster.start_broker(victim)
    assert cluster.broker(victim).state == "running"
