"""The class report (``python -m autograder report``) on a small real class of activity 1.

A correct, a partial, a tampering, a looping and a crashing submission are graded for real
(nbgrader, Kafka, the sandbox); the report must show their scores, each check's pass rate as
the gradebook has it, who timed out, crashed or showed signals of tampering, and the seconds
each took; and it must render offline in Chromium with its chart and no console errors. Who
hit a resource limit is shown from the records alone (a class graded before the limits, an
unreadable record) on a second page.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from unittest import mock

import pytest
from selenium import webdriver

from autograder.activities import ACTIVITY1 as SPEC1
from autograder.grader.course import Course
from autograder.grader.records import (
    VERSION,
    Events,
    GradingRun,
    RunResult,
    Timeout,
    write_record,
)
from autograder.grader.signals import locked_cells, tamper_signals
from autograder.instructor.grading import grade_class
from autograder.instructor.report import collect, write_report
from tests.fixtures.submissions import (
    ACTIVITY1,
    ACTIVITY2,
    ACTIVITY3,
    SUBMISSIONS,
    write_submission,
)
from tests.support import chromium
from tests.support.grading import course_copy
from tests.support.paths import output_file

TIMEOUT = 20  # seconds a cell may run: enough for honest cells on a busy machine
TESTS = ("test-topic", "test-mensajes", "test-nombre")
FIRST_RUN = ["correcto", "sin-nombre", "parchea-comprobaciones", "bucle-infinito"]
SECOND_RUN = ["se-cae", "sin-entrega"]  # sin-entrega has no submission folder: it fails
IMPORT_PROBLEM = {
    "folder": "Perez Gil, Juan_12345_assignsubmission_file",
    "name": "Juan Pérez Gil",
    "reason": "la carpeta no contiene ningún cuaderno .ipynb",
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    with course_copy(tmp_path_factory.mktemp("curso")) as root:
        yield root


@pytest.fixture(scope="module")
def graded(course) -> dict:
    """The class graded in two runs (the second for other students), with the seconds each
    run took; and an import record with one problem."""
    for student in FIRST_RUN + SECOND_RUN[:1]:
        write_submission(course, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1][student][0])
    quiet = {"course_root": course, "timeout": TIMEOUT, "progress": lambda _line: None}
    first = grade_class(ACTIVITY1, students=FIRST_RUN, **quiet)
    second = grade_class(ACTIVITY1, students=SECOND_RUN, **quiet)
    record = {
        "zip": "actividad1-entregas.zip",
        "imported": [
            {
                "student": "correcto",
                "name": "Ana Pérez",
                "lms_id": "1001",
                "file": "correcto/actividad1-hola-kafka.ipynb",
            }
        ],
        "problems": [IMPORT_PROBLEM],
    }
    (course / "informes" / ACTIVITY1 / "importacion.json").write_text(json.dumps(record))
    return {r.student: r for r in first + second}


def _events(course: Path, student: str) -> dict:
    return json.loads(Course(course).events(ACTIVITY1, student).read_text())


def _section(html: str, anchor: str) -> str:
    """The text of the report from the heading with id ``anchor`` to the next heading."""
    start = html.index(f'id="{anchor}"')
    end = re.compile(r"<h[23] ").search(html, start + 1)
    text = re.sub(r"<[^>]+>", " ", html[start : end.start() if end else len(html)])
    return re.sub(r"\s+", " ", unescape(text))


def _listed(html: str, anchor: str) -> set[str]:
    """The submissions listed (in bold) from the heading ``anchor`` to the next heading."""
    start = html.index(f'id="{anchor}"')
    end = re.compile(r"<h[23] ").search(html, start + 1)
    return set(re.findall(r"<strong>([^<]+)</strong>", html[start : end.start() if end else None]))


def _pass_counts_in_gradebook(course: Path) -> dict[str, tuple[int, int]]:
    """grade_id -> (submissions with full marks, submissions), straight from gradebook.db."""
    from nbgrader.api import Gradebook

    counts: dict[str, list[int]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for submission in gradebook.find_assignment(ACTIVITY1).submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    entry = counts.setdefault(grade.name, [0, 0])
                    entry[0] += grade.score >= grade.max_score
                    entry[1] += 1
    return {name: (passed, total) for name, (passed, total) in counts.items()}


# -- signals of tampering, on the notebooks as handed in (no grading needed) ------------------


def _signals(course: Path, activity: str, fixture: str) -> list[dict]:
    student = f"senales-{fixture}"
    path = write_submission(course, activity, student, SUBMISSIONS[activity][fixture][0])
    import nbformat

    locked = locked_cells(f"sqlite:///{course / 'gradebook.db'}", activity, activity)
    assert locked, "the gradebook should know the released notebook's locked cells"
    return tamper_signals(nbformat.read(path, as_version=4), locked)


def test_signals_of_tampering_in_submitted_notebooks(course):
    honest = {
        ACTIVITY1: ["correcto", "sin-nombre", "vacio", "bucle-infinito", "muchas-celdas"],
        ACTIVITY2: ["correcto", "tres-particiones", "grupo-equivocado", "bucle-infinito"],
        ACTIVITY3: ["correcto", "duplicados", "no-idempotente", "vacio"],
    }
    for activity, fixtures in honest.items():
        for fixture in fixtures:
            assert _signals(course, activity, fixture) == [], (activity, fixture)

    def kinds(fixture: str) -> set[tuple[str, str]]:
        return {(s["kind"], s["cell"]) for s in _signals(course, ACTIVITY1, fixture)}

    def details(fixture: str) -> str:
        return " | ".join(s["detail"] for s in _signals(course, ACTIVITY1, fixture))

    assert kinds("borra-tests") == {("test-borrado", t) for t in TESTS}
    assert kinds("borra-tests-con-trabajo") == {("test-borrado", t) for t in TESTS}
    edited = {("test-editado", "test-topic"), ("test-editado", "test-mensajes")}
    assert kinds("edita-test") == edited
    assert kinds("parchea-comprobaciones") == {("codigo", "nombre")}
    assert "setattr()" in details("parchea-comprobaciones")
    assert "reasigna kafka.KafkaAdminClient" in details("parchea-clientes")
    assert "altera IPython" in details("salida-falsa")
    assert "KAFKA_BOOTSTRAP_SERVERS en os.environ" in details("otro-cluster")
    assert "os._exit" in details("se-cae")
    signals = details("finge-y-se-cae")
    assert "setattr()" in signals and "altera IPython" in signals and "os._exit" in signals


# -- the graded class --------------------------------------------------------------------------


@pytest.mark.slow
def test_grading_records_each_run_and_what_happened(course, graded):
    assert {s: r.ok for s, r in graded.items()} == {
        **dict.fromkeys(FIRST_RUN + ["se-cae"], True),
        "sin-entrega": False,
    }
    record = json.loads(Course(course).grading_record(ACTIVITY1).read_text())
    assert record["version"] == VERSION
    assert record["activity"] == ACTIVITY1 and record["mode"] == "warm" and record["jobs"] == 1
    assert record["finished"].startswith("20")
    # The second run kept the first run's students.
    by_student = {r["student"]: r for r in record["results"]}
    assert sorted(by_student) == sorted(FIRST_RUN + SECOND_RUN)
    for student in FIRST_RUN + ["se-cae"]:
        assert by_student[student]["score"] == pytest.approx(SUBMISSIONS[ACTIVITY1][student][1])
        assert by_student[student]["seconds"] > 1, student
    assert by_student["sin-entrega"]["ok"] is False and by_student["sin-entrega"]["error"]

    correct = _events(course, "correcto")
    assert correct["checks"] == dict.fromkeys(TESTS, "superada")
    assert correct["tamper"] == [] and correct["timeouts"] == [] and not correct["kernel_died"]
    assert correct["seconds"] > 0
    looping = _events(course, "bucle-infinito")
    assert looping["timeouts"][0] == {"cell": "producir", "seconds": TIMEOUT}
    # Then its consumer waits 10 s for messages that never come: on a slow machine, longer.
    assert {t["cell"] for t in looping["timeouts"][1:]} <= {"consumir"}
    assert _events(course, "se-cae")["kernel_died"] == "producir"
    tampering = _events(course, "parchea-comprobaciones")
    assert [s["cell"] for s in tampering["tamper"]] == ["nombre", "nombre"]
    assert tampering["checks"] == dict.fromkeys(TESTS, "fallida")


@pytest.mark.slow
def test_report_shows_scores_checks_incidents_and_seconds(course, graded):
    path = write_report("actividad1", course)
    assert path == course / "informes" / ACTIVITY1 / "informe.html"
    html = path.read_text()
    assert '<html lang="es">' in html
    # Offline: nothing fetched, no scripts.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html
    assert html.count("<svg") == 2  # the scores and the seconds

    # (b) Pass rates as the gradebook has them, hardest check first.
    in_gradebook = _pass_counts_in_gradebook(course)
    assert in_gradebook == {"test-topic": (4, 5), "test-mensajes": (2, 5), "test-nombre": (1, 5)}
    checks = _section(html, "comprobaciones")
    rows = [(s.title, in_gradebook[s.grade_id]) for s in SPEC1.steps]
    for title, (passed, total) in rows:
        assert title in checks
        assert f"{passed} de {total} {round(100 * passed / total)} %" in checks, checks
    order = [checks.index(title) for title, _ in sorted(rows, key=lambda r: r[1][0])]
    assert order == sorted(order), "the check fewest students pass comes first"

    # Scores and seconds of every submission.
    submissions = _section(html, "entregas")
    data = {s.student: s for s in collect(ACTIVITY1, course).submissions}
    for student in FIRST_RUN + ["se-cae"]:
        score = f"{SUBMISSIONS[ACTIVITY1][student][1]:g}".replace(".", ",")
        recorded = json.loads(Course(course).grading_record(ACTIVITY1).read_text())["results"]
        recorded = next(r["seconds"] for r in recorded if r["student"] == student)
        seconds = f"{recorded:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        row = rf"{student} (Ana Pérez )?{score} / 0,5 {seconds} calificada"
        assert re.search(row, submissions), (student, submissions)
        assert data[student].seconds == pytest.approx(graded[student].seconds, abs=0.01)
    assert re.search(r"sin-entrega — [\d,]+ error", submissions), submissions
    assert "Ana Pérez" in submissions  # the name from the import record

    # (c) Who timed out, crashed, tampered, was not imported.
    timed_out = _section(html, "tiempo")
    # Exactly those whose grading recorded a timeout: the loop, and on a busy machine maybe
    # an honest cell that hit the limit too.
    recorded_timeouts = {s for s in FIRST_RUN + ["se-cae"] if _events(course, s)["timeouts"]}
    assert "bucle-infinito" in recorded_timeouts
    assert _listed(html, "tiempo") == recorded_timeouts
    assert f"Tiempo agotado ({len(recorded_timeouts)})" in timed_out
    assert f"«producir» interrumpida tras {TIMEOUT} s" in timed_out
    failures = _section(html, "fallo")
    assert _listed(html, "fallo") == {"se-cae", "sin-entrega"}
    assert "Fallos: kernel caído o error al calificar (2)" in failures
    assert "Kernel caído el kernel murió durante «producir»" in failures
    assert "Error al calificar" in failures and "no tiene el cuaderno de la actividad" in failures
    signals = _section(html, "manipulacion")
    assert _listed(html, "manipulacion") == {"parchea-comprobaciones", "se-cae"}
    assert "Señales de manipulación (2)" in signals, signals
    assert "«nombre»: modifica atributos con setattr()" in signals
    assert "«producir»: termina el kernel (os._exit)" in signals
    # Resource limits: exactly those whose grading recorded one (none, unless a limit of the
    # machine's grader stopped a submission).
    hit = {s for s in FIRST_RUN + ["se-cae"] if _events(course, s).get("limit")}
    assert _listed(html, "limite") == hit
    assert f"Límites de recursos ({len(hit)})" in _section(html, "limite")
    not_imported = _section(html, "importacion")
    assert "(1)" in not_imported and IMPORT_PROBLEM["reason"] in not_imported
    assert IMPORT_PROBLEM["name"] in not_imported and "actividad1-entregas.zip" in not_imported

    # (a) The chart's mean and the summary agree with the scores (sin-entrega has none).
    scores = [SUBMISSIONS[ACTIVITY1][s][1] for s in FIRST_RUN + ["se-cae"]]
    mean = f"{sum(scores) / len(scores):.2f}".rstrip("0").rstrip(".").replace(".", ",")
    assert f"Media: {mean}</text>" in html
    assert f"<b>{mean} / 0,5</b><span>nota media</span>" in html
    assert "<b>5</b><span>entregas calificadas</span>" in html
    _look_at_it_in_chromium(path, "informe-actividad1.png")


class _LoggingOptions(webdriver.ChromeOptions):
    """Chrome options that also keep the page's console (driver.get_log("browser"))."""

    def __init__(self):
        super().__init__()
        self.set_capability("goog:loggingPrefs", {"browser": "ALL"})


def _look_at_it_in_chromium(page: Path, screenshot: str, charts: int = 2) -> None:
    base = page.parent / "chromium"
    base.mkdir(exist_ok=True)
    with mock.patch.object(chromium.webdriver, "ChromeOptions", _LoggingOptions):
        browser = chromium.Browser(base)
    try:
        driver = browser.driver
        driver.get(page.as_uri())
        console = driver.get_log("browser")
        # The log works: a probe error shows up in it.
        driver.execute_script("console.error('sonda del test')")
        assert any("sonda del test" in e["message"] for e in driver.get_log("browser"))
        assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
        drawn = driver.find_elements("css selector", "figure svg")
        assert len(drawn) == charts
        for chart in drawn:
            assert chart.is_displayed()
            assert chart.size["width"] > 300 and chart.size["height"] > 150, chart.size
        bars = driver.execute_script(
            "return document.querySelectorAll('figure svg path, figure svg use').length"
        )
        assert bars > 10
        text = driver.find_element("tag name", "body").text
        assert "Distribución de las notas" in text and "Señales de manipulación" in text
        assert "Límites de recursos" in text
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, height + 140)
        driver.save_screenshot(str(output_file(screenshot)))
    finally:
        browser.quit()


def test_report_of_a_class_not_graded_yet(tmp_path):
    path = write_report("actividad2", tmp_path)
    html = path.read_text()
    assert path == tmp_path / "informes" / ACTIVITY2 / "informe.html"
    assert "Todavía no hay entregas calificadas" in html and "<svg" not in html
    assert "No hay registro de importación" in html
    assert "Límites de recursos (0)" in html
    assert "Ninguna entrega superó un límite de recursos." in html
    assert not (tmp_path / "gradebook.db").exists()


MEMORY = {"kind": "memory", "value": 1 << 30, "message": "Superó el límite de memoria (1 GB)."}
FILE_SIZE = {
    "kind": "file_size",
    "value": 100 << 20,
    "message": "Escribió un fichero de más de 100 MB: se detuvo.",
}


def test_report_lists_who_hit_a_resource_limit(tmp_path):
    """From the records alone (nothing graded in a gradebook): who hit which limit, with its
    message; events written before the records had types are read, unreadable ones left out."""
    students = ["memoria", "fichero", "antigua", "ilegible", "correcta"]
    write_record(
        Course(tmp_path).grading_record(ACTIVITY1),
        GradingRun(
            activity=ACTIVITY1,
            finished="2025-01-20T10:00:00+00:00",
            jobs=2,
            mode="warm",
            results=[
                RunResult(s, 0.2, 0.5, 10.0 + n, True) for n, s in enumerate(students, start=1)
            ],
        ),
    )

    def events(student: str, **fields) -> Events:
        return Events(activity=ACTIVITY1, student=student, isolated=True, **fields)

    write_record(Course(tmp_path).events(ACTIVITY1, "memoria"), events("memoria", limit=MEMORY))
    write_record(
        Course(tmp_path).events(ACTIVITY1, "fichero"),
        events("fichero", limit=FILE_SIZE, timeouts=[Timeout("producir", 20)]),
    )
    write_record(Course(tmp_path).events(ACTIVITY1, "correcta"), events("correcta"))
    # As the grader wrote them before the records had types: no version, no limit.
    old = {"activity": ACTIVITY1, "student": "antigua", "timeouts": [], "kernel_died": "consumir"}
    Course(tmp_path).events(ACTIVITY1, "antigua").write_text(json.dumps(old))
    Course(tmp_path).events(ACTIVITY1, "ilegible").write_text('{"activity": 3')

    html = write_report("actividad1", tmp_path).read_text()
    assert _listed(html, "limite") == {"memoria", "fichero"}
    limits = _section(html, "limite")
    assert "Límites de recursos (2)" in limits
    assert f"Límite de memoria {MEMORY['message']}" in limits
    assert f"Límite de tamaño de fichero {FILE_SIZE['message']}" in limits
    assert _listed(html, "fallo") == {"antigua"}  # its kernel died: read as version 1
    assert _listed(html, "tiempo") == {"fichero"}
    rows = _section(html, "entregas")
    # Graded (ok) but not in a gradebook: "sin calificar" in nbgrader's sense.
    assert "memoria 0,2 / 0,5 11 sin calificar Límite de memoria" in rows, rows
    assert "fichero 0,2 / 0,5 12 sin calificar Tiempo agotado Límite de tamaño de fichero" in rows
    assert "ilegible 0,2 / 0,5 14 sin calificar ninguna" in rows, rows
    assert "<b>3</b><span>con incidencias</span>" in html
    _look_at_it_in_chromium(write_report("actividad1", tmp_path), "informe-limites.png", charts=1)


def test_report_command_writes_the_page_and_refuses_an_unknown_activity(tmp_path):
    command = [sys.executable, "-m", "autograder", "--course", str(tmp_path), "report"]
    done = subprocess.run([*command, "actividad2"], capture_output=True, text=True)
    page = tmp_path / "informes" / ACTIVITY2 / "informe.html"
    assert done.returncode == 0, done.stderr
    assert f"Informe de la clase en {page}" in done.stdout and page.is_file()
    wrong = subprocess.run([*command, "actividad9"], capture_output=True, text=True)
    assert wrong.returncode == 2
    assert "No conozco la actividad «actividad9»" in wrong.stderr
    assert "Traceback" not in wrong.stderr
