"""Run a course lesson the way a student does, twice, and read what it printed.

    @pytest.fixture(scope="module")
    def runs(tmp_path_factory):
        return run_lesson("00-hola-kafka.md", tmp_path_factory)

    @pytest.fixture(params=RUNS)
    def hola(runs, request):
        return runs[request.param]

``run_lesson`` copies the lesson into a temporary folder (the files it writes stay there) and
runs it top to bottom twice in ONE kernel, as a student who re-runs everything does: the first
time as shipped, so the exercise cell (tagged ``ejercicio``) holds only its comments and the
self-check (tagged ``comprobar``) must say "Todavía no"; the second time with the exercise
cell replaced by the lesson's solution (``course/soluciones/<lesson>.ipy``), so the self-check
must pass. Every other cell runs the same both times, and a cell that waits forever on the
re-run fails the test with nbclient's timeout.
"""

from __future__ import annotations

import re
import shutil
from typing import NamedTuple

from kafka.partitioner.default import murmur2

from .notebooks import COURSE, execute_runs, plain_output

EXERCISE = "ejercicio"
SELF_CHECK = "comprobar"
SOLUTIONS = COURSE / "soluciones"
PASSED = "Ejercicio superado: todo en orden."
NOT_YET = "Todavía no:"
RUNS = [0, 1]  # as shipped, then re-run with the solution


class Runs(NamedTuple):
    shipped: object
    solved: object


def solution_of(lesson: str) -> str:
    return (SOLUTIONS / f"{lesson.removesuffix('.md')}.ipy").read_text()


def run_lesson(lesson: str, tmp_path_factory) -> Runs:
    folder = tmp_path_factory.mktemp(lesson.removesuffix(".md"))
    shutil.copy(COURSE / lesson, folder / lesson)
    shipped, solved = execute_runs(folder / lesson, [{}, {EXERCISE: solution_of(lesson)}])
    return Runs(shipped, solved)


def check_exercise(runs: Runs) -> None:
    """The self-check fails on the notebook as shipped and passes with the solution."""
    before = plain_output(runs.shipped, SELF_CHECK)
    after = plain_output(runs.solved, SELF_CHECK)
    assert NOT_YET in before and PASSED not in before, before
    assert "✘" in before, before
    assert PASSED in after and "✘" not in after, after


def check_recap(lesson: str) -> None:
    """The lesson ends with «Lo que has aprendido» (5-8 points), an exercise and references."""
    text = (COURSE / lesson).read_text()
    recap = re.search(r"^## Lo que has aprendido\n(.*?)(?=^## )", text, re.S | re.M)
    assert recap, f"{lesson}: falta «## Lo que has aprendido»"
    points = re.findall(r"^- ", recap.group(1), flags=re.M)
    assert 5 <= len(points) <= 8, f"{lesson}: {len(points)} puntos en el resumen"
    assert re.search(r"^## Ejercicio", text, flags=re.M), f"{lesson}: falta el ejercicio"
    assert re.search(r"^## Referencias", text, flags=re.M), f"{lesson}: faltan las referencias"
    assert text.count(f":tags: [{EXERCISE}]") == 1, f"{lesson}: una celda {EXERCISE}"
    assert text.count(f":tags: [{SELF_CHECK}]") == 1, f"{lesson}: una celda {SELF_CHECK}"


def all_outputs(notebook) -> str:
    """Everything every code cell printed or displayed, tagged or not."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            elif output.get("output_type") == "error":
                texts.append("\n".join(output.get("traceback", [])))
            else:
                texts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(texts)


def check_clean_outputs(notebook) -> None:
    text = all_outputs(notebook)
    assert "DeprecationWarning" not in text
    assert "Traceback" not in text


def topic_id(text: str) -> str:
    return re.search(r"TopicId: (\S+)", text).group(1)


def end_offsets(text: str, topic: str) -> dict[int, int]:
    """`kafka-get-offsets.sh` lines `topic:partition:offset` as {partition: offset}."""
    found = re.findall(rf"^{re.escape(topic)}:(\d+):(\d+)$", text, flags=re.MULTILINE)
    return {int(partition): int(offset) for partition, offset in found}


def partition_for(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def group_table(text: str) -> list[list[str]]:
    """Data rows of `kafka-consumer-groups.sh --describe` (GROUP TOPIC PARTITION ...)."""
    table = [line.split() for line in text.splitlines() if line.strip()]
    header = next(row for row in table if row[:2] == ["GROUP", "TOPIC"])
    assert header[3:6] == ["CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    return [row for row in table if len(row) >= 6 and row[0] != "GROUP" and row[2].isdigit()]


def group_members(text: str, group: str = "app1") -> dict[str, int]:
    """`--describe --members`: {CLIENT-ID: #PARTITIONS}."""
    members = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 5 and words[0] == group:
            members[words[3]] = int(words[4])
    return members


def group_rows(text: str, group: str) -> dict[int, tuple[str, str, str]]:
    """`kafka-consumer-groups.sh --describe` rows: {partition: (current, log end, lag)}."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[2].isdigit():
            rows[int(fields[2])] = (fields[3], fields[4], fields[5])
    return rows


def quorum_field(text: str, name: str) -> int:
    return int(re.search(rf"^{name}:\s+(-?\d+)", text, flags=re.MULTILINE).group(1))


def java_string_hash(text: str) -> int:
    """abs(String.hashCode()) as Kafka computes it to place a group in __consumer_offsets."""
    code = 0
    for character in text:
        code = (31 * code + ord(character)) & 0xFFFFFFFF
    signed = code - (1 << 32) if code & 0x80000000 else code
    return abs(signed)
