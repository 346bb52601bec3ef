"""The contract every Kafka backend keeps, tested on each one against real brokers.

``owned``: the local and docker backends (they start the brokers); ``cluster``: those and the
external backend (attached to the local cluster through ``$KAFKA_BOOTSTRAP_SERVERS``);
``failover``: a cluster of each owning backend that these tests stop and kill brokers of.
The syllabus commands run through the real CLI. Kafka 4 renamed the console tools'
``--property``: producers take ``--reader-property``, consumers ``--formatter-property``.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from kafkalab import Cluster
from kafkalab.errors import BrokerStartError, CommandError, KafkaLabError, UnknownBrokerError
from kafkalab.kafka.base import random_cluster_id
from tests.support.backends import cluster_leftovers, listening_addresses, mongo_leftovers
from tests.support.kafka import describe_partitions, wait_for
from tests.support.processes import owner_killed_after

pytestmark = pytest.mark.slow

BACKENDS = ["local", pytest.param("docker", marks=pytest.mark.docker)]


def registered(cluster) -> list[tuple[int, str, int]]:
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        brokers = admin.describe_cluster()["brokers"]
    finally:
        admin.close()
    return sorted((b["broker_id"], b["host"], b["port"]) for b in brokers)


# --- start and close ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_broker_starts_serves_metadata_and_closes_without_a_trace(backend):
    names = ("KAFKALAB_BOOTSTRAP_SERVER", "PATH", "KAFKALAB_JAVA")
    before = {name: os.environ.get(name) for name in names}
    cluster = Cluster.start(brokers=1, backend=backend, progress=False)
    where = {"data_dir": str(cluster.data_dir), "cluster_id": cluster.cluster_id}
    try:
        assert isinstance(cluster, Cluster) and cluster.backend == backend
        assert registered(cluster) == [(1, "127.0.0.1", cluster.broker(1).port)]
        assert cluster.bootstrap_servers == f"127.0.0.1:{cluster.broker(1).port}"
        assert "1*@" in repr(cluster) and "en marcha" in repr(cluster)
        assert cluster_leftovers(backend, **where)  # it runs somewhere
        # Publishing the cluster to a notebook's shell is the notebook layer's job.
        assert {name: os.environ.get(name) for name in names} == before
    finally:
        cluster.close()
    assert cluster_leftovers(backend, **where) == []
    assert cluster.closed and "cerrado" in repr(cluster)
    cluster.close()  # twice is fine
    with pytest.raises(KafkaLabError, match="ya está cerrado"):
        cluster.run("kafka-topics.sh --list")


def test_three_brokers_form_a_three_controller_quorum(owned):
    assert [b.node_id for b in owned.brokers] == [1, 2, 3]
    assert all(b.controller and b.state == "running" and b.alive for b in owned.brokers)
    quorum = owned.run("kafka-metadata-quorum.sh describe --status").stdout
    voters = next(line for line in quorum.splitlines() if line.startswith("CurrentVoters"))
    assert sorted(int(i) for i in re.findall(r'"id":\s*(\d+)', voters)) == [1, 2, 3]


def test_every_address_that_listens_is_on_loopback(owned):
    addresses = listening_addresses(owned)
    # local: each broker listens for clients and, being a controller, for the quorum;
    # docker: only the client listener is published (the others stay on the Docker network).
    assert len(addresses) == (6 if owned.backend == "local" else 3), addresses
    assert all(address.startswith("127.0.0.1:") for address in addresses), addresses
    assert {b.address for b in owned.brokers} <= set(addresses)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_of_the_owner_leaves_nothing(backend, tmp_path):
    """A notebook kernel killed with SIGKILL: its brokers, MongoDB and data all go."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import json, time\n"
        "from kafkalab import Cluster, Mongo\n"
        # Three JVMs here; one container is enough to see Ryuk at work.
        f"cluster = Cluster.start({3 if backend == 'local' else 1}, backend={backend!r},\n"
        "                        progress=False)\n"
        f"mongo = Mongo.start(backend={backend!r})\n"
        "print(json.dumps({'cluster': {'data_dir': str(cluster.data_dir),\n"
        "                              'cluster_id': cluster.cluster_id},\n"
        "                  'mongo': {'pid': mongo.server_pid,\n"
        "                            'data_dir': str(mongo.data_dir),\n"
        "                            'container': getattr(mongo, 'container_id', None)}}),\n"
        "      flush=True)\n"
        "time.sleep(600)\n"
    )
    with owner_killed_after(script) as started:
        # Running before the kill (after it, the guards may be quicker than any look).
        assert cluster_leftovers(backend, **started["cluster"])

    def left() -> list[str]:
        return cluster_leftovers(backend, **started["cluster"]) + mongo_leftovers(
            backend, **started["mongo"]
        )

    assert wait_for(lambda: not left(), timeout=30), left()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_broker_that_fails_to_start_shows_its_log(backend):
    with pytest.raises(BrokerStartError) as raised:
        Cluster.start(
            brokers=1, backend=backend, progress=False, broker_config={"num.io.threads": "muchos"}
        )
    message = str(raised.value)
    assert "El broker 1 terminó al arrancar (código 1)" in message
    assert "num.io.threads" in message  # Kafka's own complaint, from the log tail


def test_cluster_ids_never_look_like_an_option():
    # One in 64 base64 ids starts with "-": kafka-storage.sh format took it for an option.
    ids = [random_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)


def test_options_a_backend_does_not_take_are_refused_not_dropped(monkeypatch):
    with pytest.raises(KafkaLabError) as raised:
        Cluster.start(1, backend="docker", jvm_options=["-Xmx1g"])
    assert str(raised.value) == (
        "El backend «docker» no admite jvm_options (las suyas: broker_config, image)."
    )
    with pytest.raises(KafkaLabError, match=r"«local» no admite image \(las suyas: broker_c"):
        Cluster.start(1, backend="local", image="apache/kafka:4.1.0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with pytest.raises(KafkaLabError, match="«external» no admite broker_config .no tiene opc"):
        Cluster.start(1, broker_config={"num.io.threads": 2})
    with pytest.raises(KafkaLabError, match="El backend «kubernetes» no existe"):
        Cluster.start(1, backend="kubernetes")
    with pytest.raises(KafkaLabError, match="de 1 a 5 brokers"):
        Cluster.start(brokers=6, backend="local")


# --- the CLI ------------------------------------------------------------------------------


def test_create_list_describe_and_delete_topics(cluster, topic):
    created = cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    assert f"Created topic {topic}." in created.stdout
    assert topic in cluster.run("kafka-topics.sh --list").stdout.split()

    description = cluster.run(f"kafka-topics.sh --describe --topic {topic}").stdout
    assert "PartitionCount: 3" in description and "ReplicationFactor: 1" in description
    assert [row["Partition"] for row in describe_partitions(cluster, topic)] == ["0", "1", "2"]

    cluster.run(f"kafka-topics.sh --delete --topic {topic}")
    assert topic not in cluster.run("kafka-topics.sh --list").stdout.split()


def test_four_partitions_with_replication_factor_two(owned, topic):
    owned.run(f"kafka-topics.sh --create --topic {topic} --partitions 4 --replication-factor 2")
    rows = describe_partitions(owned, topic)
    assert len(rows) == 4
    for row in rows:
        replicas = row["Replicas"].split(",")
        assert len(replicas) == 2 and len(set(replicas)) == 2
        assert row["Leader"] in replicas
        assert sorted(row["Isr"].split(",")) == sorted(replicas)


def test_console_producer_and_consumer_from_beginning(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic}")
    lines = ["Este es un mensaje", "Y este es otro", "Y el tercero"]
    cluster.run(f"kafka-console-producer.sh --topic {topic}", input="\n".join(lines) + "\n")
    consumed = cluster.run(
        f"kafka-console-consumer.sh --topic {topic} --from-beginning --max-messages 3"
    )
    assert consumed.stdout.splitlines() == lines
    assert "Processed a total of 3 messages" in consumed.stderr
    # In a group, Kafka 4's console consumer would announce the new group protocol (KIP-848)
    # first: the course keeps the classic one, and the note stays out of every output.
    in_group = cluster.run(
        f"kafka-console-consumer.sh --topic {topic} --group {topic}-g --from-beginning "
        "--max-messages 3"
    )
    assert in_group.stdout.splitlines() == lines
    assert in_group.stderr.strip() == "Processed a total of 3 messages", in_group.stderr


def test_console_producer_with_keys_and_a_colon_separator(owned, topic):
    owned.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    messages = ["alumno1:hola", "alumno2:buenas", "alumno1:adios", "alumno3:que tal", "alumno2:fin"]
    owned.run(
        f"kafka-console-producer.sh --topic {topic} "
        "--reader-property parse.key=true --reader-property key.separator=:",
        input="\n".join(messages) + "\n",
    )
    consumed = owned.run(
        f"kafka-console-consumer.sh --topic {topic} --from-beginning --max-messages 5 "
        "--formatter-property print.key=true --formatter-property print.partition=true"
    ).stdout.splitlines()
    # Lines look like "Partition:1<TAB>alumno1<TAB>hola".
    partition_of_key: dict[str, set[str]] = {}
    received = []
    for line in consumed:
        partition, key, value = line.split("\t")
        partition_of_key.setdefault(key, set()).add(partition)
        received.append(f"{key}:{value}")
    assert sorted(received) == sorted(messages)
    assert all(len(partitions) == 1 for partitions in partition_of_key.values()), partition_of_key


def test_kafka_python_on_this_machine_produces_and_consumes_with_keys(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
    sent = [(f"alumno{i % 3}".encode(), f"mensaje {i}".encode()) for i in range(30)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10000,
    )
    received, partitions_of_key = [], {}
    try:
        for record in consumer:
            received.append((record.key, record.value))
            partitions_of_key.setdefault(record.key, set()).add(record.partition)
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert sorted(received) == sorted(sent)
    assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key


def test_consumer_group_describe_shows_offsets_and_lag(owned, topic):
    owned.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    # Keys put the first four messages in all three partitions (hashes 0, 1, 2, 0); without
    # keys a batch may go to one partition, and the others would have no committed offset.
    produce = (
        f"kafka-console-producer.sh --topic {topic} "
        "--reader-property parse.key=true --reader-property key.separator=:"
    )
    owned.run(produce, input="uno:a\ndos:b\ncinco:c\ntres:d\n")
    group = f"grupo-{topic}"
    owned.run(
        f"kafka-console-consumer.sh --topic {topic} --group {group} --from-beginning "
        "--max-messages 4"
    )
    owned.run(produce, input="seis:e\nsiete:f\ncuatro:g\n")
    assert group in owned.run("kafka-consumer-groups.sh --list").stdout.split()
    described = owned.run(f"kafka-consumer-groups.sh --describe --group {group}").output
    assert f"Consumer group '{group}' has no active members." in described
    table = [line.split() for line in described.splitlines()]
    header = next(row for row in table if "LAG" in row)
    rows = [row for row in table if row[:2] == [group, topic]]
    assert header[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    assert len(rows) == 3
    assert sum(int(row[3]) for row in rows) == 4
    assert sum(int(row[4]) for row in rows) == 7
    assert sum(int(row[5]) for row in rows) == 3


def test_get_offsets_and_configs_tools(owned, topic):
    owned.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    owned.run(f"kafka-console-producer.sh --topic {topic}", input="x\ny\nz\n")
    offsets = owned.run(f"kafka-get-offsets.sh --topic {topic}").stdout.split()
    assert sum(int(line.rsplit(":", 1)[1]) for line in offsets) == 3
    owned.run(
        f"kafka-configs.sh --alter --entity-type topics --entity-name {topic} "
        "--add-config retention.ms=3600000"
    )
    configs = owned.run(f"kafka-configs.sh --describe --entity-type topics --entity-name {topic}")
    assert "retention.ms=3600000" in configs.stdout


def test_a_consumer_waiting_forever_is_stopped_with_advice(owned, topic):
    owned.run(f"kafka-topics.sh --create --topic {topic}")
    with pytest.raises(CommandError, match="--max-messages") as raised:
        owned.run(f"kafka-console-consumer.sh --topic {topic}", timeout=4)
    assert raised.value.result.returncode == -1


def test_mistakes_are_explained_in_spanish(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic}")
    with pytest.raises(CommandError, match="La línea 1 .*sinclave.* no tiene separador"):
        cluster.run(
            f"kafka-console-producer.sh --topic {topic} --reader-property parse.key=true "
            "--reader-property key.separator=:",
            input="sinclave\n",
        )
    with pytest.raises(CommandError) as raised:
        cluster.run(f"kafka-topics.sh --create --topic {topic}-b --replication-factor 4")
    message = str(raised.value)
    assert "factor de replicación pedido (4)" in message and "brokers vivos (3)" in message
    assert raised.value.result.returncode != 0
    with pytest.raises(CommandError) as raised:
        cluster.run("kafka-topics.sh --create --topic iabd-topic-José")
    message = str(raised.value)
    assert "«iabd-topic-José» no es válido" in message
    assert "(a-z, A-Z)" in message and "guion bajo (_)" in message and "punto (.)" in message


def test_options_of_older_tutorials_and_invalid_values_are_explained(owned, topic):
    with pytest.raises(CommandError) as raised:
        owned.run("kafka-topics.sh --list --zookeeper localhost:2181")
    message = str(raised.value)
    assert "La opción --zookeeper ya no existe" in message and "KRaft" in message
    assert "\tat " not in message  # no Java stack frames
    with pytest.raises(CommandError, match="número de particiones debe ser 1 o más"):
        owned.run(f"kafka-topics.sh --create --topic {topic} --partitions 0")
    with pytest.raises(CommandError, match="«tres» no vale como valor de --partitions"):
        owned.run(f"kafka-topics.sh --create --topic {topic} --partitions tres")
    with pytest.raises(CommandError) as raised:
        owned.run(f"kafka-console-consumer.sh --topic {topic} --frobnicate")
    message = str(raised.value)
    assert "no conoce la opción --frobnicate" in message
    assert "Option" not in message  # the tool's usage table is left out
    with pytest.raises(CommandError) as raised:
        owned.run("kafka-consumer-groups.sh --describe")
    # Kafka lists the choices in no fixed order.
    needs = re.search(
        r"La opción --describe necesita también una de estas: (.*)\.", str(raised.value)
    )
    assert needs and sorted(needs[1].split(", ")) == ["--all-groups", "--group"], str(raised.value)


def test_unknown_tools_and_brokers_are_explained(cluster):
    with pytest.raises(KafkaLabError, match="No conozco la herramienta «kafka-nothing.sh»"):
        cluster.run("kafka-nothing.sh --list")
    with pytest.raises(KafkaLabError, match="El comando está vacío"):
        cluster.run("  ")
    with pytest.raises(UnknownBrokerError) as raised:
        cluster.broker(7)
    assert "No existe el broker 7" in str(raised.value) and "1, 2, 3" in str(raised.value)


# --- failures on purpose --------------------------------------------------------------------


def test_stopping_the_leader_moves_leadership_and_shrinks_the_isr(failover, topic):
    cluster = failover
    cluster.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 3")
    (before,) = describe_partitions(cluster, topic)
    leader = int(before["Leader"])
    assert sorted(before["Isr"].split(",")) == ["1", "2", "3"]

    cluster.stop_broker(leader)
    stopped = cluster.broker(leader)
    assert stopped.state == "stopped" and not stopped.is_up() and not stopped.alive
    (after,) = describe_partitions(cluster, topic)
    assert int(after["Leader"]) != leader
    assert str(leader) not in after["Isr"].split(",")
    assert str(leader) in after["Replicas"].split(",")

    cluster.start_broker(leader)
    assert stopped.state == "running" and stopped.alive
    rejoined = wait_for(
        lambda: str(leader) in describe_partitions(cluster, topic)[0]["Isr"].split(",")
    )
    assert rejoined, describe_partitions(cluster, topic)


def test_kill_broker_kills_at_once_and_it_comes_back(failover, topic):
    cluster = failover
    victim = cluster.broker(2)
    cluster.kill_broker(2)
    assert victim.state == "killed" and not victim.is_up()
    assert victim.exit_code() == 137  # 128 + SIGKILL, from the guard or from Docker
    assert "2*@" in repr(cluster) and "matado" in repr(cluster)
    with pytest.raises(KafkaLabError, match="no está en marcha"):
        cluster.stop_broker(2)
    cluster.start_broker(2)
    assert victim.state == "running" and victim.alive
    created = cluster.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 3")
    assert f"Created topic {topic}." in created.stdout


# Kafka's guarantee more than the backend's: the local cluster shows it (the docker one
# kills brokers the same way, tested above).
@pytest.mark.parametrize("failover", ["local"], indirect=True)
def test_acks_all_loses_nothing_when_a_broker_is_killed(failover, topic):
    cluster = failover
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
    victim = 3
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


def test_an_external_cluster_refuses_broker_control_and_leaves_the_rest_alone(
    cluster3, monkeypatch, topic
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", cluster3.bootstrap_servers)
    attached = Cluster.start(brokers=3, progress=False)
    assert attached.backend == "external" and attached.data_dir is None
    assert attached.bootstrap_servers == cluster3.bootstrap_servers
    assert repr(attached).startswith(f"<Cluster externo bootstrap={cluster3.bootstrap_servers} ")
    assert [(b.node_id, b.address) for b in attached.brokers] == [
        (b.node_id, b.address) for b in cluster3.brokers
    ]
    cluster3.run(f"kafka-topics.sh --create --topic {topic}-ajeno")
    attached.run(f"kafka-topics.sh --create --topic {topic}")
    for control in (attached.stop_broker, attached.kill_broker, attached.start_broker):
        with pytest.raises(KafkaLabError, match="es externo"):
            control(1)
    attached.close()
    # Closing an attached cluster stops nothing and deletes only what it created.
    assert wait_for(lambda: topic not in cluster3.run("kafka-topics.sh --list").stdout.split())
    assert f"{topic}-ajeno" in cluster3.run("kafka-topics.sh --list").stdout.split()
    assert all(b.alive for b in cluster3.brokers)
