"""The grader's records of a class, under ``<course>/informes/<activity>/`` (where exactly:
:class:`~autograder.grader.course.Course`): their types, and the only code that reads and
writes them.

* ``calificacion.json``: :class:`GradingRun`, the grading runs of the activity
  (:func:`autograder.instructor.grading.grade_class`), one :class:`RunResult` per student;
* ``eventos/<student>.json``: :class:`Events`, what happened while one submission ran
  (:class:`autograder.grader.trusted.TrustedExecute`);
* ``importacion.json``: :class:`ImportRecord`, the last Moodle import
  (:mod:`autograder.instructor.lms`);
* ``participantes.json``: :class:`Participants`, which student each Moodle participant id of
  the activity is.

``informe.html`` (the class report), ``notas.csv`` (the export) and ``anteriores/`` (replaced
submissions) live there too.

Every record has a ``version``: the format it was written in. Files written before the records
had types carry none and are version 1; this code writes version 2 and reads both (version 2
is version 1 with the field, except ``participantes.json``, which was a bare mapping). A file
that is not JSON, is not its record's shape (a missing, unknown or mistyped field) or comes
from a newer grader is refused with :class:`RecordError`, whose message is Spanish: the report
skips it, grading starts the record again, the import and export stop and say why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

__all__ = [
    "NEW",
    "REPLACED",
    "UNCHANGED",
    "VERSION",
    "Events",
    "GraderError",
    "GradingRun",
    "ImportRecord",
    "Imported",
    "Participant",
    "Participants",
    "Problem",
    "Record",
    "RecordError",
    "RunResult",
    "TamperSignal",
    "Timeout",
    "read_record",
    "write_json",
    "write_record",
]

VERSION = 2  # the format this code writes

# What the import did with each notebook (Spanish: the import's report shows them).
NEW, UNCHANGED, REPLACED = "nueva", "sin cambios", "reemplazada"


class RecordError(ValueError):
    """A record that cannot be read or written; the message is Spanish, for the instructor."""


# -- the records -------------------------------------------------------------------------------


@dataclass
class Record:
    """A record's common part: its format ``version`` (keyword-only, first in the file)."""

    version: int = field(default=VERSION, kw_only=True)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """The record in ``data`` (parsed JSON of any version this code reads), at
        :data:`VERSION`; :class:`RecordError` when it is not one."""
        if not isinstance(data, dict):
            raise RecordError("no es un objeto JSON")
        version = data.get("version", 1)
        if type(version) is not int or version < 1:
            raise RecordError(f"versión no válida: {version!r}")
        if version > VERSION:
            raise RecordError(
                f"es de la versión {version} del registro y este corrector solo lee hasta la "
                f"{VERSION}: actualiza el corrector"
            )
        upgraded = cls._upgrade({k: v for k, v in data.items() if k != "version"}, version)
        return _build(cls, {**upgraded, "version": VERSION}, cls.__name__)

    @classmethod
    def _upgrade(cls, data: dict, version: int) -> dict:
        """``data`` of an older ``version`` in this version's shape (without ``version``)."""
        return data  # version 1 had the same fields

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RunResult:
    """One submission's last grading (as :class:`autograder.instructor.grading.GradeResult`)."""

    student: str
    score: float
    max_score: float
    seconds: float
    ok: bool
    error: str = ""  # Spanish, when not ok
    retried: str = ""  # why its first grading failed, when it was graded again


@dataclass
class GradingRun(Record):
    """``calificacion.json``: the last grading run, with the results of earlier runs for the
    students it did not grade."""

    activity: str
    finished: str  # ISO 8601, UTC
    jobs: int  # submissions graded at once
    mode: str  # "warm" (pooled servers, wiped) or "fresh" (new servers each)
    results: list[RunResult] = field(default_factory=list)  # by student


@dataclass
class Timeout:
    cell: str  # grade_id, or "celda N"
    seconds: float  # the limit it hit


@dataclass
class GraderError:
    cell: str  # the test cell's grade_id
    error: str  # "Exception: message"


@dataclass
class TamperSignal:
    """A signal of tampering (:func:`autograder.grader.signals.tamper_signals`), not a verdict."""

    kind: str  # test-editado, test-borrado, celda-bloqueada-editada/-borrada, codigo
    cell: str
    detail: str  # Spanish


@dataclass
class Events(Record):
    """``eventos/<student>.json``: what happened while one submission was graded.

    :class:`autograder.grader.trusted.TrustedExecute` builds it as a dict with these keys and
    converts it when it writes it (:meth:`Record.from_dict`).
    """

    activity: str
    student: str | None = None
    notebook: str | None = None
    started: str = ""  # ISO 8601, UTC
    finished: str = ""
    seconds: float | None = None
    timeouts: list[Timeout] = field(default_factory=list)
    kernel_died: str | None = None  # the cell it died in
    kernel_unresponsive: str | None = None  # the cell after whose interrupt it did not answer
    total_time_exceeded: bool = False
    answers_refused: list[str] = field(default_factory=list)  # variables that were not str
    checks: dict[str, str] = field(default_factory=dict)  # grade_id -> superada/fallida/error
    grader_errors: list[GraderError] = field(default_factory=list)
    tamper: list[TamperSignal] = field(default_factory=list)
    isolated: bool | None = None  # in the bubblewrap sandbox; None: never started
    error: str = ""  # why grading stopped, if it did
    # A resource limit the submission hit: {"kind": "memory" | "cpu" | "processes" |
    # "file_size", "value": ..., "message": "<Spanish>"}.
    limit: dict | None = None


@dataclass
class Imported:
    """A notebook the import took."""

    student: str
    name: str
    lms_id: str  # Moodle participant id in this activity
    file: str  # the notebook's path inside the zip
    status: str = NEW  # NEW, UNCHANGED or REPLACED
    backup: str | None = None  # where the replaced notebook went (relative to the course)


@dataclass
class Problem:
    """A Moodle folder the import did not take, and why (Spanish)."""

    folder: str
    name: str
    reason: str


@dataclass
class ImportRecord(Record):
    """``importacion.json``: what the last import of a Moodle zip took and left."""

    zip: str  # the zip's path
    activity: str = ""
    imported: list[Imported] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Participant:
    student: str
    name: str  # as Moodle has it


@dataclass
class Participants(Record):
    """``participantes.json``: Moodle participant id -> student, for one activity (Moodle
    gives each student another participant id in each assignment)."""

    participants: dict[str, Participant] = field(default_factory=dict)

    @classmethod
    def _upgrade(cls, data: dict, version: int) -> dict:
        return {"participants": data} if version == 1 else data  # version 1: the bare mapping


R = TypeVar("R", bound=Record)


def _build(kind: type, data: Any, where: str) -> Any:
    """An instance of the dataclass ``kind`` from ``data``, every field checked."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: se esperaba un objeto JSON")
    hints = typing.get_type_hints(kind)
    known = {f.name: f for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise RecordError(f"{where}: campo desconocido «{unknown[0]}»")
    values = {}
    for name, spec in known.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: falta el campo «{name}»")
    return kind(**values)


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):  # only "X | None" in these records
        if value is None and type(None) in arguments:
            return None
        (kind,) = [a for a in arguments if a is not type(None)]
        origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    if origin is list and isinstance(value, list):
        return [_convert(item, arguments[0], f"{where}[{n}]") for n, item in enumerate(value)]
    if origin is dict and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _convert(v, arguments[1], f"{where}[{k!r}]") for k, v in value.items()}
    if kind is dict and isinstance(value, dict):
        try:  # any JSON object, as the file will hold it
            return json.loads(json.dumps(value))
        except (TypeError, ValueError):
            raise RecordError(f"{where}: no se puede guardar como JSON") from None
    if kind is float and type(value) in (int, float):
        return float(value)
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise RecordError(f"{where}: se esperaba {getattr(kind, '__name__', kind)}, no {value!r:.60}")


# -- reading and writing -----------------------------------------------------------------------


def read_record(path: Path, kind: type[R]) -> R | None:
    """The record of type ``kind`` in ``path``; None when there is no such file,
    :class:`RecordError` (with the path) when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"No puedo leer {path}: {error}") from None
    try:
        return kind.from_dict(json.loads(text))
    except ValueError as error:  # RecordError, or not JSON
        raise RecordError(f"No puedo leer {path}: {error}") from None


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` atomically; :class:`RecordError` when it would not read back as
    itself (a field of the wrong type), OSError when it cannot be written."""
    data = record.to_dict()
    if type(record).from_dict(data) != record:
        raise RecordError(f"{path}: el registro no se leería igual")
    write_json(path, data)


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON atomically: a reader never sees half a file (raises OSError)."""
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
