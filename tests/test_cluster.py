"""Cluster lifecycle on real brokers: start, readiness, close, errors, sockets, kcat."""

from __future__ import annotations

import re
import subprocess

import pytest
from kafka import KafkaAdminClient

from kafkalab import Cluster
from kafkalab.errors import BrokerStartError, CommandError, KafkaLabError, UnknownBrokerError

from .conftest import java_processes_mentioning, listening_sockets

pytestmark = pytest.mark.slow


def test_one_broker_starts_serves_metadata_and_closes_without_a_trace():
    cluster = Cluster.start(brokers=1, progress=False)
    root = cluster._root
    try:
        assert cluster.bootstrap_servers.startswith("127.0.0.1:")
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            assert [b["broker_id"] for b in admin.describe_cluster()["brokers"]] == [1]
        finally:
            admin.close()
        assert java_processes_mentioning(str(root))
        assert "1*@" in repr(cluster) and "en marcha" in repr(cluster)
    finally:
        cluster.close()
    assert not root.exists()
    assert java_processes_mentioning(str(root)) == []
    assert "cerrado" in repr(cluster)
    cluster.close()  # twice is fine


def test_three_brokers_form_a_three_controller_quorum(cluster3):
    assert [b.node_id for b in cluster3.brokers] == [1, 2, 3]
    assert all(b.controller and b.state == "running" for b in cluster3.brokers)
    quorum = cluster3.run("kafka-metadata-quorum.sh describe --status").stdout
    voters = next(line for line in quorum.splitlines() if line.startswith("CurrentVoters"))
    assert sorted(int(i) for i in re.findall(r'"id":\s*(\d+)', voters)) == [1, 2, 3]


def test_five_brokers_keep_three_controllers():
    with Cluster.start(brokers=5, progress=False) as cluster:
        assert [b.controller for b in cluster.brokers] == [True, True, True, False, False]
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            ids = sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"])
        finally:
            admin.close()
        assert ids == [1, 2, 3, 4, 5]


def test_internal_topics_are_sized_to_the_broker_count(cluster3):
    config = (cluster3.brokers[0].directory / "server.properties").read_text()
    assert "offsets.topic.replication.factor=3" in config
    assert "transaction.state.log.min.isr=2" in config


def test_every_listening_socket_is_on_loopback(cluster3):
    pids = [b.java_pid for b in cluster3.brokers]
    assert all(pids)
    addresses = listening_sockets(pids)
    # Each broker listens for clients and, being a controller, for the quorum.
    assert len(addresses) == 6
    assert all(address.startswith("127.0.0.1:") for address in addresses), addresses


def test_kcat_a_client_we_did_not_write_sees_brokers_and_topics(cluster3, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    listing = subprocess.run(
        ["kcat", "-b", cluster3.bootstrap_servers, "-L"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "3 brokers:" in listing
    for broker in cluster3.brokers:
        assert f"broker {broker.node_id} at 127.0.0.1:{broker.port}" in listing
    assert f'topic "{topic}" with 2 partitions' in listing


def test_a_second_cluster_in_the_same_process_is_independent(cluster3):
    with Cluster.start(brokers=1, progress=False) as other:
        assert set(other.bootstrap_servers.split(",")).isdisjoint(
            cluster3.bootstrap_servers.split(",")
        )
        other.run("kafka-topics.sh --create --topic only-in-other")
        assert "only-in-other" not in cluster3.run("kafka-topics.sh --list").stdout
    assert cluster3.run("kafka-topics.sh --list").returncode == 0


def test_replication_factor_above_live_brokers_is_explained(cluster3, topic):
    with pytest.raises(CommandError) as raised:
        cluster3.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 4")
    message = str(raised.value)
    assert "factor de replicación pedido (4)" in message
    assert "brokers vivos (3)" in message
    assert raised.value.result.returncode != 0


def test_invalid_topic_name_says_which_characters_are_allowed(cluster3):
    with pytest.raises(CommandError) as raised:
        cluster3.run("kafka-topics.sh --create --topic iabd-topic-José")
    message = str(raised.value)
    assert "«iabd-topic-José» no es válido" in message
    assert "(a-z, A-Z)" in message and "guion bajo (_)" in message and "punto (.)" in message


def test_unknown_broker_id_lists_the_real_ones(cluster3):
    with pytest.raises(UnknownBrokerError) as raised:
        cluster3.stop_broker(7)
    assert "No existe el broker 7" in str(raised.value)
    assert "1, 2, 3" in str(raised.value)


def test_unknown_tool_and_wrong_sizes_are_explained(cluster3):
    with pytest.raises(KafkaLabError, match="No conozco la herramienta"):
        cluster3.run("kafka-nothing.sh --list")
    with pytest.raises(KafkaLabError, match="de 1 a 5 brokers"):
        Cluster.start(brokers=6)


def test_a_broker_that_fails_to_start_shows_its_log():
    with pytest.raises(BrokerStartError) as raised:
        Cluster.start(brokers=1, progress=False, broker_config={"num.io.threads": "muchos"})
    message = str(raised.value)
    assert "El broker 1 terminó al arrancar (código 1)" in message
    assert "num.io.threads" in message  # Kafka's own complaint, from the log tail
