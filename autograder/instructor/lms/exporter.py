"""Grades out to Moodle: an nbgrader export plugin that writes Moodle's grading worksheet.

``python -m autograder export ACTIVITY [--sobre N]`` runs it, and so does nbgrader itself::

    cd assignments
    ../.venv/bin/nbgrader export --exporter=autograder.instructor.lms.MoodleExportPlugin \\
        --assignment=actividad1-hola-kafka [--to notas.csv] [--MoodleExportPlugin.out_of=10]

One CSV per activity (by default ``informes/<activity>/notas.csv``), one row per student
imported from Moodle (``informes/<activity>/participantes.json``), to upload with Moodle's
"Upload grading worksheet".

The grade is the one nbgrader's own CSV exporter (``CsvExportPlugin``) gives: the gradebook's
``score`` is the raw sum of the grade cells, and the late penalty that ``AssignLatePenalties``
(in the course's autograde pipeline, with ``LateSubmissionPlugin`` or the plugin configured in
``AssignLatePenalties.plugin_class``) stored on each notebook is subtracted here, never below
0: ``max(0, score - late_submission_penalty)``. Then it is scaled to the Moodle assignment's
maximum (``out_of``).
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

from nbgrader.plugins import ExportPlugin
from traitlets import Float, Unicode

from ...grader.course import Course
from .base import LMSError, check_activity, check_course, gradebook, load_participants, order

__all__ = ["COLUMNS", "MoodleExportPlugin", "export_csv", "late_score"]

# The columns of Moodle's grading worksheet (Spanish interface). Moodle's importer needs
# the first three it reads by name: Identificador, Calificación and Última modificación
# (calificación); it ignores the others.
COLUMNS = (
    "Identificador",
    "Nombre completo",
    "Estado",
    "Calificación",
    "Calificación máxima",
    "Última modificación (calificación)",
    "Archivo de comentarios",
)
PARTICIPANT = "Participante "  # Moodle's "hiddenuser" string in Spanish, before the id


def late_score(submission) -> tuple[float, float]:
    """(score, late penalty) of a gradebook submission, exactly as nbgrader's
    ``CsvExportPlugin`` computes its ``score`` column."""
    penalty = submission.late_submission_penalty
    return max(0.0, submission.score - penalty), penalty


class MoodleExportPlugin(ExportPlugin):
    """Export the grades of each activity as Moodle's grading worksheet (CSV).

    ``assignment`` chooses the activities (default: every activity imported from Moodle),
    ``student`` the students (default: all), ``to`` the file (only with one activity; default
    ``informes/<activity>/notas.csv``). ``Calificación`` is empty, never 0, for a submission
    not graded yet or changed after it was graded.
    """

    out_of = Float(
        None,
        allow_none=True,
        help="Maximum grade of the Moodle assignment: grades are scaled to it (default: the "
        "activity's points).",
    ).tag(config=True)
    course_root = Unicode(
        "", help="The course folder (default: nbgrader's CourseDirectory.root)."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.written: dict[str, Path] = {}  # activity -> its CSV
        self.summaries: dict[str, str] = {}  # activity -> one line in Spanish

    def export(self, gradebook) -> None:
        try:
            self._export(gradebook)
        except LMSError as error:
            fail = getattr(self.parent, "fail", None)  # run by nbgrader's own app
            if fail is None:
                raise
            fail("%s", error)

    def _course(self) -> Path:
        if self.course_root:
            return Path(self.course_root)
        coursedir = getattr(self.parent, "coursedir", None)
        return Path(coursedir.root if coursedir is not None else ".").absolute()

    def _export(self, book) -> None:
        course = self._course()
        if self.out_of is not None and not self.out_of > 0:
            raise LMSError(f"La calificación máxima debe ser mayor que 0, no {self.out_of:g}.")
        if self.assignment:
            activities = [check_activity(str(name)) for name in self.assignment]
        else:
            activities = [
                a.name for a in book.assignments if Course(course).participants(a.name).is_file()
            ]
            if not activities:
                raise LMSError(
                    f"No hay actividades importadas de Moodle en {course}: importa antes sus "
                    "entregas con «python -m autograder import ZIP ACTIVIDAD»."
                )
        if self.to and len(activities) > 1:
            raise LMSError("Con --to se exporta una sola actividad: elige una con --assignment.")
        for activity in activities:
            rows, summary = self._rows(book, course, activity)
            path = Path(self.to) if self.to else Course(course).grades_csv(activity)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                writer.writerows(rows)
            self.written[activity], self.summaries[activity] = path, summary
            self.log.info("%s: %s Notas para Moodle en %s", activity, summary, path)

    def _rows(self, book, course: Path, activity: str) -> tuple[list[list[str]], str]:
        from nbgrader.api import MissingEntry

        mapping = load_participants(course, activity)
        if not mapping:
            raise LMSError(
                f"No hay alumnos de Moodle en {activity}: importa antes sus entregas con "
                f"«python -m autograder import ZIP {activity}»."
            )
        chosen = {str(s) for s in self.student}
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        rows, graded, pending, manual, stale, late = [], [], [], [], [], []
        try:
            points = float(book.find_assignment(activity).max_score)
        except MissingEntry:
            raise LMSError(
                f"{activity} no está en el gradebook de {course}: ejecuta antes "
                "«python -m autograder prepare»."
            ) from None
        top = points if self.out_of is None else float(self.out_of)

        def scaled(value: float) -> float:
            return value / points * top if points else 0.0

        for lms_id, entry in sorted(mapping.items(), key=lambda item: order(item[1].name)):
            student = entry.student
            if chosen and student not in chosen:
                continue
            try:
                found = book.find_student(student)
                name = " ".join(filter(None, [found.first_name, found.last_name]))
            except MissingEntry:
                name = entry.name
            feedback = Course(course).feedback_page(activity, student)
            try:
                submission = book.find_submission(activity, student)
            except MissingEntry:
                submission = None
            state, grade, modified = "Sin calificar", "", ""
            if submission is not None and _changed_after_grading(course, activity, student):
                state = "Entrega cambiada después de calificar: sin nota"
                stale.append(student)
            elif submission is not None:
                score, penalty = late_score(submission)
                grade = _decimal(scaled(score))
                modified = now
                state = "Calificada"
                graded.append(score)
                if submission.needs_manual_grade:
                    state = "Calificada en parte: falta la corrección a mano"
                    manual.append(student)
                if penalty:
                    state += f"; entregada tarde: {_decimal(scaled(penalty))} de penalización"
                    late.append(student)
            else:
                pending.append(student)
            rows.append(
                [
                    f"{PARTICIPANT}{lms_id}",
                    name,
                    state,
                    grade,
                    _decimal(top),
                    modified,
                    str(feedback.relative_to(course)) if feedback.is_file() else "",
                ]
            )
        imported = {e.student for e in mapping.values()}
        unmapped = sorted(
            s.student.id
            for s in book.assignment_submissions(activity)
            if s.student.id not in imported and (not chosen or s.student.id in chosen)
        )
        summary = [f"{len(rows)} alumnos: {len(graded)} con nota"]
        if graded:
            summary[0] += f" (media {scaled(sum(graded) / len(graded)):.2f} de {_decimal(top)})"
        if late:
            summary.append(f"{len(late)} entregadas tarde (con la penalización de nbgrader)")
        if pending:
            summary.append(f"{len(pending)} sin calificar (nota vacía, no 0)")
        if stale:
            summary.append(f"{len(stale)} cambiadas después de calificar (nota vacía): recalifica")
        if manual:
            summary.append(f"{len(manual)} con corrección a mano pendiente (nota parcial)")
        if unmapped:
            summary.append(
                f"{len(unmapped)} calificados que no vienen de Moodle, fuera del CSV: "
                + ", ".join(unmapped)
            )
        text = "; ".join(summary) + "."
        if self.out_of is None:
            text += (
                f" Notas sobre {_decimal(points)} puntos: si la tarea de Moodle tiene otra "
                "calificación máxima, exporta con --sobre MÁXIMO."
            )
        return rows, text


def export_csv(
    activity: str,
    course_root: Path,
    path: Path | None = None,
    *,
    out_of: float | None = None,
    progress=lambda _line: None,
) -> Path:
    """Write the grades of ``activity`` as a Moodle grading worksheet (through
    :class:`MoodleExportPlugin`) and return its path; ``progress`` receives a one-line
    Spanish summary."""
    course_root = Path(course_root).absolute()
    activity = check_activity(activity)
    check_course(course_root)
    if out_of is not None and not out_of > 0:
        raise LMSError(f"La calificación máxima debe ser mayor que 0, no {out_of:g}.")
    if not load_participants(course_root, activity):  # before the gradebook is opened
        raise LMSError(
            f"No hay alumnos de Moodle en {activity}: importa antes sus entregas con "
            f"«python -m autograder import ZIP {activity}»."
        )
    plugin = MoodleExportPlugin(
        to=str(path or ""), assignment=[activity], out_of=out_of, course_root=str(course_root)
    )
    with gradebook(course_root) as book:
        plugin.export(book)
    progress(plugin.summaries[activity])
    return plugin.written[activity]


def _decimal(value: float) -> str:
    """A grade as Moodle reads it: a decimal point, at most 5 decimals (0.5, 0.15, 1.0)."""
    text = f"{round(value, 5):.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _changed_after_grading(course_root: Path, activity: str, student: str) -> bool:
    submitted = Course(course_root).notebook("submitted", activity, student)
    autograded = Course(course_root).notebook("autograded", activity, student)
    if not (submitted.is_file() and autograded.is_file()):
        return False
    return submitted.stat().st_mtime > autograded.stat().st_mtime
