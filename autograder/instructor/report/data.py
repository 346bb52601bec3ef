"""What the class report shows, collected from the gradebook and the grader's records.

It reads, all under the course folder:

* ``gradebook.db``: scores per submission and per grade cell (nbgrader);
* ``informes/<activity>/calificacion.json``: the grading runs
  (:class:`~autograder.grader.records.GradingRun`);
* ``informes/<activity>/eventos/<student>.json``: what happened while each submission ran
  (:class:`~autograder.grader.records.Events`);
* ``informes/<activity>/importacion.json`` when it exists: the Moodle import
  (:class:`~autograder.grader.records.ImportRecord`).

A record that cannot be read is left out, as if it were not there. Each submission's
incidents are classified here: ``tiempo`` (time limits), ``fallo`` (the kernel died, grading
failed), ``limite`` (a resource limit) and ``manipulacion`` (signals of tampering).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...activities import activity as find_activity
from ...grader.course import Course
from ...grader.records import (
    Events,
    GradingRun,
    ImportRecord,
    Record,
    RecordError,
    read_record,
)

__all__ = ["Check", "ClassData", "Incident", "Submission", "collect"]

TAMPER_LABELS = {
    "test-editado": "Comprobación editada",
    "test-borrado": "Comprobación borrada",
    "celda-bloqueada-editada": "Celda bloqueada editada",
    "celda-bloqueada-borrada": "Celda bloqueada borrada",
    "codigo": "Código que toca el corrector",
}
LIMIT_LABELS = {
    "memory": "Límite de memoria",
    "cpu": "Límite de CPU",
    "processes": "Límite de procesos",
    "file_size": "Límite de tamaño de fichero",
}


@dataclass
class Incident:
    category: str  # "tiempo", "fallo", "limite", "manipulacion"
    label: str
    detail: str


@dataclass
class Submission:
    student: str
    name: str = ""
    score: float | None = None
    max_score: float | None = None
    seconds: float | None = None
    ok: bool = True
    error: str = ""
    retried: str = ""  # why its first grading failed, when it was graded again
    graded: bool = False  # in the gradebook
    cells: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score
    events: Events | None = None
    incidents: list[Incident] = field(default_factory=list)


@dataclass
class Check:
    grade_id: str
    title: str
    points: float
    passed: int = 0
    partial: int = 0
    pending: int = 0
    total: int = 0
    points_sum: float = 0.0

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass
class ClassData:
    activity: str
    max_score: float
    submissions: list[Submission]
    checks: list[Check]
    run: GradingRun | None  # calificacion.json
    imported: ImportRecord | None  # importacion.json


def _read(path: Path, kind: type[Record]) -> Record | None:
    try:
        return read_record(path, kind)
    except RecordError:
        return None  # unreadable: as if it were not there


def collect(activity: str, course_root: Path) -> ClassData:
    """Everything the report shows, from the gradebook and the records under ``informes``."""
    course_root = Path(course_root)
    spec = find_activity(activity)
    name = spec.name if spec else activity
    run = _read(Course(course_root).grading_record(name), GradingRun)
    imported = _read(Course(course_root).import_record(name), ImportRecord)
    found: dict[str, Submission] = {}

    def submission(student: str) -> Submission:
        return found.setdefault(student, Submission(student))

    for result in run.results if run else []:
        entry = submission(result.student)
        entry.score = result.score
        entry.max_score = result.max_score
        entry.seconds = result.seconds
        entry.ok = result.ok
        entry.error = result.error
        entry.retried = result.retried
    for path in sorted(Course(course_root).events_dir(name).glob("*.json")):
        events = _read(path, Events)
        if events is not None:
            submission(path.stem).events = events
    for person in imported.imported if imported else []:
        if person.student in found:
            found[person.student].name = person.name

    titles = {step.grade_id: step.title for step in spec.steps} if spec else {}
    checks: dict[str, Check] = {}
    max_score = 0.0
    gradebook_file = Course(course_root).gradebook_file
    if gradebook_file.exists():  # never let Gradebook create an empty one
        max_score = _read_gradebook(gradebook_file, name, titles, checks, submission)
    order = list(titles)
    ordered = sorted(
        checks.values(),
        key=lambda c: (order.index(c.grade_id) if c.grade_id in order else len(order), c.grade_id),
    )
    for entry in found.values():
        if not max_score and entry.max_score:
            max_score = float(entry.max_score)
        if entry.seconds is None and entry.events:
            entry.seconds = entry.events.seconds
        entry.incidents = _incidents(entry)
    return ClassData(
        activity=name,
        max_score=max_score,
        submissions=[found[s] for s in sorted(found)],
        checks=ordered,
        run=run,
        imported=imported,
    )


def _read_gradebook(path: Path, name: str, titles: dict, checks: dict, submission) -> float:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{path}?timeout=60") as gradebook:
        try:
            assignment = gradebook.find_assignment(name)
        except MissingEntry:
            return 0.0
        for notebook in assignment.notebooks:
            for cell in notebook.grade_cells:
                checks[cell.name] = Check(
                    cell.name,
                    titles.get(cell.name, "Respuesta escrita (se corrige a mano)"),
                    float(cell.max_score or 0),
                )
        for graded in assignment.submissions:
            student = graded.student
            entry = submission(student.id)
            entry.graded = True
            full = " ".join(filter(None, (student.first_name, student.last_name)))
            entry.name = entry.name or full
            entry.score = float(graded.score)
            entry.max_score = float(graded.max_score)
            for notebook in graded.notebooks:
                for grade in notebook.grades:
                    check = checks.get(grade.name)
                    if check is None:
                        continue
                    check.total += 1
                    unscored = grade.auto_score is None and grade.manual_score is None
                    if unscored and grade.needs_manual_grade:
                        check.pending += 1
                        entry.cells[grade.name] = None
                        continue
                    score = float(grade.score or 0)
                    entry.cells[grade.name] = score
                    check.points_sum += score
                    if check.points and score >= check.points - 1e-9:
                        check.passed += 1
                    elif score > 0:
                        check.partial += 1
        return float(assignment.max_score or 0)


def _incidents(entry: Submission) -> list[Incident]:
    found: list[Incident] = []
    events = entry.events or Events(activity="")
    for timeout in events.timeouts:
        found.append(
            Incident(
                "tiempo",
                "Tiempo agotado",
                f"«{timeout.cell}» interrumpida tras {timeout.seconds:g} s",
            )
        )
    if events.kernel_unresponsive:
        found.append(
            Incident(
                "tiempo",
                "Kernel sin respuesta",
                f"no respondía tras interrumpir «{events.kernel_unresponsive}»: se detuvo",
            )
        )
    if events.total_time_exceeded:
        found.append(
            Incident(
                "tiempo",
                "Tiempo total superado",
                "el cuaderno superó el tiempo total; las celdas restantes no se ejecutaron",
            )
        )
    if events.kernel_died:
        found.append(
            Incident("fallo", "Kernel caído", f"el kernel murió durante «{events.kernel_died}»")
        )
    for problem in events.grader_errors:
        found.append(Incident("fallo", "Error del corrector", f"«{problem.cell}»: {problem.error}"))
    if entry.retried:
        found.append(
            Incident(
                "fallo",
                "Calificada otra vez",
                f"la primera calificación falló por el corrector ({entry.retried}); "
                "la nota es la de la segunda",
            )
        )
    if not entry.ok:
        found.append(Incident("fallo", "Error al calificar", entry.error or "error desconocido"))
    elif events.error:
        found.append(Incident("fallo", "Error al calificar", events.error))
    if events.limit is not None:
        kind = events.limit.get("kind")
        message = events.limit.get("message") or f"{kind}: {events.limit.get('value')}"
        found.append(Incident("limite", LIMIT_LABELS.get(kind, "Límite de recursos"), str(message)))
    for variable in events.answers_refused:
        found.append(
            Incident(
                "manipulacion",
                "Respuesta rechazada",
                f"{variable} no era un texto (str) y no se ha leído",
            )
        )
    for signal in events.tamper:
        found.append(
            Incident(
                "manipulacion",
                TAMPER_LABELS.get(signal.kind, "Señal"),
                f"«{signal.cell}»: {signal.detail}",
            )
        )
    return found
