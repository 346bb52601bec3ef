"""The autograder's checks against a real cluster: what passes, and the Spanish failures."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

import autograder


@pytest.fixture
def on_cluster(cluster3, monkeypatch):
    monkeypatch.setenv("KAFKALAB_BOOTSTRAP_SERVER", cluster3.bootstrap_servers)
    return cluster3


def _produce(cluster, topic, records):
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers)
    for key, value in records:
        producer.send(topic, key=key and key.encode(), value=value.encode())
    producer.flush()
    producer.close()


def test_topic_check_says_what_was_expected_and_found(on_cluster, topic):
    with pytest.raises(AssertionError, match=f"El topic «{topic}» no existe"):
        autograder.check_topic(topic)
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    autograder.check_topic(topic, partitions=3, replication_factor=1)
    with pytest.raises(AssertionError, match="debería tener 4 particiones y tiene 3"):
        autograder.check_topic(topic, partitions=4)
    with pytest.raises(AssertionError, match="factor de replicación 2 y tiene 1"):
        autograder.check_topic(topic, replication_factor=2)


def test_messages_and_keys(on_cluster, topic):
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    _produce(on_cluster, topic, [("ana", "hola de Ana"), ("luis", "hola"), ("ana", "adiós")])
    messages = autograder.check_messages(topic, at_least=3, containing="ANA")
    assert len(messages) == 3
    with pytest.raises(AssertionError, match="Ningún mensaje .* contiene «Eva»"):
        autograder.check_messages(topic, containing="Eva")
    with pytest.raises(AssertionError, match="al menos 4 mensajes y tiene 3"):
        autograder.check_messages(topic, at_least=4)
    partitions = autograder.check_keys_in_one_partition(topic)
    assert set(partitions) == {"ana", "luis"}


def test_keys_from_the_console_producer_with_the_new_and_the_old_option(on_cluster, topic):
    """Activity 2 teaches --reader-property (Kafka 4.2, KIP-1147); a student who follows the
    syllabus writes --property, which still works with a warning: the grader reads the keys
    in the cluster, so both pass."""
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 4")
    producer = f"kafka-console-producer.sh --topic {topic} "
    new = on_cluster.run(
        producer + "--reader-property parse.key=true --reader-property key.separator=:",
        input="ana:uno\nluis:dos\n",
    )
    old = on_cluster.run(
        producer + "--property parse.key=true --property key.separator=:",
        input="ana:tres\neva:cuatro\n",
    )
    assert "deprecated" not in new.stdout + new.stderr
    warning = "--property is deprecated and will be removed in a future version. Use "
    assert warning + "--reader-property instead." in old.stdout + old.stderr
    assert {m.key for m in autograder.read_messages(topic)} == {"ana", "luis", "eva"}
    assert set(autograder.check_keys_in_one_partition(topic)) == {"ana", "luis", "eva"}


def test_keys_spread_over_partitions_fail(on_cluster, topic):
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    producer = KafkaProducer(bootstrap_servers=on_cluster.bootstrap_servers)
    for partition in (0, 1):
        producer.send(topic, key=b"ana", value=b"x", partition=partition)
    producer.send(topic, key=b"eva", value=b"y", partition=0)
    producer.flush()
    producer.close()
    with pytest.raises(AssertionError, match="misma partición.*'ana': \\[0, 1\\]"):
        autograder.check_keys_in_one_partition(topic)


def test_group_offsets_and_lag(on_cluster, topic):
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    group = f"grupo-{topic}"
    with pytest.raises(AssertionError, match=f"No existe el grupo de consumidores «{group}»"):
        autograder.check_group_offsets(group, topic)
    _produce(on_cluster, topic, [(f"k{i}", f"v{i}") for i in range(6)])
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=on_cluster.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    read = sum(1 for _ in zip(range(6), consumer, strict=False))
    consumer.commit()
    consumer.close()
    assert read == 6
    _produce(on_cluster, topic, [("k0", "tarde"), ("k1", "más tarde")])
    assert autograder.check_group_offsets(group, topic, total_lag=2) == 2
    with pytest.raises(AssertionError, match="debería ser 1 .* y es 2"):
        autograder.check_group_offsets(group, topic, total_lag=1)


def test_json_messages_check_names_the_wrong_field(on_cluster, topic):
    on_cluster.run(f"kafka-topics.sh --create --topic {topic}")
    person = {
        "nombre": "Ana",
        "edad": 30,
        "calle": "Mayor 1",
        "ciudad": "Elche",
        "provincia": "Alicante",
        "cp": "03201",
        "longitud": -0.7,
        "latitud": 38.2,
    }
    _produce(on_cluster, topic, [(None, json.dumps(person))])
    assert autograder.check_json_messages(topic, autograder.PERSON_FIELDS) == [person]
    _produce(on_cluster, topic, [(None, json.dumps({**person, "edad": "30"}))])
    with pytest.raises(AssertionError, match="«edad» debería ser entero y es '30'"):
        autograder.check_json_messages(topic, autograder.PERSON_FIELDS)
    _produce(on_cluster, topic, [(None, "no soy json")])
    with pytest.raises(AssertionError, match="no es JSON"):
        autograder.check_json_messages(topic, {"nombre": str})


def test_topic_name_helper_makes_valid_names(on_cluster):
    name = autograder.topic_name("iabd-topic", "  José Martínez Ñúñez ")
    assert name == "iabd-topic-jose-martinez-nunez"
    on_cluster.run(f"kafka-topics.sh --create --topic {name}")
    autograder.check_topic(name)


def test_checks_fail_fast_when_no_cluster_answers(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("KAFKALAB_BOOTSTRAP_SERVER", raising=False)
    with pytest.raises(AssertionError, match="No encuentro el clúster"):
        autograder.check_topic("x")
    monkeypatch.setenv("KAFKALAB_BOOTSTRAP_SERVER", "127.0.0.1:1")
    began = time.monotonic()
    with pytest.raises(AssertionError, match="No puedo conectar con Kafka"):
        autograder.check_topic("x")
    assert time.monotonic() - began < 30
