"""Lesson 1 · Topics, particiones y offsets, run twice in one kernel; its outputs checked."""

from __future__ import annotations

import html
import re
from collections import defaultdict

import pytest

from tests.support.course import (
    RUNS,
    all_outputs,
    check_exercise,
    check_recap,
    end_offsets,
    group_rows,
    run_lesson,
    topic_id,
)
from tests.support.notebooks import COURSE, cell_output, consumed, plain_output

pytestmark = pytest.mark.slow

LESSON = "01-topics-particiones-offsets.md"
LECTURAS = {
    0: [(0, "18.5"), (1, "18.7"), (2, "19.0"), (3, "19.4")],
    1: [(0, "22.1"), (1, "22.0")],
    2: [(0, "15.2"), (1, "15.9"), (2, "16.3")],
}


def drawing(text: str) -> dict[int, tuple[int, list[tuple[int, str]]]]:
    """kafkalab.show_partitions' HTML: {partition: (boxes drawn as deleted, [(offset, value)])}."""
    rows = {}
    for partition, row in re.findall(
        r'data-particion="(\d+)"(.*?)(?=data-particion=|$)', text, re.S
    ):
        boxes = re.findall(r'data-offset="(\d+)".*?<b>(.*?)</b>', row, re.S)
        rows[int(partition)] = (
            row.count("borrado"),
            [(int(offset), html.unescape(value)) for offset, value in boxes],
        )
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def topics(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_python_primer_sends_reads_and_commits_one_greeting(topics):
    # The future tells where the greeting landed; the group reads it and commits up to the
    # end (LAG 0). Each run starts a new cluster, so both runs see offset 0.
    sent = cell_output(topics, "python-producir")
    assert "Guardado en la partición 0, offset 0" in sent, sent
    read = cell_output(topics, "python-consumir")
    lines = re.findall(r"^partición \d+, offset \d+: .*$", read, re.M)
    assert lines == ["partición 0, offset 0: hola desde Python"], read
    assert group_rows(read, "primeros-pasos") == {0: ("1", "1", "0")}


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_topics_invalid_name_is_refused_in_spanish(topics):
    output = cell_output(topics, "nombre-invalido")
    assert "Topic name is invalid" in output
    assert "no es válido" in output


def test_topics_each_partition_numbers_its_own_offsets(topics):
    assert "PartitionCount: 3" in cell_output(topics, "crear-lecturas")
    assert end_offsets(cell_output(topics, "offsets-finales"), "lecturas") == {0: 4, 1: 2, 2: 3}
    records = consumed(cell_output(topics, "consumir-con-offsets"))
    assert len(records) == 9
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record["Partition"]].append(int(record["Offset"]))
    assert {p: sorted(o) for p, o in by_partition.items()} == {
        "0": [0, 1, 2, 3],
        "1": [0, 1],
        "2": [0, 1, 2],
    }
    from_offset = consumed(cell_output(topics, "consumir-particion-offset"))
    assert [(r["Offset"], r["value"]) for r in from_offset] == [("1", "15.9"), ("2", "16.3")]


def test_topics_order_holds_within_each_partition_only(topics):
    records = consumed(cell_output(topics, "consumir-numeros"))
    assert sorted(int(r["value"]) for r in records) == list(range(1, 13))
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record["Partition"]].append(int(record["value"]))
    for numbers in by_partition.values():
        assert numbers == sorted(numbers), by_partition


def test_topics_retention_delete_records_and_immutability(topics):
    assert "retention.ms=604800000" in cell_output(topics, "retencion")
    assert "retention.ms=86400000" in cell_output(topics, "cambiar-retencion")
    assert "low_watermark: 2" in cell_output(topics, "borrar-registros")
    after = cell_output(topics, "offsets-tras-borrar")
    assert end_offsets(after, "lecturas")[0] == 2
    assert [(r["Offset"], r["value"]) for r in consumed(after)] == [("2", "19.0"), ("3", "19.4")]
    corrected = consumed(cell_output(topics, "corregir"))
    assert [(r["Offset"], r["value"]) for r in corrected] == [
        ("0", "22.1"),
        ("1", "22.0"),
        ("2", "22.4 (corrige a 22.0)"),
    ]


def test_topics_a_running_producer_recreates_a_deleted_topic(topics):
    assert "numeros" not in cell_output(topics, "borrar-numeros").split()
    before = cell_output(topics, "temporal-antes")
    after = cell_output(topics, "temporal-recreado")
    assert "PartitionCount: 3" in before
    assert "PartitionCount: 1" in after
    assert topic_id(before) != topic_id(after)
    content = cell_output(topics, "temporal-contenido")
    assert "mensaje enviado tras el borrado" in content
    assert "mensaje del topic original" not in content


def test_topics_live_drawing_shows_each_partition_and_its_offsets(topics):
    drawn = drawing(cell_output(topics, "dibujo-lecturas"))
    assert drawn == {p: (0, records) for p, records in LECTURAS.items()}
    # The same messages the console consumer printed, box for box.
    printed = consumed(cell_output(topics, "consumir-con-offsets"))
    assert sorted((int(r["Partition"]), int(r["Offset"]), r["value"]) for r in printed) == sorted(
        (p, offset, value) for p, (_, boxes) in drawn.items() for offset, value in boxes
    )
    after = drawing(cell_output(topics, "dibujo-final"))
    assert after[0] == (2, LECTURAS[0][2:])  # offsets 0 and 1 deleted, 2 and 3 not renumbered
    assert after[1] == (0, [*LECTURAS[1], (2, "22.4 (corrige a 22.0)")])
    assert after[2] == (0, LECTURAS[2])


def test_topics_exercise_checks_partitions_retention_and_order(runs):
    shipped = plain_output(runs.shipped, "comprobar")
    assert "✘ Existe el topic «turnos» con 4 particiones — no existe el topic «turnos»" in shipped
    solved = plain_output(runs.solved, "comprobar")
    for check in (
        "Su retención es de dos días",
        "La partición 2 guarda 1, 2, 3, 4 y 5 en los offsets 0 a 4",
        "La partición 0 guarda a, b y c en los offsets 0 a 2",
        "La partición 1 está vacía",
        "La partición 3 está vacía",
    ):
        assert f"✔ {check}" in solved, solved
    # The solution's own drawing of «turnos»: the same layout the self-check accepted.
    assert drawing(cell_output(runs.solved, "ejercicio")) == {
        0: (0, [(0, "a"), (1, "b"), (2, "c")]),
        1: (0, []),
        2: (0, [(n - 1, str(n)) for n in range(1, 6)]),
        3: (0, []),
    }


def test_topics_console_tools_use_the_kafka_4_2_option_names(topics):
    text = (COURSE / LESSON).read_text()
    code = "".join(re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S))
    assert code.count("--formatter-property print.offset=true") == 4
    assert code.count("--formatter-property print.partition=true") == 2
    assert not re.search(r"^[!%].*--property", text, flags=re.M)
    assert "print." not in "".join(
        sentence for sentence in re.split(r"(?<=\.)\s", text) if "temario" in sentence
    )
    assert "Desde Kafka 4.2 (KIP-1147)" in text
    output = all_outputs(topics)
    assert "DEPRECATED" not in output
    assert not re.search(r"is deprecated|DeprecationWarning", output), output


def test_the_table_of_renamed_console_options_is_kafkas_own(cluster3):
    """Lesson 01's table maps each console option of Kafka 4.1 to its one successor: Kafka's
    own help says so, option by option (``(DEPRECATED) ... Use --new instead``)."""
    source = (COURSE / LESSON).read_text()
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in source.splitlines()
        if line.startswith("| ") and "`--" in line
    ]
    assert len(rows) == 5, rows
    described = {kind: _option_help(cluster3, kind) for kind in ("producer", "consumer")}
    kind_of_row = {"productor de consola": "producer", "consumidor de consola": "consumer"}
    for tool, old_names, new, _what in rows:
        for old in re.findall(r"--[\w.-]+", old_names):
            kind = kind_of_row.get(tool) or ("producer" if "producer" in old else "consumer")
            text = described[kind].get(old, "")
            assert "(DEPRECATED)" in text, f"kafka-console-{kind}.sh {old}: {text!r}"
            assert f"Use {new.strip('`')} instead" in text, (old, text)


def _option_help(cluster, kind: str) -> dict[str, str]:
    """Each option of a console tool's --help with its description on one line (the tool
    wraps long words with a hyphen at the end of a line)."""
    result = cluster.run(f"kafka-console-{kind}.sh --help", check=False)
    blocks: dict[str, list[str]] = {}
    current = None
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("--"):
            current = line.split()[0]
            blocks[current] = [line]
        elif current is not None:
            blocks[current].append(line)
    return {
        option: re.sub(r"-\s+", "-", " ".join(" ".join(lines).split()))
        for option, lines in blocks.items()
    }
