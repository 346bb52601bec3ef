"""Lesson 6 · Exactamente una vez, run twice in one kernel on a real cluster;
its outputs checked."""

from __future__ import annotations

import re

import pytest

from tests.support.course import (
    RUNS,
    check_clean_outputs,
    check_exercise,
    check_recap,
    run_lesson,
)
from tests.support.notebooks import cell_output

pytestmark = pytest.mark.slow

LESSON = "06-exactly-once.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_lesson(LESSON, tmp_path_factory)


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def exactly_once(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)


def test_exactly_once_idempotent_producer_numbers_its_batches(exactly_once):
    batches = re.findall(
        r"count: (\d+) baseSequence: (-?\d+) lastSequence: (-?\d+) producerId: (-?\d+)",
        cell_output(exactly_once, "dump-recibos"),
    )
    idempotent = [b for b in batches if int(b[3]) >= 0]
    plain = [b for b in batches if int(b[3]) == -1]
    assert sum(int(b[0]) for b in idempotent) == 10
    assert sum(int(b[0]) for b in plain) == 10
    assert all(int(b[1]) >= 0 for b in idempotent)
    assert all(b[1] == b[2] == "-1" for b in plain)


def test_exactly_once_read_committed_skips_the_aborted_transaction(exactly_once):
    read = cell_output(exactly_once, "leer-movimientos")
    assert "read_uncommitted: 5 mensajes" in read
    assert "read_committed: 3 mensajes ['ingreso 100', 'ingreso 50', 'retirada 30']" in read
    transactions = cell_output(exactly_once, "listar-transacciones")
    assert re.search(r"caja-1\s+\d+\s+\d+\s+CompleteAbort", transactions)


def test_exactly_once_picture_shows_the_markers_and_the_aborted_records(exactly_once):
    picture = cell_output(exactly_once, "dibujar-movimientos")
    assert "5 mensajes, 3 visibles con read_committed, 2 marcadores" in picture
    assert "la partición termina en el offset 7" in picture  # 5 records + 2 markers
    states = re.findall(r'<td title="(\w+)"', picture)
    assert states == ["confirmado"] * 3 + ["COMMIT"] + ["abortado"] * 2 + ["ABORT"]
    assert "retirada 900" in picture


def test_exactly_once_idempotent_writes_survive_the_crash(exactly_once):
    assert "pagos:0:20" in cell_output(exactly_once, "crear-pagos")
    text = cell_output(exactly_once, "idempotente-caida")
    assert "código de salida: -9" in text
    assert "empiezo en el offset 7" in text  # the payment was read twice...
    assert "pago-07 ya estaba cobrado: no se cobra otra vez" in text
    assert text.count("ya estaba cobrado") == 1
    assert "20 cobros apuntados para 20 pagos" in text  # ...and written once
    assert "sin cobrar: ninguno" in text
    assert "cobrados más de una vez: ninguno" in text


def test_exactly_once_shows_no_python_warnings_or_tracebacks(exactly_once):
    check_clean_outputs(exactly_once)
