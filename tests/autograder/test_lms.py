"""The Moodle round trip on a real course: a zip as Moodle builds it in, a grading worksheet out.

The zips are built here the way Moodle's "Download all submissions" builds them (one folder
``Full name_<participant id>_assignsubmission_<plugin>_`` per student and plugin), from the
course's own released notebooks filled in like tests/fixtures/submissions.py does. The
round trip grades two submissions with the real grader (against real Kafka).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.plugins import LateSubmissionPlugin

from autograder.__main__ import main
from autograder.grader.course import Course
from autograder.grader.records import VERSION, ImportRecord, read_record
from autograder.instructor.grading import grade_class
from autograder.instructor.lms import NEW, REPLACED, UNCHANGED, ImportReport, export_csv, import_zip
from tests.fixtures.submissions import ACTIVITY1, ACTIVITY2, SUBMISSIONS, write_submission
from tests.support.grading import course_copy

FILE = "_assignsubmission_file_"
TEXT = "_assignsubmission_onlinetext_"
JOSE, JOSE_PLAIN, ANA = "José Martínez Núñez", "Jose Martinez Nunez", "Ana Pérez"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A course with its student versions generated (copied for each test)."""
    with course_copy(tmp_path_factory.mktemp("curso-lms")) as root:
        yield root


@pytest.fixture
def course(prepared, tmp_path) -> Path:
    return Path(shutil.copytree(prepared, tmp_path / "curso"))


@pytest.fixture(scope="module")
def notebooks(prepared, tmp_path_factory) -> dict[str, bytes]:
    """Submissions as students hand them in, by fixture name (tests/fixtures/submissions)."""
    scratch = tmp_path_factory.mktemp("cuadernos")
    for folder in ("release", "source"):
        (scratch / folder).symlink_to(prepared / folder)
    made = {}
    for activity, fixture in [
        (ACTIVITY1, "correcto"),
        (ACTIVITY1, "sin-nombre"),
        (ACTIVITY1, "vacio"),
        (ACTIVITY2, "correcto"),
    ]:
        overrides = SUBMISSIONS[activity][fixture][0]
        path = write_submission(scratch, activity, f"{activity}-{fixture}", overrides)
        made[f"a{activity[9]}/{fixture}"] = path.read_bytes()
    assert len(set(made.values())) == len(made)
    return made


def moodle_zip(path: Path, entries: dict[str, bytes | None]) -> Path:
    """A zip like Moodle's: ``None`` is a folder with nothing in it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            if data is None:
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return path


def class_zip(path: Path, notebooks: dict[str, bytes], ana: str = "sin-nombre") -> Path:
    """Activity 1 of a class: three good submissions and one of each problem."""
    return moodle_zip(
        path,
        {
            f"{JOSE}_1001{FILE}/Actividad 1 - José.ipynb": notebooks["a1/correcto"],
            f"{JOSE_PLAIN}_1007{FILE}/actividad1-hola-kafka.ipynb": notebooks["a1/vacio"],
            # Sent again after the deadline: Moodle keeps only the last file, and the online
            # text beside it does not count.
            f"{ANA}_1002{FILE}/actividad1 (entrega tardía).ipynb": notebooks[f"a1/{ana}"],
            f"{ANA}_1002{TEXT}/onlinetext.html": "<p>Os la reenvío, perdón</p>".encode(),
            f"Luis Gómez_1003{FILE}/a.ipynb": notebooks["a1/correcto"],
            f"Luis Gómez_1003{FILE}/b.ipynb": notebooks["a1/sin-nombre"],
            f"María López_1004{FILE}/actividad1.txt": "NOMBRE = 'María'".encode(),
            f"Carmen Ruiz_1005{FILE}/actividad1.ipynb": notebooks["a2/correcto"],
            f"Pedro Sanz_1006{TEXT}/onlinetext.html": b"<p>No me funciona Kafka</p>",
            f"Elena Gil_1008{FILE}/": None,
            f"Raúl Díaz_1009{FILE}/actividad1.ipynb": b'{"cells": [',
        },
    )


# The problems of class_zip, by name: (Moodle folder, what the reason must say).
PROBLEMS = {
    "Carmen Ruiz": (f"Carmen Ruiz_1005{FILE}", f"es el cuaderno de otra actividad ({ACTIVITY2})"),
    "Elena Gil": (f"Elena Gil_1008{FILE}", "la carpeta no tiene ningún archivo"),
    "Luis Gómez": (f"Luis Gómez_1003{FILE}", "hay 2 cuadernos («a.ipynb», «b.ipynb»)"),
    "María López": (f"María López_1004{FILE}", "no ha entregado un cuaderno (.ipynb) sino"),
    "Pedro Sanz": (f"Pedro Sanz_1006{TEXT}", "no hay ningún cuaderno: solo texto en línea"),
    "Raúl Díaz": (f"Raúl Díaz_1009{FILE}", "no se puede leer como cuaderno de Jupyter"),
}
# Both José slug to jose-martinez-nunez: each gets his Moodle id.
IMPORTED = {
    "jose-martinez-nunez-1001": (JOSE, "1001", "a1/correcto"),
    "jose-martinez-nunez-1007": (JOSE_PLAIN, "1007", "a1/vacio"),
    "ana-perez": (ANA, "1002", "a1/sin-nombre"),
}


def submitted(course: Path, student: str, activity: str = ACTIVITY1) -> Path:
    return course / "submitted" / student / activity / f"{activity}.ipynb"


def gradebook_students(course: Path) -> dict[str, tuple[str, str, str]]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "kafka-iabd") as gradebook:
        return {s.id: (s.first_name, s.last_name, s.lms_user_id) for s in gradebook.students}


def assert_imported(course: Path, report: ImportReport, notebooks, status: str) -> None:
    found = {e.student: (e.name, e.lms_id, e.status) for e in report.imported}
    assert found == {s: (name, lms, status) for s, (name, lms, _nb) in IMPORTED.items()}
    for student, (_name, _lms, fixture) in IMPORTED.items():
        assert submitted(course, student).read_bytes() == notebooks[fixture]
    problems = {p.name: p for p in report.problems}
    assert set(problems) == set(PROBLEMS)
    for name, (folder, reason) in PROBLEMS.items():
        assert problems[name].folder == folder
        assert reason in problems[name].reason, problems[name].reason
    # Nobody else got a folder: not the problems, not the online text.
    assert {p.name for p in (course / "submitted").iterdir()} == set(IMPORTED)
    assert sorted(p.name for p in submitted(course, "ana-perez").parent.iterdir()) == [
        f"{ACTIVITY1}.ipynb"
    ]


def test_import_takes_one_notebook_per_student_and_says_why_not_for_the_rest(
    course, notebooks, tmp_path
):
    archive = class_zip(tmp_path / "moodle.zip", notebooks)
    report = import_zip(archive, "actividad1", course)
    assert report.activity == ACTIVITY1
    assert_imported(course, report, notebooks, NEW)
    files = {e.student: e.file for e in report.imported}
    assert files["ana-perez"] == f"{ANA}_1002{FILE}/actividad1 (entrega tardía).ipynb"

    # Names and Moodle ids in nbgrader's gradebook, for the export.
    assert gradebook_students(course) == {
        "jose-martinez-nunez-1001": ("José", "Martínez Núñez", "1001"),
        "jose-martinez-nunez-1007": ("Jose", "Martinez Nunez", "1007"),
        "ana-perez": ("Ana", "Pérez", "1002"),
    }
    saved = json.loads((course / "informes" / ACTIVITY1 / "importacion.json").read_text())
    assert read_record(Course(course).import_record(ACTIVITY1), ImportRecord) == report.to_record()
    assert saved["version"] == VERSION and saved["zip"] == str(archive)
    assert {e["student"] for e in saved["imported"]} == set(IMPORTED)
    assert set(saved["imported"][0]) >= {"student", "name", "lms_id", "file"}
    assert {p["name"] for p in saved["problems"]} == set(PROBLEMS)
    assert all(set(p) == {"folder", "name", "reason"} for p in saved["problems"])


def test_reimporting_changes_nothing_and_ids_stay_the_same(course, notebooks, tmp_path):
    archive = class_zip(tmp_path / "moodle.zip", notebooks)
    import_zip(archive, ACTIVITY1, course)
    before = {s: submitted(course, s).stat().st_mtime_ns for s in IMPORTED}
    students = gradebook_students(course)
    # The participants as an import before the records had types wrote them (a bare
    # mapping): read all the same.
    participants = Course(course).participants(ACTIVITY1)
    saved = json.loads(participants.read_text())
    assert saved["version"] == VERSION
    participants.write_text(json.dumps(saved["participants"], ensure_ascii=False))
    time.sleep(0.05)
    again = import_zip(archive, ACTIVITY1, course)
    assert_imported(course, again, notebooks, UNCHANGED)
    assert json.loads(participants.read_text())["version"] == VERSION
    assert {s: submitted(course, s).stat().st_mtime_ns for s in IMPORTED} == before
    assert gradebook_students(course) == students
    assert not (course / "informes" / ACTIVITY1 / "anteriores").exists()
    assert "3 entregas importadas de moodle.zip (0 nuevas, 0 reemplazadas, 3 sin cambios)" in (
        again.text()
    )

    # A later zip without José's namesake: José keeps his id.
    later = moodle_zip(
        tmp_path / "despues.zip",
        {f"{JOSE}_1001{FILE}/otro nombre.ipynb": notebooks["a1/correcto"]},
    )
    report = import_zip(later, ACTIVITY1, course)
    assert [(e.student, e.status) for e in report.imported] == [
        ("jose-martinez-nunez-1001", UNCHANGED)
    ]

    # Another activity: Moodle gives everyone other participant ids; the people are the
    # same, by name. A newcomer whose slug is free gets it plain.
    second = moodle_zip(
        tmp_path / "actividad2.zip",
        {
            f"{JOSE_PLAIN}_2007{FILE}/a2.ipynb": notebooks["a2/correcto"],
            f"{JOSE}_2001{FILE}/a2.ipynb": notebooks["a2/correcto"],
            f"Íñigo Ñúñez_2010{FILE}/a2.ipynb": notebooks["a2/correcto"],
        },
    )
    report = import_zip(second, "actividad2", course)
    assert {e.student: e.lms_id for e in report.imported} == {
        "jose-martinez-nunez-1001": "2001",
        "jose-martinez-nunez-1007": "2007",
        "inigo-nunez": "2010",
    }
    assert report.problems == []
    assert submitted(course, "inigo-nunez", ACTIVITY2).is_file()


def test_a_changed_resubmission_replaces_the_old_one_which_is_kept(course, notebooks, tmp_path):
    import_zip(class_zip(tmp_path / "primera.zip", notebooks), ACTIVITY1, course)
    report = import_zip(
        class_zip(tmp_path / "segunda.zip", notebooks, ana="correcto"), ACTIVITY1, course
    )
    status = {e.student: (e.status, e.backup) for e in report.imported}
    assert status["jose-martinez-nunez-1001"] == (UNCHANGED, None)
    assert status["jose-martinez-nunez-1007"] == (UNCHANGED, None)
    replaced, backup = status["ana-perez"]
    assert replaced == REPLACED
    assert submitted(course, "ana-perez").read_bytes() == notebooks["a1/correcto"]
    assert (course / backup).read_bytes() == notebooks["a1/sin-nombre"]
    assert backup.startswith(f"informes/{ACTIVITY1}/anteriores/ana-perez/")
    text = report.text()
    assert f"ana-perez                 {ANA} (participante 1002): reemplazada" in text
    assert f"la entrega anterior está en {backup}" in text
    assert "Vuelve a calificarla" in text

    # Now two notebooks: nothing changes, and the report says which one still counts.
    third = moodle_zip(
        tmp_path / "tercera.zip",
        {
            f"{ANA}_1002{FILE}/uno.ipynb": notebooks["a1/vacio"],
            f"{ANA}_1002{FILE}/dos.ipynb": notebooks["a1/sin-nombre"],
        },
    )
    report = import_zip(third, ACTIVITY1, course)
    assert report.imported == []
    assert [(p.name, p.reason) for p in report.problems] == [
        (
            ANA,
            "hay 2 cuadernos («uno.ipynb», «dos.ipynb»): no sé cuál calificar; deja solo uno en "
            "Moodle o copia el bueno a mano; sigue valiendo la que se importó antes (ana-perez)",
        )
    ]
    assert submitted(course, "ana-perez").read_bytes() == notebooks["a1/correcto"]


def test_a_zip_downloaded_without_folders_works_the_same(course, notebooks, tmp_path):
    archive = moodle_zip(
        tmp_path / "plano.zip",
        {
            f"{ANA}_1002{FILE}actividad1.ipynb": notebooks["a1/sin-nombre"],
            f"{ANA}_1002{TEXT}onlinetext.html": b"<p>hola</p>",
            f"Luis Gómez_1003{FILE}notas.pdf": b"%PDF-1.4",
        },
    )
    report = import_zip(archive, ACTIVITY1, course)
    assert [(e.student, e.lms_id, e.file) for e in report.imported] == [
        ("ana-perez", "1002", f"{ANA}_1002{FILE}actividad1.ipynb")
    ]
    assert [(p.name, p.folder, p.reason) for p in report.problems] == [
        (
            "Luis Gómez",
            f"Luis Gómez_1003{FILE}",
            "no ha entregado un cuaderno (.ipynb) sino «notas.pdf»",
        )
    ]


def test_the_commands_explain_mistakes_in_spanish(course, notebooks, tmp_path, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--course", str(course), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    not_a_zip = tmp_path / "entregas.zip"
    not_a_zip.write_text("esto no es un zip")
    no_moodle = moodle_zip(tmp_path / "otro.zip", {"cuaderno.ipynb": b"{}"})
    good = class_zip(tmp_path / "moodle.zip", notebooks)
    cases = [
        (("import", str(tmp_path / "no-existe.zip"), "actividad1"), "No encuentro el zip"),
        (("import", str(not_a_zip), "actividad1"), "no es un zip válido"),
        (("import", str(no_moodle), "actividad1"), "no parece una descarga de entregas"),
        (("import", str(good), "actividad9"), "No conozco la actividad «actividad9»"),
        (("export", "actividad1"), "importa antes sus entregas"),
        (("export", "actividad9"), "No conozco la actividad «actividad9»"),
        (("export", "actividad1", "--sobre", "0"), "debe ser mayor que 0"),
    ]
    for argv, message in cases:
        code, out, err = run(*argv)
        assert code == 2 and out == "", (argv, out)
        assert err.startswith("Error: ") and message in err and "Traceback" not in err, err
    assert not (course / "submitted").exists()
    assert main(["--course", str(tmp_path), "import", str(good), "actividad1"]) == 2
    assert "no es un curso de nbgrader" in capsys.readouterr().err

    code, out, err = run("import", str(good), "actividad1")
    assert code == 0, err
    assert out.startswith(
        f"{ACTIVITY1}: 3 entregas importadas de moodle.zip (3 nuevas, 0 reemplazadas, "
        "0 sin cambios).\n"
    )
    assert "No importadas (6):\n  Carmen Ruiz: «actividad1.ipynb»: es el cuaderno de otra" in out
    assert f"Informe guardado en {course / 'informes' / ACTIVITY1 / 'importacion.json'}" in out


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["Identificador"]: row for row in csv.DictReader(handle)}


class PointsOff(LateSubmissionPlugin):
    """A late penalty of our own, as nbgrader's docs describe: 0.2 points off a late
    notebook (nbgrader caps it at the notebook's score)."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return 0.2


def nbgrader(course: Path, *argv: str) -> subprocess.CompletedProcess:
    """nbgrader's own command line, run in the course folder as an instructor would."""
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *argv], cwd=course, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_grades_go_back_to_moodle_through_the_worksheet(course, notebooks, tmp_path, capsys):
    """Import, grade two submissions for real (one late, with a late penalty), export: what
    Moodle reads back matches the gradebook, and the grades are nbgrader's own export's."""
    import_zip(class_zip(tmp_path / "moodle.zip", notebooks), ACTIVITY1, course)
    # A due date, a late penalty and a submission after the due date, as nbgrader's docs
    # describe them (collect writes timestamp.txt; here we do).
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(f"c.AssignLatePenalties.plugin_class = '{__name__}.PointsOff'\n")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "kafka-iabd") as gradebook:
        gradebook.update_or_create_assignment(ACTIVITY1, duedate="2025-01-20 10:00:00 UTC")
    (submitted(course, "ana-perez").parent / "timestamp.txt").write_text(
        "2025-01-21 09:30:00.000000 UTC"
    )
    graded = ["ana-perez", "jose-martinez-nunez-1001"]
    results = grade_class(
        ACTIVITY1, course_root=course, students=graded, jobs=1, progress=lambda _: None
    )
    assert all(r.ok for r in results), results
    assert {r.student: r.score for r in results} == pytest.approx(
        {"ana-perez": 0.3, "jose-martinez-nunez-1001": 0.5}  # nbgrader's raw score
    )
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "kafka-iabd") as gradebook:
        ana = gradebook.find_submission(ACTIVITY1, "ana-perez")
        assert ana.total_seconds_late == 23.5 * 3600
        assert (ana.score, ana.late_submission_penalty) == pytest.approx((0.3, 0.2))
        jose = gradebook.find_submission(ACTIVITY1, "jose-martinez-nunez-1001")
        assert jose.late_submission_penalty == 0

    path = export_csv(ACTIVITY1, course)
    assert path == course / "informes" / ACTIVITY1 / "notas.csv"
    text = path.read_bytes().decode("utf-8")  # no BOM: Moodle reads the first header as is
    assert text.startswith(
        "Identificador,Nombre completo,Estado,Calificación,Calificación máxima,"
        "Última modificación (calificación),Archivo de comentarios\r\n"
    )
    rows = read_csv(path)
    # nbgrader's own CSV export (CsvExportPlugin): its score has the late penalty taken off.
    done = nbgrader(
        course,
        "export",
        "--exporter=nbgrader.plugins.CsvExportPlugin",
        "--to",
        str(tmp_path / "nbgrader.csv"),
    )
    with (tmp_path / "nbgrader.csv").open(newline="") as handle:
        theirs = {
            row["student_id"]: row
            for row in csv.DictReader(handle)
            if row["assignment"] == ACTIVITY1
        }
    assert "Using exporter: CsvExportPlugin" in done.stderr
    assert float(theirs["ana-perez"]["raw_score"]) == pytest.approx(0.3)
    assert float(theirs["ana-perez"]["score"]) == pytest.approx(0.1)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "kafka-iabd") as gradebook:
        expected = {
            f"Participante {s.lms_user_id}": (f"{s.first_name} {s.last_name}", s.id)
            for s in gradebook.students
        }
        graded_ids = {s.student.id for s in gradebook.assignment_submissions(ACTIVITY1)}
        points = gradebook.find_assignment(ACTIVITY1).max_score
    assert {k: r["Nombre completo"] for k, r in rows.items()} == {
        k: name for k, (name, _student) in expected.items()
    }
    for key, (_name, student) in expected.items():
        grade = rows[key]["Calificación"]
        if student in graded_ids:
            assert float(grade) == pytest.approx(float(theirs[student]["score"])), key
        else:
            assert grade == "", key
    assert {k: r["Calificación"] for k, r in rows.items()} == {
        "Participante 1001": "0.5",
        "Participante 1002": "0.1",  # 0.3 less the 0.2 of the late penalty
        "Participante 1007": "",  # imported, not graded: empty, not 0
    }
    assert rows["Participante 1002"]["Estado"] == (
        "Calificada; entregada tarde: 0.2 de penalización"
    )
    assert rows["Participante 1001"]["Nombre completo"] == JOSE
    assert {r["Calificación máxima"] for r in rows.values()} == {str(points)} == {"0.5"}
    assert rows["Participante 1007"]["Estado"] == "Sin calificar"
    assert rows["Participante 1007"]["Última modificación (calificación)"] == ""
    for key, student in [("Participante 1001", "jose-martinez-nunez-1001")]:
        feedback = rows[key]["Archivo de comentarios"]
        assert feedback == f"feedback/{student}/{ACTIVITY1}/{ACTIVITY1}.html"
        assert (course / feedback).is_file()
    assert rows["Participante 1007"]["Archivo de comentarios"] == ""
    out_of_points = rows

    # Scaled to the Moodle assignment's maximum, through the command.
    out_of_10 = tmp_path / "sobre10.csv"
    assert main(["--course", str(course), "export", "actividad1", "--salida", str(out_of_10),
                 "--sobre", "10"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out == (
        "3 alumnos: 2 con nota (media 6.00 de 10.0); 1 entregadas tarde (con la penalización "
        "de nbgrader); 1 sin calificar (nota vacía, no 0).\n"
        f"Notas para Moodle en {out_of_10}\n"
    )
    rows = read_csv(out_of_10)
    assert {k: (r["Calificación"], r["Calificación máxima"]) for k, r in rows.items()} == {
        "Participante 1001": ("10.0", "10.0"),
        "Participante 1002": ("2.0", "10.0"),  # nbgrader's 0.1 of 0.5
        "Participante 1007": ("", "10.0"),
    }

    # The same worksheet from nbgrader's own command, with the plugin.
    by_nbgrader = tmp_path / "nbgrader-moodle.csv"
    done = nbgrader(
        course,
        "export",
        "--exporter=autograder.instructor.lms.MoodleExportPlugin",
        f"--assignment={ACTIVITY1}",
        f"--to={by_nbgrader}",
        "--MoodleExportPlugin.out_of=10",
    )
    assert "Using exporter: MoodleExportPlugin" in done.stderr
    assert "Notas para Moodle en" in done.stderr

    def without_time(table: dict) -> dict:
        return {k: {**r, "Última modificación (calificación)": ""} for k, r in table.items()}

    assert without_time(read_csv(by_nbgrader)) == without_time(rows)
    # Plain `nbgrader export` (the course's default exporter), without --assignment: every
    # activity imported from Moodle, each to its notas.csv.
    path.unlink()
    done = nbgrader(course, "export")
    assert "Using exporter: MoodleExportPlugin" in done.stderr
    assert without_time(read_csv(path)) == without_time(out_of_points)
    # nbgrader's own command stops with the reason, in Spanish.
    wrong = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export",
         "--exporter=autograder.instructor.lms.MoodleExportPlugin", "--assignment=actividad9"],
        cwd=course, capture_output=True, text=True,
    )  # fmt: skip
    assert wrong.returncode == 1 and "No conozco la actividad «actividad9»" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    # Ana sends a new notebook: until it is graded again, her old grade does not go out.
    import_zip(class_zip(tmp_path / "otra.zip", notebooks, ana="correcto"), ACTIVITY1, course)
    said = []
    rows = read_csv(export_csv(ACTIVITY1, course, progress=said.append))
    assert rows["Participante 1002"]["Calificación"] == ""
    assert "cambiada después de calificar" in rows["Participante 1002"]["Estado"]
    assert rows["Participante 1001"]["Calificación"] == "0.5"
    assert said == [
        "3 alumnos: 1 con nota (media 0.50 de 0.5); 1 sin calificar (nota vacía, no 0); "
        "1 cambiadas después de calificar (nota vacía): recalifica. Notas sobre 0.5 puntos: "
        "si la tarea de Moodle tiene otra calificación máxima, exporta con --sobre MÁXIMO."
    ]
