"""What only the docker backend has: containers, an engine that may be missing, images."""

from __future__ import annotations

import socket

import docker
import pytest

from kafkalab import Cluster, Mongo
from kafkalab.errors import CommandError, DockerUnavailableError

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_cli_runs_in_a_container_on_the_docker_network(docker_cluster3):
    assert docker_cluster3.internal_bootstrap_servers == (
        "kafka-1:19092,kafka-2:19092,kafka-3:19092"
    )
    assert docker_cluster3.image in repr(docker_cluster3)


def test_a_tool_that_runs_too_long_is_killed_inside_the_container(docker_cluster3, topic):
    docker_cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    with pytest.raises(CommandError, match="--max-messages"):
        docker_cluster3.run(f"kafka-console-consumer.sh --topic {topic}", timeout=4)
    # docker exec has no kill of its own: the consumer's JVM must not go on in the container.
    engine = docker.from_env()
    try:
        container = engine.containers.get(docker_cluster3.broker(1).container_id)
        rows = container.top(ps_args="-eo pid,args")["Processes"]
    finally:
        engine.close()
    processes = [" ".join(row) for row in rows]
    assert not [p for p in processes if "ConsoleConsumer" in p and topic in p], processes


@pytest.fixture
def no_docker_engine(tmp_path, monkeypatch):
    """DOCKER_HOST at a unix socket nobody listens on."""
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


def test_without_an_engine_the_error_is_spanish_and_says_what_to_do(no_docker_engine, monkeypatch):
    with pytest.raises(DockerUnavailableError) as raised:
        Cluster.start(brokers=1, backend="docker", progress=False)
    message = str(raised.value)
    assert "ningún motor de Docker responde" in message
    assert str(no_docker_engine) in message
    assert "backend='local'" in message
    with pytest.raises(DockerUnavailableError, match="ningún motor de Docker responde"):
        Mongo.start(backend="docker")
    # backend="auto" follows $KAFKALAB_BACKEND.
    monkeypatch.setenv("KAFKALAB_BACKEND", "docker")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(DockerUnavailableError):
        Cluster.start(brokers=1, progress=False)


def test_an_image_that_cannot_be_had_is_explained():
    with pytest.raises(DockerUnavailableError) as raised:
        Cluster.start(1, backend="docker", image="kafkalab/no-existe:0", progress=False)
    message = str(raised.value)
    assert "La imagen «kafkalab/no-existe:0» no está en este Docker" in message
    assert "images/build.sh" in message
    engine = docker.from_env()
    try:
        assert not engine.containers.list(all=True, filters={"ancestor": "kafkalab/no-existe:0"})
    finally:
        engine.close()


def test_kafka_connect_sinks_a_docker_clusters_topic_into_mongodb(docker_cluster3, topic):
    """The Connect worker runs on this machine with the course's Java and reaches the docker
    brokers through their published 127.0.0.1 ports, like every other client."""
    from kafka import KafkaProducer

    from kafkalab import Mongo, start_mongo_sink

    docker_cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    producer = KafkaProducer(bootstrap_servers=docker_cluster3.bootstrap_servers)
    for number in range(12):
        key = f"k{number % 4}"
        producer.send(topic, key=key.encode(), value=f'{{"n": {number}}}'.encode())
    producer.flush()
    producer.close()
    with Mongo.start(backend="local", progress=False) as mongo:
        worker = start_mongo_sink(topic, mongo, cluster=docker_cluster3, progress=False)
        try:
            assert worker.wait_until_caught_up() == 12
            documents = {d["_id"]: d["n"] for d in mongo.client()["curso"][topic].find()}
        finally:
            worker.stop()
    assert documents == {"k0": 8, "k1": 9, "k2": 10, "k3": 11}
