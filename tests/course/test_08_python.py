"""Lesson 8 · Kafka desde Python, run twice in one kernel on a real cluster; its outputs checked."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.course import (
    RUNS,
    check_clean_outputs,
    check_exercise,
    check_recap,
    group_rows,
    run_lesson,
)
from tests.support.notebooks import cell_output, plain_output

pytestmark = pytest.mark.slow

LESSON = "08-kafka-python.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def python_clients(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)
    shipped = plain_output(runs.shipped, "comprobar")
    assert "no existe el topic «temperaturas»" in shipped
    assert shipped.count("✘") == 5
    solved = cell_output(runs.solved, "ejercicio")
    confirmed = re.search(r"^(\d+) de (\d+) lecturas confirmadas: (\[.*\])$", solved, re.M)
    assert confirmed and confirmed.group(1) == confirmed.group(2) == "8", solved
    assert len(set(re.findall(r"\(\d, \d+\)", confirmed.group(3)))) == 8


def test_python_json_serializer_round_trip(python_clients):
    assert "kafka-python 3." in cell_output(python_clients, "version")
    text = cell_output(python_clients, "serializador")
    assert 'b\'{"nombre": "Ana", "edad": 31}\'' in text
    assert "{'nombre': 'Ana', 'edad': 31}" in text


def test_python_producer_defaults_are_acks_all_and_idempotent(python_clients):
    assert "acks: -1 · idempotente: True" in cell_output(python_clients, "productor")


def test_python_producer_flushes_and_the_console_reads_json(python_clients):
    assert "10 mensajes confirmados" in cell_output(python_clients, "enviar-diez")
    console = cell_output(python_clients, "consola-lee-json")
    numbers = sorted(json.loads(line)["numero"] for line in console.splitlines() if line[:1] == "{")
    assert numbers == list(range(10))
    assert "Processed a total of 10 messages" in console


def test_python_futures_and_callbacks_report_where_messages_went(python_clients):
    assert re.search(
        r"Escrito en socios, partición [0-2], offset \d+", cell_output(python_clients, "futuro")
    )
    callbacks = cell_output(python_clients, "callbacks")
    confirmed = re.search(r"Confirmados \(partición, offset\): (\[.*\])", callbacks).group(1)
    assert len(re.findall(r"\(\d, \d+\)", confirmed)) == 5
    assert "Fallidos: []" in callbacks
    assert "MessageSizeTooLargeError" in cell_output(python_clients, "errback")


def test_python_consumer_gets_dictionaries_and_commits(python_clients):
    text = cell_output(python_clients, "consumidor-json")
    assert len(re.findall(r"^partición \d offset \d+: \{", text, flags=re.MULTILINE)) == 16
    assert "16 mensajes; el primero es un dict" in text
    rows = group_rows(cell_output(python_clients, "grupo-al-dia"), "lectores-de-socios")
    assert len(rows) == 3 and all(lag == "0" for _, _, lag in rows.values())
    assert sum(int(current) for current, _, _ in rows.values()) == 16


def test_python_group_members_share_partitions_and_keys(python_clients):
    shares = re.search(
        r"\{'ana': (\[[\d, ]*\]), 'luis': (\[[\d, ]*\])\}", cell_output(python_clients, "reparto")
    )
    ana, luis = json.loads(shares.group(1)), json.loads(shares.group(2))
    assert len(ana) == len(luis) == 2 and sorted(ana + luis) == [0, 1, 2, 3]

    cooked = dict(
        (name, (int(count), set(re.findall(r"mesa-\d", tables))))
        for name, count, tables in re.findall(
            r"^(\w+): (\d+) comandas de las particiones \[[\d, ]*\], mesas (\[.*\])$",
            cell_output(python_clients, "quien-cocina"),
            flags=re.MULTILINE,
        )
    )
    assert cooked["ana"][0] + cooked["luis"][0] == 20
    assert not cooked["ana"][1] & cooked["luis"][1]  # each table is cooked by one member
    assert cooked["ana"][1] | cooked["luis"][1] == {f"mesa-{n}" for n in range(1, 6)}

    picture = cell_output(python_clients, "dibujo-cocina")
    assert "ana" in picture and "luis" in picture
    assert "La caja ha leído 20 comandas" in cell_output(python_clients, "grupo-caja")
    rows = group_rows(cell_output(python_clients, "parar-cocineros"), "cocina")
    assert sum(int(current) for current, _, _ in rows.values()) == 20
    assert all(lag == "0" for _, _, lag in rows.values())


def test_python_shows_no_deprecation_warnings(python_clients):
    check_clean_outputs(python_clients)
