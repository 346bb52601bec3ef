"""Lesson 7 · De ZooKeeper a KRaft, run twice in one kernel on a real cluster; outputs checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.course import (
    RUNS,
    check_exercise,
    check_recap,
    quorum_field,
    run_lesson,
)
from tests.support.notebooks import COURSE, cell_output, describe_rows
from tests.support.processes import processes_mentioning

pytestmark = pytest.mark.slow

LESSON = "07-zookeeper-kraft.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def kraft(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_kraft_nodes_are_combined_voters_and_zookeeper_is_gone(kraft):
    config = cell_output(kraft, "configuracion-kraft")
    assert "process.roles=broker,controller" in config
    voters = re.search(r"controller.quorum.voters=(\S+)", config).group(1)
    assert [v.split("@")[0] for v in voters.split(",")] == ["1", "2", "3"]
    assert "zookeeper is not a recognized option" in cell_output(kraft, "sin-zookeeper")
    # The lesson's cluster has a static quorum: kraft.version 0, voters without a directory id.
    assert re.search(
        r"kraft.version\s.*FinalizedVersionLevel: 0\b", cell_output(kraft, "kraft-version-estatico")
    )
    assert "directoryId" not in cell_output(kraft, "quorum-estado")


def test_kraft_a_new_quorum_leader_takes_over(kraft):
    status = cell_output(kraft, "quorum-estado")
    first = quorum_field(status, "LeaderId")
    assert first in (1, 2, 3)
    replication = cell_output(kraft, "quorum-replicacion")
    assert re.search(rf"^{first}\s.*Leader\s*$", replication, flags=re.MULTILINE)
    assert f"Controlador activo: {first}" in cell_output(kraft, "lider-actual")

    elected = re.search(
        r"Controlador activo: (\d+) \(antes: (\d+)\)", cell_output(kraft, "nuevo-lider")
    )
    second, before = int(elected.group(1)), int(elected.group(2))
    assert before == first and second != first

    after = cell_output(kraft, "quorum-tras-caida")
    assert quorum_field(after, "LeaderId") == second
    assert quorum_field(after, "LeaderEpoch") > quorum_field(status, "LeaderEpoch")
    assert re.search(rf"^{second}\s.*Leader\s*$", after, flags=re.MULTILINE)
    assert re.search(rf"^{first}\s.*Follower\s*$", after, flags=re.MULTILINE)


def test_kraft_topics_keep_working_with_two_controllers(kraft):
    first = quorum_field(cell_output(kraft, "quorum-estado"), "LeaderId")
    assert "Created topic tras-la-caida." in cell_output(kraft, "crear-tras-caida")
    rows = describe_rows(cell_output(kraft, "pedidos-tras-caida"))
    assert len(rows) == 3
    for row in rows.values():
        assert row["Leader"] != [first]
        assert first not in row["Isr"]
    read = cell_output(kraft, "leer-tras-caida")
    for number in range(1, 5):
        assert f"pedido {number}" in read
    assert "Processed a total of 4 messages" in read


def test_kraft_without_a_majority_metadata_changes_time_out(kraft):
    failed = cell_output(kraft, "crear-sin-quorum")
    assert "TimeoutException" in failed
    assert "kafka-topics.sh terminó con código" in failed
    assert "Created topic" not in failed
    assert quorum_field(cell_output(kraft, "quorum-recuperado"), "LeaderId") in (1, 2, 3)
    assert "Created topic con-quorum." in cell_output(kraft, "crear-con-quorum")


def test_kafka_by_hand_formats_starts_answers_and_leaves_nothing_behind(kraft):
    text = cell_output(kraft, "kafka-a-mano")
    cluster_id = re.search(r"^\$ kafka-storage.sh random-uuid\n(\S+)$", text, flags=re.MULTILINE)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id.group(1))
    assert f"format --standalone -t {cluster_id.group(1)} -c server.properties" in text
    assert re.search(
        r"Formatting dynamic metadata voter directory datos with metadata.version", text
    )
    assert re.search(r"\(el servidor responde en 127\.0\.0\.1:\d+ tras [\d.]+ s\)", text)
    assert "Created topic hola-a-mano." in text
    # A dynamic quorum of one voter, node 1, the leader, with its directory id.
    assert f"ClusterId:              {cluster_id.group(1)}" in text
    assert quorum_field(text, "LeaderId") == 1
    voters = re.search(r"^CurrentVoters:\s+(\[.*\])$", text, flags=re.MULTILINE).group(1)
    assert re.fullmatch(
        r'\[\{"id": 1, "directoryId": "[\w-]{22}", "endpoints": \[[^]]+\]\}\]', voters
    )
    assert re.search(r"kraft.version\s.*FinalizedVersionLevel: 1\b", text)
    assert "(servidor parado)" in text
    folder = re.search(r"\(carpeta (\S+) borrada\)", text).group(1)
    assert "kafkalab-a-mano-" in folder
    assert not Path(folder).exists()
    # Neither the server nor its guard outlived the cell: no process names its folder.
    assert processes_mentioning(folder) == []


def test_dynamic_quorum_and_the_guarantees_recap_are_taught():
    text = (COURSE / LESSON).read_text()
    for words in [
        "controller.quorum.bootstrap.servers",
        "--standalone",
        "--initial-controllers",
        "add-controller",
        "remove-controller",
        "KIP-853",
        "docker run -p 9092:9092 apache/kafka:",
    ]:
        assert words in text, words
    recap = re.search(r"^## Lo que garantiza Kafka.*?(?=^## )", text, flags=re.S | re.M).group(0)
    for words in [
        "min.insync.replicas=2",
        "acks=all",
        "NOT_ENOUGH_REPLICAS",
        "número de particiones",
    ]:
        assert words in recap, words
    assert "3.3 (octubre de 2022, KIP-833)" in text
    assert "la líder" not in text and "un TimeoutException" not in text
