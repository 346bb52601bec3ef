"""Lesson 2 · Brokers y replicación, run twice in one kernel on a cluster; its outputs checked."""

from __future__ import annotations

import re

import pytest

from tests.support.course import (
    RUNS,
    check_exercise,
    check_recap,
    run_lesson,
)
from tests.support.notebooks import cell_output, describe_rows, plain_output

pytestmark = pytest.mark.slow

LESSON = "02-brokers-replicacion.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def replication(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_replication_spreads_partitions_and_refuses_too_many_replicas(replication):
    picture = plain_output(replication, "dibujo-a-b")
    assert "3 brokers, 3 en marcha" in picture
    assert "Topic «topic-a»: 3 particiones" in picture
    leaders_a = re.findall(r"partición \d: líder (\d)", picture.split("Topic «topic-b»")[0])
    assert sorted(leaders_a) == ["1", "2", "3"]
    assert "replication factor of 4 cannot be reached" in cell_output(
        replication, "replicacion-imposible"
    )


def test_replication_stopping_a_broker_moves_leaders_and_shrinks_the_isr(replication):
    before = describe_rows(cell_output(replication, "pagos-antes"))
    stopped = describe_rows(cell_output(replication, "parar-broker"))
    assert sorted(row["Leader"][0] for row in before.values()) == [1, 2, 3]
    for partition, row in stopped.items():
        assert 2 not in row["Isr"] and 2 not in row["Leader"]
        assert row["Replicas"] == before[partition]["Replicas"]
        assert row["Leader"][0] in before[partition]["Isr"]
    assert "parado" in plain_output(replication, "dibujo-parado")
    under_replicated = describe_rows(cell_output(replication, "infrarreplicadas"))
    assert sorted(under_replicated) == [0, 1, 2]
    readable = cell_output(replication, "leer-con-broker-parado")
    assert "Processed a total of 6 messages" in readable


def test_replication_min_insync_refuses_writes_when_the_isr_is_too_small(replication):
    assert "Completed updating config for topic pagos." in cell_output(replication, "min-insync")
    one_down = cell_output(replication, "escribir-un-broker-parado")
    assert re.search(r"ana:5 € -> aceptado en la partición \d", one_down), one_down
    assert "rechazado" not in one_down
    described = cell_output(replication, "min-insync-3")
    assert "min.insync.replicas=3" in described
    rows = describe_rows(described)
    assert sorted(rows) == [0, 1, 2]
    assert all(sorted(row["Isr"]) == sorted(set(row["Replicas"]) - {2}) for row in rows.values())
    refused = cell_output(replication, "escribir-isr-insuficiente")
    assert "luis:9 € -> rechazado: NotEnoughReplicasError" in refused, refused
    assert "aceptado" not in refused
    assert "Completed updating config for topic pagos." in cell_output(replication, "min-insync-2")


def test_replication_broker_rejoins_isr_and_preferred_leaders_return(replication):
    restarted = describe_rows(cell_output(replication, "arrancar-broker"))
    assert all(sorted(row["Isr"]) == [1, 2, 3] for row in restarted.values())
    elected = describe_rows(cell_output(replication, "eleccion-preferida"))
    assert all(row["Leader"] == row["Replicas"][:1] for row in elected.values())


def test_replication_one_bootstrap_address_reveals_every_broker(replication):
    printed = cell_output(replication, "descubrimiento-python")
    listed = re.findall(r"broker (\d) en 127\.0\.0\.1:\d+", printed)
    assert sorted(listed) == ["1", "2", "3"]
    api_lines = cell_output(replication, "descubrimiento-cli")
    assert sorted(re.findall(r"\(id: (\d)", api_lines)) == ["1", "2", "3"]
