"""Kafka Connect with the MongoDB sink, for real: a 1-broker cluster, a real mongod, the
worker's JVM from the locked jars. No mocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kafka import KafkaProducer

from kafkalab import Cluster, ConnectWorker, KafkaLabError, Mongo, start_mongo_sink
from kafkalab.errors import ConnectError
from tests.support.kafka import wait_for
from tests.support.processes import listening_sockets, process_gone, processes_mentioning

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster1():
    with Cluster.start(brokers=1, progress=False) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def mongo():
    with Mongo.start(backend="local", server="mongod", progress=False) as server:
        yield server


def _send(cluster, topic: str, messages: list[tuple[str | None, object]]) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers)
    for key, value in messages:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        producer.send(topic, key=None if key is None else key.encode(), value=raw)
    producer.flush()
    producer.close()


def test_every_message_reaches_mongodb_one_document_per_key_and_stop_leaves_nothing(
    cluster1, mongo, topic, capsys
):
    cluster1.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    people = [(f"{n % 25:08d}Z", {"dni": f"{n % 25:08d}Z", "version": n}) for n in range(40)]
    _send(cluster1, topic, people)

    sink = start_mongo_sink(
        topic, mongo, database="prueba", collection="personas", cluster=cluster1, name="copia"
    )
    assert isinstance(sink, ConnectWorker)
    assert "Kafka Connect: conector «copia» en marcha" in capsys.readouterr().out
    status = sink.status()
    assert status["connector"]["state"] == "RUNNING"
    assert [task["state"] for task in status["tasks"]] == ["RUNNING"]
    pid = sink.pid
    assert pid and sink.rest_url.startswith("http://127.0.0.1:")
    assert listening_sockets([pid]) == [sink.rest_url.removeprefix("http://")]

    assert sink.wait_until_caught_up(timeout=60) == 40
    collection = mongo.client()["prueba"]["personas"]
    assert collection.count_documents({}) == 25  # one per DNI ...
    for dni in ("00000000Z", "00000014Z", "00000024Z"):  # ... with its newest version
        newest = max(n for n in range(40) if n % 25 == int(dni[:8]))
        assert collection.find_one({"_id": dni}) == {"_id": dni, "dni": dni, "version": newest}

    # A message that arrives later goes in as well, replacing its person's document.
    _send(cluster1, topic, [("00000003Z", {"dni": "00000003Z", "version": 99})])
    assert sink.wait_until_caught_up(timeout=60) == 41
    assert collection.find_one({"_id": "00000003Z"})["version"] == 99
    assert collection.count_documents({}) == 25

    folder = sink.folder
    sink.stop()
    assert process_gone(pid) and not sink.running
    assert not folder.exists()
    assert not processes_mentioning(str(folder))
    sink.stop()  # twice is fine


def test_without_a_key_the_offset_gives_one_document_per_message(cluster1, mongo, topic):
    cluster1.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    _send(cluster1, topic, [(None, {"nombre": f"persona {n}", "edad": 20 + n}) for n in range(12)])
    with start_mongo_sink(
        topic,
        mongo,
        database="prueba",
        collection=topic,
        document_id="offset",
        cluster=cluster1,
        progress=False,
    ) as sink:
        assert sink.wait_until_caught_up(timeout=60) == 12
        documents = list(mongo.client()["prueba"][topic].find())
    assert len(documents) == 12
    assert {doc["_id"].rsplit("#", 2)[0] for doc in documents} == {topic}


def test_a_failure_is_explained_in_spanish_and_closing_the_cluster_stops_the_worker(mongo):
    with Cluster.start(brokers=1, progress=False) as cluster:
        with pytest.raises(KafkaLabError, match="document_id='dni' no vale"):
            start_mongo_sink("texto", mongo, document_id="dni", cluster=cluster)
        cluster.run("kafka-topics.sh --create --topic texto")
        _send(cluster, "texto", [("a", b"esto no es JSON")])
        sink = start_mongo_sink("texto", mongo, cluster=cluster, progress=False)
        pid = sink.pid
        with pytest.raises(ConnectError) as failure:
            sink.wait_until_caught_up(timeout=60)
        message = str(failure.value)
        assert "El conector «texto-a-mongodb» ha fallado" in message
        assert "no es JSON" in message
        assert "\tat " not in message  # no Java stack
        assert failure.value._render_traceback_()[1:] == message.splitlines()
    assert wait_for(lambda: process_gone(pid), timeout=30), "the worker outlived its cluster"
    assert not sink.folder.exists()


def test_the_worker_dies_with_the_python_process_that_started_it(cluster1, mongo, topic):
    """A killed kernel takes its worker along: the guard kills the JVM, deletes its folder."""
    script = textwrap.dedent(
        f"""
        from kafkalab import Cluster, start_mongo_sink
        cluster = Cluster.start(backend="external", progress=False)
        sink = start_mongo_sink({topic!r}, {mongo.uri!r}, cluster=cluster, progress=False)
        print(sink.pid, sink.folder, flush=True)
        input()
        """
    )
    environment = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": cluster1.bootstrap_servers}
    cluster1.run(f"kafka-topics.sh --create --topic {topic}")
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        pid, folder = owner.stdout.readline().split()
        assert not process_gone(int(pid))
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
        assert wait_for(lambda: process_gone(int(pid)), timeout=30), "the worker outlived its owner"
        assert wait_for(lambda: not Path(folder).exists(), timeout=30)
    finally:
        owner.kill()
        owner.wait()
