"""Lesson 5 · Offsets y semántica de entrega, run twice in one kernel on a real cluster;
its outputs checked."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from tests.support.course import (
    RUNS,
    check_clean_outputs,
    check_exercise,
    check_recap,
    group_rows,
    java_string_hash,
    run_lesson,
)
from tests.support.notebooks import cell_output, plain_output
from tests.support.paths import COURSE

pytestmark = pytest.mark.slow

LESSON = "05-offsets-semantica.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def semantics(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)
    assert "la función facturar(grupo, fichero) — todavía no existe" in plain_output(
        runs.shipped, "comprobar"
    )


def test_exercise_check_kills_the_solution_twice_and_only_the_payment_in_flight_repeats(runs):
    # The solution commits after it writes: killed before the commit of pago-05, it writes
    # pago-05 again on restart; killed after it, nothing is lost or repeated.
    text = plain_output(runs.solved, "comprobar")
    assert (
        "sí, antes de confirmar · perdidos: ninguno · repetidos: pago-05 · "
        "todo confirmado: sí" in text
    ), text
    assert (
        "sí, después de confirmar · perdidos: ninguno · repetidos: ninguno · "
        "todo confirmado: sí" in text
    ), text
    assert "pago-00', 'pago-01'" in cell_output(runs.solved, "ejercicio")


def test_semantics_commit_is_stored_in_consumer_offsets(semantics):
    assert "pagos:0:20" in cell_output(semantics, "producir-pagos")
    leidos = cell_output(semantics, "leer-cinco")
    assert "['pago-00', 'pago-01', 'pago-02', 'pago-03', 'pago-04']" in leidos
    assert "Antes del commit: posición 5, confirmado None" in leidos
    assert "Después del commit: confirmado 5" in leidos
    rows = group_rows(cell_output(semantics, "describir-contabilidad"), "contabilidad")
    assert rows == {0: ("5", "20", "15")}
    assert "cleanup.policy=compact" in cell_output(semantics, "describir-consumer-offsets")
    located = re.search(
        r"está en la partición (\d) de __consumer_offsets, que tiene (\d+) mensajes",
        cell_output(semantics, "particion-del-grupo"),
    )
    assert int(located.group(1)) == java_string_hash("contabilidad") % 10
    assert int(located.group(2)) >= 1
    record = cell_output(semantics, "leer-consumer-offsets")
    assert '"group":"contabilidad","topic":"pagos","partition":0' in record
    assert '"offset":5' in record
    assert "Processed a total of" in record


def test_semantics_commit_before_processing_loses_the_payment(semantics):
    assert "código de salida: -9" in cell_output(semantics, "antes-caida")
    rows = group_rows(cell_output(semantics, "antes-grupo"), "cobros-antes")
    assert rows[0][0] == "8"  # offset 7 confirmed, never processed
    resumed = cell_output(semantics, "antes-reanudar")
    assert "empiezo en el offset 8" in resumed
    assert "19 cobros apuntados para 20 pagos" in resumed
    assert "sin cobrar: ['pago-07']" in resumed
    assert "cobrados más de una vez: ninguno" in resumed


def test_semantics_commit_after_processing_repeats_the_payment(semantics):
    assert "código de salida: -9" in cell_output(semantics, "despues-caida")
    rows = group_rows(cell_output(semantics, "despues-grupo"), "cobros-despues")
    assert rows[0][0] == "7"  # offset 7 processed, never confirmed
    resumed = cell_output(semantics, "despues-reanudar")
    assert "empiezo en el offset 7" in resumed
    assert "21 cobros apuntados para 20 pagos" in resumed
    assert "sin cobrar: ninguno" in resumed
    assert "cobrados más de una vez: ['pago-07']" in resumed


def offset_boxes(html: str) -> dict[int, str]:
    """The state of each offset in a `kafkalab.show_offsets` picture: {offset: state}."""
    found = re.findall(r'<div title="(\w+)"[^>]*>(\d+)</div>', html)
    return {int(offset): state for state, offset in found}


def test_semantics_picture_of_the_partition_marks_the_committed_offset(semantics):
    picture = cell_output(semantics, "dibujar-contabilidad")
    assert "offset confirmado 5, posición 5, fin 20, LAG 15" in picture
    boxes = offset_boxes(picture)
    assert sorted(boxes) == list(range(20))
    assert {boxes[o] for o in range(5)} == {"confirmado"}
    assert {boxes[o] for o in range(5, 20)} == {"pendiente"}
    assert picture.count("▲ confirmado") == 1


def test_semantics_auto_commit_commits_what_earlier_polls_returned(semantics):
    text = cell_output(semantics, "commit-automatico")
    polls = re.findall(
        r"poll\(\) n\.º (\d): devuelve (pago-\d+) … (pago-\d+) · posición (\d+) · confirmado (\d+)",
        text,
    )
    assert polls == [
        ("1", "pago-00", "pago-04", "5", "0"),
        ("2", "pago-05", "pago-09", "10", "5"),
        ("3", "pago-10", "pago-14", "15", "10"),
    ]
    assert "offset confirmado 10, posición 15, fin 20, LAG 10" in text
    boxes = offset_boxes(text)
    assert [boxes[o] for o in range(10, 15)] == ["entregado"] * 5  # returned, not yet committed
    assert "tras close(): confirmado 15" in text


def test_semantics_diagram_of_both_timelines_is_valid_svg():
    lesson = (COURSE / LESSON).read_text()
    assert "](img/05-cuando-confirmar.svg)" in lesson
    root = ElementTree.parse(COURSE / "img" / "05-cuando-confirmar.svg").getroot()
    assert root.get("viewBox") and root.get("width") and root.get("height")
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "at most once" in texts and "at least once" in texts
    assert "empieza" in texts and "en el offset 8" in texts and "en el offset 7" in texts


def test_semantics_shows_no_python_warnings_or_tracebacks(semantics):
    check_clean_outputs(semantics)
