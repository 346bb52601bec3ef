"""Lesson 3 · Productores, run twice in one kernel on a real cluster; its outputs checked."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

import pytest

from tests.support.course import (
    RUNS,
    check_exercise,
    check_recap,
    end_offsets,
    partition_for,
    run_lesson,
)
from tests.support.notebooks import cell_output, consumed, describe_rows

pytestmark = pytest.mark.slow

LESSON = "03-productores.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def producers(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_producers_acks_all_loses_nothing_when_the_leader_stops(producers):
    assert describe_rows(cell_output(producers, "crear-topics-acks"))[0]["Leader"] == [1]
    table = {}
    for line in cell_output(producers, "resultado-acks").splitlines():
        words = line.split()
        if words and words[0].startswith("acks-"):
            table[words[0]] = [int(n) for n in words[1:]]
    assert set(table) == {"acks-0", "acks-1", "acks-all"}
    sent, confirmed, stored, lost = table["acks-all"]
    assert (sent, confirmed, stored, lost) == (3000, 3000, 3000, 0)
    for name in ("acks-0", "acks-1"):
        sent, confirmed, stored, lost = table[name]
        assert sent == 3000 and stored <= 3000 and lost == confirmed - stored
    # What the text reads in the table: acks=0 counts every message as written, always.
    assert table["acks-0"][1] == 3000


def test_producers_console_producer_sends_a_keyless_batch_to_one_partition(producers):
    offsets = end_offsets(cell_output(producers, "consola-sin-clave-offsets"), "sin-clave")
    assert sorted(offsets.values()) == [0, 0, 9]


def test_producers_kafka_python_spreads_keyless_messages(producers):
    printed = cell_output(producers, "python-sin-clave")
    counts = re.search(r"Mensajes por partición: (\{.*\})", printed)
    per_partition = ast.literal_eval(counts.group(1))
    assert sum(per_partition.values()) == 30
    assert len(per_partition) > 1


def test_producers_round_robin_partitioner_takes_strict_turns_in_kafka_4(producers):
    offsets = end_offsets(cell_output(producers, "round-robin"), "por-turnos")
    assert sorted(offsets) == [0, 1, 2] and sum(offsets.values()) == 12
    printed = cell_output(producers, "round-robin-orden")
    lines = {
        int(partition): [int(n) for n in numbers.split()]
        for partition, numbers in re.findall(r"partición (\d): ([\d ]+)", printed)
    }
    assert sorted(lines) == [0, 1, 2], printed
    # Strict turns: every partition got one line in three (KAFKA-9965 made 2.4-3.x skip).
    firsts = sorted(numbers[0] for numbers in lines.values())
    assert firsts == [1, 2, 3], printed
    for numbers in lines.values():
        assert numbers == list(range(numbers[0], 13, 3)), printed


def test_producers_sync_and_async_confirm_the_same_with_acks_all(producers):
    printed = cell_output(producers, "sincrono-asincrono")
    assert "Created topic envios." in printed
    sync = float(re.search(r"síncrono:\s+50 mensajes en ([\d.]+) s", printed).group(1))
    asynchronous = float(re.search(r"asíncrono: 50 mensajes en ([\d.]+) s", printed).group(1))
    assert "confirmados 50" in printed
    assert asynchronous < sync, printed


def test_producers_keys_keep_order_and_follow_murmur2(producers):
    records = consumed(cell_output(producers, "consumir-con-clave"))
    assert len(records) == 9
    partition_of: dict[str, set[str]] = defaultdict(set)
    events: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        partition_of[record["key"]].add(record["Partition"])
        events[record["key"]].append((int(record["Offset"]), record["value"]))
    for key in ("ana", "luis", "marta"):
        assert partition_of[key] == {str(partition_for(key, 3))}
        assert [value for _, value in sorted(events[key])] == [
            "pedido creado",
            "pago recibido",
            "pedido enviado",
        ]
    printed = cell_output(producers, "murmur2")
    predicted = dict(re.findall(r"clave '(\w+)'\s+-> partición (\d)", printed))
    assert predicted == {key: next(iter(found)) for key, found in partition_of.items()}


def test_producers_more_partitions_move_a_key(producers):
    output = cell_output(producers, "anadir-particion-resultado")
    ana = consumed("\n".join(line for line in output.splitlines() if line.startswith("Partition:")))
    returned = [r["Partition"] for r in ana if r["value"] == "pedido devuelto"]
    earlier = {r["Partition"] for r in ana if r["value"] != "pedido devuelto"}
    assert returned == [str(partition_for("ana", 4))]
    assert earlier == {str(partition_for("ana", 3))} and returned[0] not in earlier


def test_producers_bigger_batches_and_gzip_as_the_table_shows(producers):
    """The throughput table: what the text reads in it, never a timing."""
    printed = cell_output(producers, "rendimiento")
    rows = {}
    for line in printed.splitlines():
        words = line.split()
        if words and words[0] in ("por-defecto", "lotes-grandes", "lotes-gzip"):
            rows[words[0]] = dict(
                zip(
                    ["seconds", "rate", "batch", "per_request", "compression", "disk_kb"],
                    map(float, words[1:]),
                    strict=True,
                )
            )
    assert set(rows) == {"por-defecto", "lotes-grandes", "lotes-gzip"}, printed
    assert all(row["seconds"] > 0 and row["rate"] > 0 for row in rows.values()), printed
    default, bigger, gzip = rows["por-defecto"], rows["lotes-grandes"], rows["lotes-gzip"]
    # Batches never pass batch_size (16 KB by default); 128 KB and linger_ms=50 make them larger
    # and each request carries more messages.
    assert 0 < default["batch"] <= 16384 < bigger["batch"], printed
    assert bigger["per_request"] > default["per_request"], printed
    # Uncompressed: a ratio of 1.00 and about the same bytes on disk, whatever the batches.
    assert default["compression"] == bigger["compression"] == 1.0, printed
    assert abs(default["disk_kb"] - bigger["disk_kb"]) <= 0.1 * bigger["disk_kb"], printed
    # gzip: the batch shrinks, and the broker keeps it as it came, so the disk shrinks too.
    assert gzip["compression"] < 0.5, printed
    assert 0 < gzip["disk_kb"] < 0.5 * bigger["disk_kb"], printed
