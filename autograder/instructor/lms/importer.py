"""``python -m autograder import ZIP ACTIVITY``: Moodle's "Download all submissions" zip of
an activity into nbgrader's ``submitted/<student>/<activity>/<activity>.ipynb``, each student
registered in the gradebook.

Moodle names each submission folder ``<Full name>_<participant id>_assignsubmission_<plugin>_``
(``file`` for uploaded files, ``onlinetext`` for the online text, as ``onlinetext.html``);
with "Download submissions in folders" off, the same prefix starts each file name instead.
The participant id is Moodle's per-assignment *unique id* of the student (the number in the
worksheet's ``Participante 1234``): a different number in each assignment, so it identifies
a student within one activity only. The mapping participant id -> student of each activity
is kept in ``informes/<activity>/participantes.json``; the gradebook's ``lms_user_id`` holds
the latest one seen (for nbgrader's own tools).

Why a command of our own and not nbgrader's ``zip_collect`` (``ZipCollectApp``): its collector
maps file *names* to students and notebooks through one regular expression, so a student who
uploads ``Entrega final.ipynb`` is skipped, two notebooks of one student silently become two
notebooks to grade, it cannot tell a notebook of another activity, nor register names and
Moodle ids in the gradebook, and ``--force`` overwrites earlier submissions without a trace.
Here each Moodle folder is one student, read straight from the zip (nothing is extracted by
the names inside it, so a crafted path cannot write outside the course), and every decision
is in the report.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ...activities import ACTIVITIES
from ...grader.course import Course
from ...grader.records import (
    NEW,
    REPLACED,
    UNCHANGED,
    Imported,
    ImportRecord,
    Participant,
    Participants,
    Problem,
    write_record,
)
from .base import LMSError, check_activity, check_course, gradebook, load_participants, order, slug

__all__ = ["NEW", "REPLACED", "UNCHANGED", "ImportReport", "import_zip"]

# A Moodle submission folder (or flat file name): name, participant id, plugin, rest.
_MOODLE_ENTRY = re.compile(
    r"^(?P<name>.*?)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$",
    re.DOTALL,
)
_IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints")
_MAX_NOTEBOOK_BYTES = 50 << 20


@dataclass
class ImportReport:
    zip: Path
    activity: str
    imported: list[Imported] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None  # where the JSON report was saved

    def to_record(self) -> ImportRecord:
        """What ``importacion.json`` keeps of it."""
        return ImportRecord(
            zip=str(self.zip),
            activity=self.activity,
            imported=list(self.imported),
            problems=list(self.problems),
        )

    def text(self) -> str:
        """The report in Spanish, as the command prints it."""
        counts = {status: 0 for status in (NEW, UNCHANGED, REPLACED)}
        for entry in self.imported:
            counts[entry.status] += 1
        lines = [
            f"{self.activity}: {len(self.imported)} entregas importadas de {self.zip.name} "
            f"({counts[NEW]} nuevas, {counts[REPLACED]} reemplazadas, "
            f"{counts[UNCHANGED]} sin cambios)."
        ]
        width = max((len(entry.student) for entry in self.imported), default=0)
        for entry in self.imported:
            line = (
                f"  {entry.student:<{width}}  {entry.name} (participante {entry.lms_id}): "
                f"{entry.status}"
            )
            if entry.status == REPLACED:
                line += (
                    f"; la entrega anterior está en {entry.backup}. Vuelve a calificarla: "
                    "su nota actual es de la anterior"
                )
            lines.append(line)
        if self.problems:
            lines.append(f"No importadas ({len(self.problems)}):")
            lines += [f"  {problem.name}: {problem.reason}" for problem in self.problems]
        else:
            lines.append("Ningún problema.")
        if self.path is not None:
            lines.append(f"Informe guardado en {self.path}")
        return "\n".join(lines)


@dataclass
class _Folder:
    """Everything one participant has in the zip (one or more Moodle folders)."""

    lms_id: str
    name: str
    folders: set[str] = field(default_factory=set)
    # Uploaded with the "file" plugin: the zip member and its name inside the folder.
    files: list[tuple[zipfile.ZipInfo, str]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # other plugins: online text...

    def label(self) -> str:
        files = sorted(f for f in self.folders if "_assignsubmission_file_" in f)
        return (files or sorted(self.folders))[0]


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as Moodle wrote it: UTF-8, even without the zip's UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _read_moodle_zip(archive: zipfile.ZipFile) -> tuple[dict[str, _Folder], list[str]]:
    people: dict[str, _Folder] = {}
    strangers: list[str] = []
    for info in archive.infolist():
        name = _member_name(info).replace("\\", "/")
        parts = [part for part in name.split("/") if part]
        if not parts or any(part in _IGNORED_PARTS for part in parts):
            continue
        match = _MOODLE_ENTRY.match(parts[0])
        if match is None:
            if parts[0] not in strangers:
                strangers.append(parts[0])
            continue
        lms_id = match["lms_id"]
        person = people.setdefault(lms_id, _Folder(lms_id, " ".join(match["name"].split())))
        flat = len(parts) == 1  # "download in folders" off: the prefix starts the file
        folder = parts[0][: len(parts[0]) - len(match["rest"])] if flat else parts[0]
        person.folders.add(folder)
        inner = [match["rest"]] if flat else parts[1:]
        if info.is_dir() or not inner or not inner[-1] or inner[-1].startswith("._"):
            continue
        if match["plugin"] == "file":
            person.files.append((info, "/".join(inner)))
        else:
            person.other.append("/".join(inner))
    return people, strangers


def _grade_ids(notebook: dict) -> set[str]:
    ids = set()
    for cell in notebook.get("cells", []):
        grade_id = (cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id")
        if isinstance(grade_id, str):
            ids.add(grade_id)
    return ids


def _activity_grade_ids(course_root: Path) -> dict[str, set[str]]:
    """The grade_ids of each activity's student version (or source) in this course."""
    import nbformat

    found = {}
    for name in ACTIVITIES:
        for kind in ("release", "source"):
            path = Course(course_root).notebook(kind, name)
            if path.is_file():
                found[name] = _grade_ids(nbformat.read(path, as_version=4))
                break
    return found


def _similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _notebook_problem(data: bytes, activity: str, known: dict[str, set[str]]) -> str | None:
    """Why these bytes are not a notebook of ``activity``, or None when they are."""
    import nbformat

    if len(data) > _MAX_NOTEBOOK_BYTES:
        return f"el cuaderno ocupa {len(data) >> 20} MB: demasiado para ser una entrega"
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as error:  # any reason nbformat gives: not JSON, not a notebook...
        return f"no se puede leer como cuaderno de Jupyter ({type(error).__name__})"
    ids = _grade_ids(notebook)
    if not ids:
        return (
            "el cuaderno no tiene las celdas de nbgrader de la actividad (¿es un cuaderno "
            "nuevo en el que se copiaron las respuestas?)"
        )
    # Activities share some grade_ids (enunciado, nombre, test-topic...): the notebook is of
    # the activity whose grade_ids it matches best; a tie goes to the one being imported.
    closest = max(known, key=lambda name: (_similarity(ids, known[name]), name == activity))
    if closest != activity:
        return f"es el cuaderno de otra actividad ({closest})"
    return None


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _assign_ids(
    people: dict[str, _Folder], mapping: dict[str, Participant], known: dict[str, str]
) -> dict[str, str]:
    """A stable student id for each participant id.

    ``mapping`` is this activity's earlier imports (participant id -> student), ``known``
    the gradebook (student id -> full name). Ids are the ASCII slug of the name; when two
    different people share a slug, the participant id is added. A person already in the
    gradebook under the same name (another activity has other participant ids) keeps their
    id, unless two people of this zip could both be them.
    """
    ids: dict[str, str] = {}
    taken = {entry.student: lms_id for lms_id, entry in mapping.items()}
    for lms_id in people:
        if lms_id in mapping:
            ids[lms_id] = mapping[lms_id].student
    waiting = [person for lms_id, person in sorted(people.items()) if lms_id not in ids]
    slugs: dict[str, list[str]] = {}
    for person in waiting:
        slugs.setdefault(slug(person.name) or "participante", []).append(person.lms_id)

    def free(student: str, lms_id: str) -> bool:
        return taken.get(student, lms_id) == lms_id and student not in ids.values()

    for person in waiting:
        base = slug(person.name) or "participante"
        pattern = re.compile(rf"^{re.escape(base)}(-\d+)?$")
        candidates = [
            student
            for student, name in known.items()
            if pattern.match(student) and _same_name(name, person.name)
        ]
        twins = [p for p in slugs[base] if _same_name(people[p].name, person.name)]
        if len(candidates) == 1 and len(twins) == 1 and free(candidates[0], person.lms_id):
            ids[person.lms_id] = candidates[0]
        elif len(slugs[base]) == 1 and base not in known and free(base, person.lms_id):
            ids[person.lms_id] = base
        else:
            ids[person.lms_id] = f"{base}-{person.lms_id}"
    return ids


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def import_zip(zip_path: Path, activity: str, course_root: Path) -> ImportReport:
    """Import Moodle's "Download all submissions" zip of ``activity`` into ``course_root``.

    Each participant with exactly one readable notebook of the activity becomes
    ``submitted/<student>/<activity>/<activity>.ipynb`` and a gradebook student; the rest
    are problems in the report. A notebook that differs from the one already there replaces
    it, and the old one is kept in ``informes/<activity>/anteriores/``. The report is also
    saved as ``informes/<activity>/importacion.json``.
    """
    zip_path, course_root = Path(zip_path).absolute(), Path(course_root)
    activity = check_activity(activity)
    check_course(course_root)
    if not zip_path.is_file():
        raise LMSError(f"No encuentro el zip {zip_path}.")
    known_ids = _activity_grade_ids(course_root)
    if activity not in known_ids:
        raise LMSError(
            f"No encuentro el cuaderno de {activity} en {course_root}: ejecuta antes "
            "«python -m autograder prepare»."
        )
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise LMSError(f"{zip_path} no es un zip válido ({error}).") from None
    report = ImportReport(zip_path, activity)
    with archive:
        people, strangers = _read_moodle_zip(archive)
        if not people:
            raise LMSError(
                f"{zip_path.name} no parece una descarga de entregas de Moodle: no tiene "
                "carpetas «Nombre Apellidos_1234_assignsubmission_file_»."
            )
        for stranger in strangers:
            report.problems.append(
                Problem(stranger, "", "no es una carpeta de entrega de Moodle: no la miro")
            )
        chosen: dict[str, tuple[zipfile.ZipInfo, bytes]] = {}
        mapping = load_participants(course_root, activity)
        for lms_id, person in sorted(people.items(), key=lambda item: order(item[1].name)):
            problem, found = _choose_notebook(archive, person, activity, known_ids)
            if problem is None:
                chosen[lms_id] = found
                continue
            earlier = mapping[lms_id].student if lms_id in mapping else None
            if earlier and _submitted(course_root, activity, earlier).is_file():
                problem += f"; sigue valiendo la que se importó antes ({earlier})"
            report.problems.append(Problem(person.label(), person.name, problem))
    with gradebook(course_root) as book:
        known = {s.id: " ".join(filter(None, [s.first_name, s.last_name])) for s in book.students}
        ids = _assign_ids(people, mapping, known)
        for lms_id, (info, data) in sorted(chosen.items(), key=lambda i: order(people[i[0]].name)):
            person, student = people[lms_id], ids[lms_id]
            entry = Imported(student, person.name, lms_id, _member_name(info))
            entry.status, entry.backup = _store(course_root, activity, student, data)
            first, last = _split_name(person.name)
            book.update_or_create_student(
                student, first_name=first, last_name=last, lms_user_id=lms_id
            )
            mapping[lms_id] = Participant(student, person.name)
            report.imported.append(entry)
    participants = Participants(participants=dict(sorted(mapping.items())))
    write_record(Course(course_root).participants(activity), participants)
    report.path = Course(course_root).import_record(activity)
    write_record(report.path, report.to_record())
    return report


def _choose_notebook(
    archive: zipfile.ZipFile, person: _Folder, activity: str, known: dict[str, set[str]]
) -> tuple[str | None, tuple[zipfile.ZipInfo, bytes] | None]:
    """The one notebook to grade of a participant, or why there is none."""
    notebooks = [(i, name) for i, name in person.files if name.lower().endswith(".ipynb")]
    others = [name for i, name in person.files if (i, name) not in notebooks]
    if not notebooks:
        if others:
            shown = ", ".join(f"«{name}»" for name in sorted(others))
            return f"no ha entregado un cuaderno (.ipynb) sino {shown}", None
        if person.other:
            return "no hay ningún cuaderno: solo texto en línea", None
        return "la carpeta no tiene ningún archivo", None
    if len(notebooks) > 1:
        shown = ", ".join(f"«{name}»" for _i, name in notebooks)
        return (
            f"hay {len(notebooks)} cuadernos ({shown}): no sé cuál calificar; deja solo uno "
            "en Moodle o copia el bueno a mano"
        ), None
    info, name = notebooks[0]
    if info.file_size > _MAX_NOTEBOOK_BYTES:
        return f"el cuaderno ocupa {info.file_size >> 20} MB: demasiado para una entrega", None
    data = archive.read(info)
    problem = _notebook_problem(data, activity, known)
    if problem:
        return f"«{name}»: {problem}", None
    return None, (info, data)


def _submitted(course_root: Path, activity: str, student: str) -> Path:
    return Course(course_root).notebook("submitted", activity, student)


def _store(course_root: Path, activity: str, student: str, data: bytes) -> tuple[str, str | None]:
    target = _submitted(course_root, activity, student)
    backup = None
    if target.is_file():
        old = target.read_bytes()
        if old == data:
            return UNCHANGED, None
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = Course(course_root).replaced(activity, student)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(old).hexdigest()[:8]
        kept = folder / f"{activity}-{stamp}-{digest}.ipynb"
        kept.write_bytes(old)
        backup = str(kept.relative_to(course_root))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)
    return (REPLACED if backup else NEW), backup
