"""The autograder's checks against a real cluster: what passes, and the Spanish failures."""

from __future__ import annotations

import contextlib
import json
import struct
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CoordinatorNotAvailableError
from kafka.structs import OffsetAndMetadata

import autograder
from autograder import checks
from autograder.activities import GROUP2


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


def _read_in_group(cluster, topic, group, count) -> int:
    """A kafka-python consumer of ``group`` reads up to ``count`` records from the start of
    ``topic``, commits and leaves; how many it read."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    read = sum(1 for _ in zip(range(count), consumer, strict=False))
    consumer.commit()
    consumer.close()
    return read


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
    assert _read_in_group(on_cluster, topic, group, 6) == 6
    _produce(on_cluster, topic, [("k0", "tarde"), ("k1", "más tarde")])
    assert autograder.check_group_offsets(group, topic, total_lag=2) == 2
    # kafka-python joins with the classic protocol: its member is in the group's history.
    assert autograder.check_group_offsets(group, topic, total_lag=2, require_members=True) == 2
    (member,) = checks.check_group_members(group, topic)
    assert (member.protocol, member.topics) == ("classic", frozenset({topic}))
    assert member.client_id.startswith("kafka-python") and min(member.generations) >= 1
    with pytest.raises(AssertionError, match="debería ser 1 .* y es 2"):
        autograder.check_group_offsets(group, topic, total_lag=1)


NO_MEMBER = "tiene offsets confirmados, pero ningún consumidor se ha unido nunca al grupo: "


def _admin(cluster) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)


def _fake_lag_one(cluster, group, topic) -> None:
    """Commit the topic's end offsets for ``group`` with the admin client, then produce one
    more message: LAG 1, and no consumer ever joined."""
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    ends = consumer.end_offsets(partitions)
    consumer.close()
    offsets = {tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()}
    admin = _admin(cluster)
    deadline = time.monotonic() + 30
    errors: object = None
    while time.monotonic() < deadline:  # a cluster's first group waits for __consumer_offsets
        try:
            errors = admin.alter_group_offsets(group, offsets)
        except CoordinatorNotAvailableError as error:
            errors = error
        else:
            if all(error.errno == 0 for error in errors.values()):
                break
        time.sleep(0.2)
    else:
        raise AssertionError(f"alter_group_offsets failed: {errors}")
    admin.close()
    _produce(cluster, topic, [("ana", "sin leer")])


def test_console_consumers_join_the_group_with_either_protocol(on_cluster, topic):
    """Kafka 4's console consumer joins with the classic protocol by default, and with the
    KIP-848 one on request: both leave their members in the group's history."""
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    _produce(on_cluster, topic, [(f"k{i}", f"v{i}") for i in range(6)])
    for protocol, option in [
        ("classic", ""),
        ("consumer", " --command-property group.protocol=consumer"),
    ]:
        group = f"consola-{protocol}-{topic}"
        on_cluster.run(
            f"kafka-console-consumer.sh --topic {topic} --group {group} --from-beginning "
            f"--max-messages 6 --timeout-ms 20000{option}"
        )
        assert autograder.check_group_offsets(group, topic, require_members=True) == 0
        (member,) = checks.check_group_members(group, topic)
        assert (member.protocol, member.client_id) == (protocol, "console-consumer")
        assert member.topics == {topic}
        history = checks.group_history(group)
        assert set(history.commits) == {topic}
        assert history.deletions == history.unreadable == 0
        # The same group's members read nothing of another topic.
        with pytest.raises(AssertionError) as failure:
            checks.check_group_members(group, f"{topic}-otro")
        assert f"ningún consumidor de «{topic}-otro» se ha unido nunca al grupo" in str(
            failure.value
        )
        assert f"1 miembro(s), suscritos a «{topic}»" in str(failure.value)


def test_offsets_set_with_the_admin_tool_earn_neither_group_nor_lag(on_cluster, topic):
    """``alter_group_offsets`` and ``kafka-consumer-groups.sh --reset-offsets --execute``
    commit offsets without a member: the group and LAG checks of activity 2 fail, in the
    student's notebook too (``verificar`` against the notebook's cluster)."""
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 4")
    _produce(on_cluster, topic, [(k, "pedido") for k in ("ana", "luis", "eva", "sara") * 3])
    group = f"admin-{topic}"
    _fake_lag_one(on_cluster, group, topic)
    assert autograder.check_group_offsets(group, topic, total_lag=1) == 1  # what it fakes
    with pytest.raises(AssertionError) as failure:
        autograder.check_group_offsets(group, topic, total_lag=1, require_members=True)
    message = str(failure.value)
    assert message.startswith(f"El grupo «{group}» {NO_MEMBER}"), message
    assert f"4 confirmación(es) de offsets de «{topic}»" in message
    assert checks.group_history(group).members == ()

    # The activity's own group and topic, faked with the command line tool.
    nombre = f"Ana {topic}"
    student_topic = autograder.topic_name("iabd-topic", nombre)
    admin = _admin(on_cluster)
    with contextlib.suppress(Exception):  # left by an earlier run of this test
        admin.delete_groups([GROUP2])
    admin.close()
    on_cluster.run(f"kafka-topics.sh --create --topic {student_topic} --partitions 4")
    _produce(on_cluster, student_topic, [(k, "pedido") for k in ("ana", "luis", "eva") * 2])
    try:
        on_cluster.run(
            f"kafka-consumer-groups.sh --reset-offsets --group {GROUP2} --topic {student_topic} "
            "--to-latest --execute"
        )
        _produce(on_cluster, student_topic, [("ana", "sin leer")])
        for step in ("test-grupo", "test-lag"):
            with pytest.raises(autograder.activities.CheckFailed) as failure:
                autograder.verificar("actividad2", step, nombre=nombre)
            assert failure.value.message.startswith(f"El grupo «{GROUP2}» {NO_MEMBER}")
        assert autograder.comprobar("actividad2", nombre=nombre) is False
    finally:
        admin = _admin(on_cluster)
        admin.delete_groups([GROUP2])
        admin.close()


def test_a_deleted_group_keeps_none_of_its_members(on_cluster, topic):
    """A group that had a real consumer, deleted and then faked with the admin tool: the
    members belong to the deleted group, and the new one has none."""
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    _produce(on_cluster, topic, [(f"k{i}", f"v{i}") for i in range(4)])
    group = f"borrado-{topic}"
    assert _read_in_group(on_cluster, topic, group, 4) == 4
    assert len(checks.check_group_members(group, topic)) == 1
    admin = _admin(on_cluster)
    admin.delete_groups([group])
    admin.close()
    _fake_lag_one(on_cluster, group, topic)
    history = checks.group_history(group)
    assert (history.deletions, history.members, history.commits) == (1, (), {topic: 2})
    with pytest.raises(AssertionError) as failure:
        autograder.check_group_offsets(group, topic, total_lag=1, require_members=True)
    assert str(failure.value).startswith(f"El grupo «{group}» {NO_MEMBER}")
    assert "(desde que se creó por última vez)" in str(failure.value)


def _forged_generation(group: str, topic: str) -> tuple[bytes, bytes]:
    """Key and value of a GroupMetadataValue (v3) as the coordinator writes them: generation
    1, one member subscribed to and assigned ``topic``."""
    from kafka.protocol.consumer.metadata import (
        ConsumerProtocolAssignment,
        ConsumerProtocolSubscription,
    )

    def string(text):
        return struct.pack(">h", len(text.encode())) + text.encode()

    def blob(data):
        return struct.pack(">i", len(data)) + data

    subscription = ConsumerProtocolSubscription(version=0, topics=[topic], user_data=None)
    assigned = ConsumerProtocolAssignment.TopicPartition(topic=topic, partitions=[0])
    assignment = ConsumerProtocolAssignment(
        version=0, assigned_partitions=[assigned], user_data=None
    )
    member = (
        string("falso-1")
        + struct.pack(">h", -1)  # no group instance id
        + string("falso")
        + string("/127.0.0.1")
        + struct.pack(">ii", 300000, 45000)
        + blob(subscription.encode(version=0))
        + blob(assignment.encode(version=0))
    )
    value = (
        struct.pack(">h", 3)
        + string("consumer")
        + struct.pack(">i", 1)
        + string("range")
        + string("falso-1")
        + struct.pack(">q", int(time.time() * 1000))
        + struct.pack(">i", 1)
        + member
    )
    return struct.pack(">h", 2) + string(group), value


def test_member_records_forged_into_the_offsets_topic_do_not_count(on_cluster, topic):
    """Kafka lets a producer whose client.id is "__admin_client" write to
    __consumer_offsets, so a record of a member can be forged; the coordinator never reads it
    back while it leads the partition, and still holds a group of the admin tool."""
    on_cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    _produce(on_cluster, topic, [("ana", "uno"), ("luis", "dos")])
    group = f"forjado-{topic}"
    _fake_lag_one(on_cluster, group, topic)
    key, value = _forged_generation(group, topic)
    partitions = len(checks.topic_partitions(checks.OFFSETS_TOPIC))
    producer = KafkaProducer(
        bootstrap_servers=on_cluster.bootstrap_servers, client_id="__admin_client"
    )
    producer.partitions_for(checks.OFFSETS_TOPIC)
    producer._metadata.internal_topics.discard(checks.OFFSETS_TOPIC)  # kafka-python's guard
    partition = checks.offsets_partition(group, partitions)
    producer.send(checks.OFFSETS_TOPIC, key=key, value=value, partition=partition).get(10)
    producer.close()
    (member,) = checks.group_history(group).members  # the forged record reads as real
    assert (member.member_id, member.topics) == ("falso-1", frozenset({topic}))
    with pytest.raises(AssertionError) as failure:
        autograder.check_group_offsets(group, topic, total_lag=1, require_members=True)
    assert "el coordinador del grupo no lo tiene por un grupo de consumidores" in str(failure.value)


def test_groups_are_placed_in_the_offsets_partition_kafka_picks():
    """Java's String.hashCode over UTF-16 code units and Kafka's Utils.abs, as Java computes
    them (``Utils.abs(s.hashCode()) % 10``)."""
    assert checks.offsets_partition("polygenelubricants", 10) == 0  # hashCode: MIN_VALUE
    assert checks.offsets_partition("consumer-group-iabd", 10) == 7  # -83130337
    assert checks.offsets_partition("grupo-ñ-😀", 10) == 3  # a surrogate pair: -1357466973


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
