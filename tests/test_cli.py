"""The syllabus commands, run through the real Kafka CLI against a real cluster.

Each runs on a local cluster and on a docker one (the ``cluster`` fixture). Kafka 4 renamed
the console tools' ``--property``: producers take ``--reader-property``,
consumers ``--formatter-property``. These tests use today's names.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from kafkalab.errors import CommandError, explain_kafka_output

pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def cluster(request):
    """The shared 3-broker cluster of each backend: the syllabus commands run on both."""
    return request.getfixturevalue("cluster3" if request.param == "local" else "docker_cluster3")


def describe_partitions(cluster, topic: str) -> list[dict[str, str]]:
    """The per-partition lines of kafka-topics.sh --describe, as dicts."""
    output = cluster.run(f"kafka-topics.sh --describe --topic {topic}").stdout
    rows = []
    for line in output.splitlines():
        if "Partition:" in line:
            rows.append(dict(re.findall(r"(\w+): ?([^\t]*)", line.strip())))
    return rows


def test_create_list_describe_and_delete_topics(cluster, topic):
    created = cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    assert f"Created topic {topic}." in created.stdout
    assert topic in cluster.run("kafka-topics.sh --list").stdout.split()

    description = cluster.run(f"kafka-topics.sh --describe --topic {topic}").stdout
    assert "PartitionCount: 3" in description and "ReplicationFactor: 1" in description
    assert [row["Partition"] for row in describe_partitions(cluster, topic)] == ["0", "1", "2"]

    cluster.run(f"kafka-topics.sh --delete --topic {topic}")
    assert topic not in cluster.run("kafka-topics.sh --list").stdout.split()


def test_four_partitions_with_replication_factor_two(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 4 --replication-factor 2")
    rows = describe_partitions(cluster, topic)
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


def test_console_producer_with_keys_and_a_colon_separator(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    messages = ["alumno1:hola", "alumno2:buenas", "alumno1:adios", "alumno3:que tal", "alumno2:fin"]
    cluster.run(
        f"kafka-console-producer.sh --topic {topic} "
        "--reader-property parse.key=true --reader-property key.separator=:",
        input="\n".join(messages) + "\n",
    )
    consumed = cluster.run(
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


def test_consumer_group_describe_shows_offsets_and_lag(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    # Keys put the first four messages in all three partitions (hashes 0, 1, 2, 0); without
    # keys a batch may go to one partition, and the others would have no committed offset.
    produce = (
        f"kafka-console-producer.sh --topic {topic} "
        "--reader-property parse.key=true --reader-property key.separator=:"
    )
    cluster.run(produce, input="uno:a\ndos:b\ncinco:c\ntres:d\n")
    group = f"grupo-{topic}"
    cluster.run(
        f"kafka-console-consumer.sh --topic {topic} --group {group} --from-beginning "
        "--max-messages 4"
    )
    cluster.run(produce, input="seis:e\nsiete:f\ncuatro:g\n")
    assert group in cluster.run("kafka-consumer-groups.sh --list").stdout.split()
    described = cluster.run(f"kafka-consumer-groups.sh --describe --group {group}").output
    assert f"Consumer group '{group}' has no active members." in described
    table = [line.split() for line in described.splitlines()]
    header = next(row for row in table if "LAG" in row)
    rows = [row for row in table if row[:2] == [group, topic]]
    assert header[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    assert len(rows) == 3
    assert sum(int(row[3]) for row in rows) == 4
    assert sum(int(row[4]) for row in rows) == 7
    assert sum(int(row[5]) for row in rows) == 3


def test_get_offsets_and_configs_tools(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    cluster.run(f"kafka-console-producer.sh --topic {topic}", input="x\ny\nz\n")
    offsets = cluster.run(f"kafka-get-offsets.sh --topic {topic}").stdout.split()
    assert sum(int(line.rsplit(":", 1)[1]) for line in offsets) == 3
    cluster.run(
        f"kafka-configs.sh --alter --entity-type topics --entity-name {topic} "
        "--add-config retention.ms=3600000"
    )
    configs = cluster.run(f"kafka-configs.sh --describe --entity-type topics --entity-name {topic}")
    assert "retention.ms=3600000" in configs.stdout


def test_launchers_on_path_find_the_notebook_cluster_by_themselves(cluster3, topic):
    """As `!kafka-topics.sh --list` in a notebook: no --bootstrap-server typed."""
    cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    env = cluster3.distribution.tool_environment()
    env["KAFKALAB_BOOTSTRAP_SERVER"] = cluster3.bootstrap_servers
    listing = subprocess.run(
        "kafka-topics.sh --list", shell=True, env=env, capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert topic in listing.stdout.split()
    quorum = subprocess.run(
        "kafka-metadata-quorum.sh describe --status",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "LeaderId:" in quorum.stdout, quorum.stderr


def test_cluster_start_puts_the_tools_on_path_for_the_kernel(cluster3):
    assert str(cluster3.distribution.bin_dir) in os.environ["PATH"].split(os.pathsep)


def test_a_consumer_waiting_forever_is_stopped_with_advice(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic}")
    from kafkalab.errors import CommandError

    with pytest.raises(CommandError, match="--max-messages"):
        cluster.run(f"kafka-console-consumer.sh --topic {topic}", timeout=5)


def test_console_mistakes_are_explained_in_spanish(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic}")
    with pytest.raises(CommandError, match="La línea 1 .*sinclave.* no tiene separador"):
        cluster.run(
            f"kafka-console-producer.sh --topic {topic} --reader-property parse.key=true "
            "--reader-property key.separator=:",
            input="sinclave\n",
        )
    consumed = cluster.run(
        "kafka-console-consumer.sh --topic iabd-José --max-messages 1 --timeout-ms 3000",
        check=False,
    )
    assert "no es un nombre válido" in (explain_kafka_output(consumed.output) or "")
