"""A class's shared Kafka (kafkalab.classroom): each student logs in with their own password and
Kafka's ACLs keep them to their own prefix. Real brokers, the real tools, real kafka-python."""

from __future__ import annotations

import contextlib

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import TopicAuthorizationFailedError

import kafkalab
from kafkalab import Cluster, start_classroom
from kafkalab.errors import CommandError, KafkaLabError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classroom():
    with start_classroom(["ana", "luis"]) as kafka:
        yield kafka


@contextlib.contextmanager
def as_student(classroom, student, tmp_path, monkeypatch):
    """The external backend, as ``student`` would have it in their container."""
    config = classroom.write_client_config(student, tmp_path / f"{student}.properties")
    with monkeypatch.context() as env:
        env.setenv("KAFKA_BOOTSTRAP_SERVERS", classroom.servers)
        env.setenv("KAFKALAB_CLIENT_CONFIG", str(config))
        with Cluster.start(backend="external", progress=False) as cluster:
            yield cluster


def test_a_student_cannot_read_write_delete_or_list_anothers_topics(
    classroom, tmp_path, monkeypatch
):
    with as_student(classroom, "luis", tmp_path, monkeypatch) as luis:
        luis.run("kafka-topics.sh --create --topic luis.pedidos --partitions 1")
        luis.run("kafka-console-producer.sh --topic luis.pedidos", input="secreto de luis\n")
        with as_student(classroom, "ana", tmp_path, monkeypatch) as ana:
            try_to_reach_luis(ana)
        # luis's topic is as he left it
        read = luis.run(
            "kafka-console-consumer.sh --topic luis.pedidos --from-beginning --max-messages 5 "
            "--timeout-ms 5000",
            check=False,
        )
        assert read.stdout.splitlines() == ["secreto de luis"], read.output


def try_to_reach_luis(ana):
    assert "luis.pedidos" not in ana.run("kafka-topics.sh --list").stdout
    # Reading: refused (the console consumer itself ends with code 0: kafkalab says so)
    with pytest.raises(CommandError, match="Kafka no te deja usar el topic") as refused:
        ana.run(
            "kafka-console-consumer.sh --topic luis.pedidos --from-beginning "
            "--max-messages 1 --timeout-ms 8000"
        )
    assert "«ana.pedidos»" in str(refused.value)
    assert "secreto de luis" not in str(refused.value)
    # Deleting or describing: for ana the topic does not exist at all
    for command in ("--delete", "--describe"):
        with pytest.raises(CommandError, match="los topics de los demás no se ven"):
            ana.run(f"kafka-topics.sh {command} --topic luis.pedidos")

    # Writing: the console producer and kafka-python's producer are both refused.
    with pytest.raises(CommandError, match="Kafka no te deja usar el topic"):
        ana.run("kafka-console-producer.sh --topic luis.pedidos", input="intruso\n")
    producer = KafkaProducer(bootstrap_servers=ana.bootstrap_servers, max_block_ms=8000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send("luis.pedidos", b"intruso").get(timeout=10)
    finally:
        producer.close()


def test_a_student_works_freely_under_their_own_prefix(classroom, tmp_path, monkeypatch):
    with as_student(classroom, "ana", tmp_path, monkeypatch) as ana:
        ana.run("kafka-topics.sh --create --topic ana.pedidos --partitions 2")
        # kafka-python logs in with the same credentials, without being told
        producer = KafkaProducer(bootstrap_servers=ana.bootstrap_servers)
        for number in range(3):
            producer.send("ana.pedidos", f"pedido {number}".encode())
        producer.flush()
        producer.close()
        consumer = KafkaConsumer(
            "ana.pedidos",
            bootstrap_servers=ana.bootstrap_servers,
            group_id="ana.lectores",
            auto_offset_reset="earliest",
            consumer_timeout_ms=10000,
        )
        values = sorted(message.value.decode() for message in consumer)
        consumer.close()
        assert values == ["pedido 0", "pedido 1", "pedido 2"]
        described = ana.run("kafka-consumer-groups.sh --describe --group ana.lectores")
        assert "ana.pedidos" in described.stdout

        # A group outside the prefix, or a topic without it, is refused in Spanish.
        with pytest.raises(CommandError, match="Kafka no te deja usar el grupo"):
            ana.run(
                "kafka-console-consumer.sh --topic ana.pedidos --group lectores "
                "--from-beginning --max-messages 1 --timeout-ms 8000"
            )
        with pytest.raises(CommandError, match="Kafka no te deja usar"):
            ana.run("kafka-topics.sh --create --topic pedidos --partitions 1")
        with pytest.raises(KafkaLabError, match="no se pueden parar"):
            ana.stop_broker(1)

    # kafka-python's defaults are back to no credentials once the cluster is closed
    assert KafkaProducer.DEFAULT_CONFIG["sasl_plain_username"] is None
    assert KafkaProducer.DEFAULT_CONFIG["security_protocol"] == "PLAINTEXT"


def test_a_wrong_password_is_refused_in_spanish(classroom, tmp_path):
    config = tmp_path / "mal.properties"
    right = classroom.passwords["ana"]
    config.write_text(classroom.client_properties("ana").replace(right, "no-es-la-suya"))
    with pytest.raises(CommandError, match="Kafka no acepta tu usuario o tu clave"):
        classroom.cluster.run(
            [
                "kafka-topics.sh",
                "--bootstrap-server",
                classroom.servers,
                "--command-config",
                str(config),
                "--list",
            ],
            timeout=60,
        )


def test_a_lesson_that_stops_brokers_says_so_and_gets_a_cluster_of_its_own(
    classroom, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", classroom.servers)
    config = classroom.write_client_config("ana", tmp_path / "ana.properties")
    monkeypatch.setenv("KAFKALAB_CLIENT_CONFIG", str(config))
    monkeypatch.delenv("KAFKALAB_BACKEND", raising=False)
    shared = kafkalab.start_cluster(1, progress=False)
    try:
        assert shared.backend == "external"
        own = kafkalab.start_cluster(1, stops_brokers=True, progress=False)
        try:
            assert own.backend == "local"
            assert "necesita un clúster propio" in capsys.readouterr().out
            own.stop_broker(1)  # its own: allowed
        finally:
            own.close()
    finally:
        shared.close()
