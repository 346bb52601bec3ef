"""The end-of-lesson self-check and its readers, on a real 3-broker cluster."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer

import kafkalab
from kafkalab import KafkaLabError
from kafkalab.exercises import PASSED


def produce(cluster, topic: str, records: list[tuple[str, str]], **options) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, **options)
    for key, value in records:
        producer.send(topic, value.encode(), key=key.encode())
    producer.flush()
    producer.close()


def test_topic_info_describes_partitions_replicas_and_own_settings(cluster3, topic):
    cluster3.run(
        f"kafka-topics.sh --create --topic {topic} --partitions 3 --replication-factor 2 "
        "--config retention.ms=60000"
    )
    info = kafkalab.topic_info(topic, cluster=cluster3)
    assert (info.name, info.partitions, info.replication_factor) == (topic, 3, 2)
    assert info.configs["retention.ms"] == "60000"
    assert sorted(info.leaders) == [0, 1, 2] and set(info.leaders.values()) <= {1, 2, 3}
    assert all(len(replicas) == 2 for replicas in info.isr.values())
    assert topic in kafkalab.topic_info(cluster=cluster3)
    assert not any(name.startswith("__") for name in kafkalab.topic_info(cluster=cluster3))


def test_read_topic_returns_every_record_in_partition_order_and_ends(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    sent = [(f"k{n % 3}", f"v{n}") for n in range(30)]
    produce(cluster3, topic, sent)
    began = time.monotonic()
    records = kafkalab.read_topic(topic, cluster=cluster3)
    assert time.monotonic() - began < 10
    assert sorted(r.value.decode() for r in records) == sorted(v for _, v in sent)
    assert [r.partition for r in records] == sorted(r.partition for r in records)
    for partition in {r.partition for r in records}:
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == list(range(len(offsets)))
    cluster3.run(f"kafka-topics.sh --create --topic {topic}-vacio")
    assert kafkalab.read_topic(f"{topic}-vacio", cluster=cluster3, timeout=3) == []


def test_read_topic_passes_consumer_options(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    produce(cluster3, topic, [("a", "1"), ("b", "2")])
    values = kafkalab.read_topic(topic, cluster=cluster3, value_deserializer=bytes.decode)
    assert [r.value for r in values] == ["1", "2"]


def test_missing_topics_fail_a_check_with_a_spanish_hint(cluster3, topic):
    with pytest.raises(AssertionError, match=f"no existe el topic «{topic}»"):
        kafkalab.topic_info(topic, cluster=cluster3)
    with pytest.raises(AssertionError, match=f"no existe el topic «{topic}»"):
        kafkalab.read_topic(topic, cluster=cluster3, timeout=3)
    assert topic not in kafkalab.topic_info(cluster=cluster3)  # reading did not create it


def test_self_check_marks_each_check_and_never_raises(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic}")

    def hint():
        raise AssertionError("crea antes el topic")

    result = kafkalab.self_check(
        ("existe el topic", lambda: topic in kafkalab.topic_info(cluster=cluster3)),
        ("falso", lambda: 0),
        ("con pista", hint),
        ("falla al comprobar", lambda: 1 / 0),
        ("topic ausente", lambda: kafkalab.topic_info(f"{topic}-no", cluster=cluster3)),
    )
    assert not result.passed
    assert [r.passed for r in result.results] == [True, False, False, False, False]
    text = repr(result)
    assert "✔ existe el topic\n  ✘ falso\n  ✘ con pista — crea antes el topic" in text
    assert "✘ falla al comprobar — no se pudo comprobar (ZeroDivisionError" in text
    assert f"✘ topic ausente — no existe el topic «{topic}-no»" in text
    assert text.endswith("Todavía no: 4 de 5 comprobaciones sin cumplir.")
    page = result._repr_html_()
    assert "✘" in page and "Todavía no" in page and "<script" not in page

    passed = kafkalab.self_check(("existe", lambda: topic in kafkalab.topic_info(cluster=cluster3)))
    assert passed.passed and repr(passed).endswith(PASSED)


def test_self_check_needs_at_least_one_check():
    with pytest.raises(KafkaLabError, match="al menos una comprobación"):
        kafkalab.self_check()


def test_read_topic_can_skip_aborted_transactions(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    producer = KafkaProducer(
        bootstrap_servers=cluster3.bootstrap_servers, transactional_id=f"{topic}-tx"
    )
    producer.init_transactions()
    for value, keep in (("1", True), ("2", False), ("3", True)):
        producer.begin_transaction()
        producer.send(topic, value.encode())
        producer.flush()  # an abort drops what is not sent yet: this one reaches the log
        if keep:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()
    committed = kafkalab.read_topic(topic, cluster=cluster3, isolation_level="read_committed")
    everything = kafkalab.read_topic(topic, cluster=cluster3)
    assert [r.value for r in committed] == [b"1", b"3"]
    assert [r.value for r in everything] == [b"1", b"2", b"3"]
