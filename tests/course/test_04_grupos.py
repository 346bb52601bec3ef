"""Lesson 4 · Consumidores y grupos, run twice in one kernel on a real cluster; outputs checked."""

from __future__ import annotations

import re

import pytest

from tests.support.course import (
    RUNS,
    SOLUTIONS,
    check_exercise,
    check_recap,
    group_members,
    group_table,
    run_lesson,
)
from tests.support.notebooks import COURSE, cell_output, consumed, panes, plain_output

pytestmark = pytest.mark.slow

LESSON = "04-consumidores-grupos.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def groups(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_exercise_leaves_the_group_informes_half_way(runs):
    read = cell_output(runs.solved, "ejercicio")
    assert "Processed a total of 5 messages" in read
    assert [line for line in read.splitlines() if line.startswith("factura ")] == [
        f"factura {n}" for n in range(1, 6)
    ]
    shipped = plain_output(runs.shipped, "comprobar")
    assert shipped.count("✘") == 5, shipped  # on a cluster without the exercise, every check fails
    solved = plain_output(runs.solved, "comprobar")
    assert solved.count("✔") == 5, solved


def test_no_cell_can_wait_forever_on_a_re_run():
    """Console consumers that join a group or count messages also stop on --timeout-ms."""
    for source in (COURSE / LESSON, SOLUTIONS / LESSON.replace(".md", ".ipy")):
        text = source.read_text()
        commands = re.findall(r"kafka-console-consumer\.sh(?:[^\n]*\\\n)*[^\n]*", text)
        assert commands, source
        for command in commands:
            if "--group" in command or "--max-messages" in command:
                assert "--timeout-ms" in command, f"{source.name}: {command}"
        for loop in re.findall(r"^\s*while [^\n]*:$", text, flags=re.M):
            assert "time.monotonic() <" in loop, f"{source.name}: {loop}"


def test_groups_one_consumer_reads_each_partition_in_order(groups):
    records = consumed(cell_output(groups, "un-consumidor"))
    assert len(records) == 9
    for key in ("ana", "luis", "marta"):
        steps = [r["value"] for r in records if r["key"] == key]
        assert steps == ["1 creado", "2 pagado", "3 enviado"]


def test_groups_two_consumers_share_the_partitions(groups):
    two = panes(plain_output(groups, "app1-dos-paneles"))
    assert len(two) == 2
    assert sum(len(pane) for pane in two) == 6
    partitions = [{r["Partition"] for r in pane} for pane in two]
    assert sorted(len(p) for p in partitions) == [1, 2]
    assert not partitions[0] & partitions[1]
    members = plain_output(groups, "app1-dos-grupo")
    assert "2 miembros" in members


def test_groups_a_third_member_joins_and_leaves(groups):
    joined = cell_output(groups, "tercero-entra")
    assert re.search(r"Particiones del tercer consumidor: \[\d\]", joined)
    members = group_members(cell_output(groups, "tercero-miembros"))
    assert sorted(members) == ["consumidor-1", "consumidor-2", "consumidor-python"]
    assert set(members.values()) == {1}
    after = panes(plain_output(groups, "tras-salir-paneles"))
    values = [r["value"] for pane in after for r in pane]
    assert len(values) == 9
    assert {r["key"] for pane in after for r in pane if r["value"].startswith("6 ")} == {
        "ana",
        "luis",
        "marta",
    }


def test_groups_more_consumers_than_partitions_leave_one_idle(groups):
    four = panes(plain_output(groups, "cuatro-consumidores-paneles"))
    assert sorted(len(pane) for pane in four) == [0, 1, 1, 1]
    assert "ninguna partición" in plain_output(groups, "cuatro-consumidores-grupo")


def test_groups_a_share_group_shares_one_partition_record_by_record(groups):
    features = cell_output(groups, "share-version")
    level = re.search(r"Feature: share\.version\s.*FinalizedVersionLevel: (\d+)", features)
    assert level and int(level.group(1)) >= 1, features
    created = cell_output(groups, "tareas-crear")
    assert "Created topic tareas." in created
    assert "Completed updating config for group repartidores." in created
    shared = cell_output(groups, "tareas-repartidas")
    received = {
        int(number): [task for task in tasks.split(", ") if task]
        for number, count, tasks in re.findall(
            r"^Repartidor (\d) \((\d+) tareas\): (.*)$", shared, flags=re.M
        )
    }
    assert sorted(received) == [1, 2, 3], shared
    assert all(received.values()), f"a share consumer got nothing: {shared}"
    sent = int(re.search(r"^Enviadas: (\d+)\.", shared, flags=re.M).group(1))
    everything = [task for tasks in received.values() for task in tasks]
    # Each task reached exactly one consumer, and every task sent arrived.
    assert sorted(everything) == sorted(f"tarea {n}" for n in range(1, sent + 1)), shared
    assert f"Recibidas: {sent}, distintas: {sent}." in shared


def test_groups_two_groups_both_receive_every_message(groups):
    counted = plain_output(groups, "dos-grupos-paneles")
    stored = int(re.search(r"Pedidos guardados en el topic: (\d+)", counted).group(1))
    assert stored == 21  # 9 + 6 + 3 + 3 pedidos written so far
    both = panes(counted)
    assert [len(pane) for pane in both] == [stored, stored]
    first, second = ({(r["key"], r["value"]) for r in pane} for pane in both)
    assert first == second and len(first) == stored
    read = cell_output(groups, "analitica-desde-el-principio")
    assert f"Processed a total of {stored} messages" in read


def test_groups_committed_offsets_lag_and_no_active_members(groups):
    assert "Processed a total of 0 messages" in cell_output(groups, "analitica-otra-vez")
    listed = cell_output(groups, "listar-grupos").split()
    assert {"analitica", "app1", "app-grande"} <= set(listed)
    assert "repartidores" not in listed  # a share group: kafka-share-groups.sh lists it
    described = cell_output(groups, "describir-analitica")
    assert "Consumer group 'analitica' has no active members." in described
    rows = group_table(described)
    assert len(rows) == 3
    assert sum(int(row[5]) for row in rows) == 5
    assert sum(int(row[4]) - int(row[3]) for row in rows) == 5
    assert "LAG total: 5" in plain_output(groups, "dibujo-analitica")
    assert "Processed a total of 5 messages" in cell_output(groups, "analitica-vuelve")
    caught_up = group_table(cell_output(groups, "describir-analitica-al-dia"))
    assert [int(row[5]) for row in caught_up] == [0, 0, 0]


def members_of(text: str, group: str) -> dict[str, tuple[str, str, int]]:
    """`--describe --members`, with or without GROUP-INSTANCE-ID:
    {CLIENT-ID: (CONSUMER-ID, GROUP-INSTANCE-ID or "", #PARTITIONS)}."""
    found = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 6 and words[0] == group:
            found[words[4]] = (words[1], words[2], int(words[5]))
        elif len(words) == 5 and words[0] == group:
            found[words[3]] = (words[1], "", int(words[4]))
    return found


def test_groups_a_consumer_that_stops_polling_leaves_and_comes_back_as_a_new_member(groups):
    joined = members_of(cell_output(groups, "vivo-unirse"), "lento")
    assert set(joined) == {"consumidor-lento"} and joined["consumidor-lento"][2] == 3, joined
    left = cell_output(groups, "vivo-expulsado")
    seconds = float(re.search(r"Fuera del grupo ([\d.]+) s después de su último poll\(\)", left)[1])
    # max_poll_interval_ms=3000: out of the group after 3 s, well before the 30 s bound.
    assert 3.0 <= seconds < 30, left
    assert members_of(left, "lento") == {}, left
    back = members_of(cell_output(groups, "vivo-vuelve"), "lento")
    assert set(back) == {"consumidor-lento"} and back["consumidor-lento"][2] == 3, back
    assert back["consumidor-lento"][0] != joined["consumidor-lento"][0]  # another CONSUMER-ID


def test_groups_a_static_member_keeps_its_place_and_partitions_when_closed(groups):
    closed = cell_output(groups, "estatico")
    assert "GROUP-INSTANCE-ID" in closed, closed
    kept = members_of(closed, "estatico")
    assert list(kept) == ["consumidor-estatico"], closed
    consumer_id, instance, partitions = kept["consumidor-estatico"]
    assert (instance, partitions) == ("trabajador-1", 3), closed
    back = members_of(cell_output(groups, "estatico-vuelve"), "estatico")
    assert list(back) == ["consumidor-estatico"], back
    assert back["consumidor-estatico"][1:] == ("trabajador-1", 3)
    assert back["consumidor-estatico"][0] != consumer_id  # the same place, a new CONSUMER-ID
