"""Lesson 0 · Hola Kafka, run twice in one kernel on a real cluster; its outputs checked."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.support import hola_kafka
from tests.support.course import (
    RUNS,
    all_outputs,
    check_exercise,
    check_recap,
    run_lesson,
)
from tests.support.notebooks import COURSE, plain_output

pytestmark = pytest.mark.slow

LESSON = "00-hola-kafka.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def hola(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_hola_creates_lists_and_describes_a_topic(hola):
    hola_kafka.check_topic_commands(hola)


def test_hola_reads_from_the_beginning_and_only_new_messages_without_it(hola):
    hola_kafka.check_reading_from_the_beginning(hola)


def test_hola_live_consumer_sees_messages_produced_after_it_started(hola):
    hola_kafka.check_live_consumer(hola)


def test_hola_self_check_names_what_is_missing_and_what_passed(runs):
    shipped = plain_output(runs.shipped, "comprobar")
    assert "✘ Existe el topic «mi-primer-topic»" in shipped
    assert "no existe el topic «mi-primer-topic»" in shipped
    solved = plain_output(runs.solved, "comprobar")
    for check in (
        "Guarda exactamente tres mensajes",
        "El primero es «Hola, soy …» con tu nombre",
        "El tercero es «Hasta luego, …» con el mismo nombre",
        "El grupo «lectores» ha leído los tres",
    ):
        assert f"✔ {check}" in solved, solved
    # The solution read the topic back with the console consumer, in the group the check reads.
    assert "Hasta luego, Ana" in plain_output(runs.solved, "ejercicio")
    assert "Processed a total of 3 messages" in plain_output(runs.solved, "ejercicio")


def test_hola_prints_no_deprecation_warning(hola):
    text = all_outputs(hola)
    assert "DEPRECATED" not in text
    assert not re.search(r"is deprecated|DeprecationWarning", text), text


def test_diagrams_are_valid_svg_files_shown_by_the_lesson():
    text = (COURSE / LESSON).read_text()
    shown = re.findall(r"!\[([^\]]+)\]\((img/00-[\w-]+\.svg)\)", text)
    assert {path for _, path in shown} == {
        "img/00-integraciones.svg",
        "img/00-productor-topic-consumidor.svg",
    }
    files = {f"img/{path.name}" for path in (COURSE / "img").glob("00-*.svg")}
    assert files == {path for _, path in shown}
    for alt, path in shown:
        assert len(alt) > 40, alt  # a real description, in Spanish
        root = ET.parse(COURSE / path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        width, height = int(root.get("width")), int(root.get("height"))
        assert root.get("viewBox") == f"0 0 {width} {height}"
        sizes = [float(e.get("font-size")) for e in root.iter() if e.get("font-size")]
        assert sizes and min(sizes) >= 13, (path, sizes)
        assert "system-ui" in root.get("font-family")
    integrations = ET.parse(COURSE / "img/00-integraciones.svg").getroot()
    labels = "".join(integrations.itertext())
    assert "4 × 5 = 20 conexiones" in labels and "4 + 5 = 9 conexiones" in labels
    lines = integrations.findall(".//{http://www.w3.org/2000/svg}line")
    assert len(lines) == 20 + 9 + 1  # every point-to-point link, the links to Kafka, the divider


def test_hola_uses_one_spanish_term_per_idea():
    text = (COURSE / LESSON).read_text()
    assert text.count("**servidor de arranque** (*bootstrap server*)") == 1
    assert "bootstrap server" not in text.replace("(*bootstrap server*)", "")
    assert len(re.findall(r"\btema\b", text, flags=re.IGNORECASE)) == 1
    assert "librería" not in text.lower()
    assert "KRaft se declaró apto para producción en Kafka 3.3 (octubre de\n2022, KIP-833)" in text
    assert "Kafka 4.0 (marzo de 2025) eliminó ZooKeeper" in text
