"""The grader's records (autograder/grader/records.py): each round-trips through its type, files
written before the records had types are still read, and unreadable ones are refused."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from autograder.grader import trusted
from autograder.grader.course import Course
from autograder.grader.records import (
    REPLACED,
    VERSION,
    Events,
    GraderError,
    GradingRun,
    Imported,
    ImportRecord,
    Participant,
    Participants,
    Problem,
    RecordError,
    RunResult,
    TamperSignal,
    Timeout,
    read_record,
    write_record,
)

RUN = GradingRun(
    activity="actividad1-hola-kafka",
    finished="2025-01-20T10:00:00+00:00",
    jobs=2,
    mode="warm",
    results=[
        RunResult("ana-perez", 0.3, 0.5, 12.41, True),
        RunResult("sin-entrega", 0.0, 0.0, 0.0, False, "la carpeta no tiene el cuaderno"),
    ],
)
EVENTS = Events(
    activity="actividad1-hola-kafka",
    student="ana-perez",
    notebook="actividad1-hola-kafka",
    started="2025-01-20T10:00:00+00:00",
    finished="2025-01-20T10:00:12+00:00",
    seconds=12.4,
    timeouts=[Timeout("producir", 20.0)],
    kernel_died="consumir",
    total_time_exceeded=True,
    answers_refused=["NOMBRE"],
    checks={"test-topic": "superada", "test-mensajes": "error"},
    grader_errors=[GraderError("test-mensajes", "KafkaError: sin conexión")],
    tamper=[TamperSignal("codigo", "nombre", "modifica atributos con setattr()")],
    isolated=True,
    limit={"kind": "memory", "value": 536870912, "message": "Superó el límite de memoria"},
)
IMPORT = ImportRecord(
    zip="/tmp/entregas.zip",
    activity="actividad1-hola-kafka",
    imported=[
        Imported("ana-perez", "Ana Pérez", "1002", "Ana Pérez_1002_x/a.ipynb"),
        Imported("luis", "Luis", "1003", "b.ipynb", REPLACED, "informes/a/anteriores/luis/x"),
    ],
    problems=[Problem("Elena Gil_1008_x", "Elena Gil", "la carpeta no tiene ningún archivo")],
)
PARTICIPANTS = Participants(
    participants={"1002": Participant("ana-perez", "Ana Pérez"), "1003": Participant("luis", "L")}
)


@pytest.mark.parametrize(
    ("record", "where"),
    [
        (RUN, lambda course, activity: Course(course).grading_record(activity)),
        (EVENTS, lambda course, activity: Course(course).events(activity, "ana-perez")),
        (IMPORT, lambda course, activity: Course(course).import_record(activity)),
        (PARTICIPANTS, lambda course, activity: Course(course).participants(activity)),
    ],
    ids=["calificacion", "eventos", "importacion", "participantes"],
)
def test_every_record_reads_back_as_it_was_written(tmp_path, record, where):
    path = where(tmp_path, "actividad1-hola-kafka")
    assert path.is_relative_to(tmp_path / "informes" / "actividad1-hola-kafka")
    write_record(path, record)
    assert read_record(path, type(record)) == record
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert next(iter(saved)) == "version" and saved["version"] == VERSION
    # Every field is written, so nothing depends on a default the reader may change.
    assert set(saved) == {f.name for f in dataclasses.fields(record)}
    # A default record too.
    empty = type(record).from_dict({"version": VERSION, **_required(type(record))})
    write_record(path, empty)
    assert read_record(path, type(record)) == empty


def _required(kind) -> dict:
    return {
        f.name: {"str": "x", "int": 1}.get(str(f.type), "x")
        for f in dataclasses.fields(kind)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


# Files as the grader wrote them before the records had types (version 1, no "version").
OLD_RUN = {
    "activity": "actividad1-hola-kafka",
    "finished": "2025-01-20T10:00:00+00:00",
    "jobs": 1,
    "mode": "fresh",
    "results": [
        {"student": "a", "score": 0.5, "max_score": 0.5, "seconds": 9.1, "ok": True, "error": ""}
    ],
}
OLD_EVENTS = {
    "activity": "actividad1-hola-kafka",
    "student": "a",
    "notebook": "actividad1-hola-kafka",
    "started": "2025-01-20T10:00:00+00:00",
    "timeouts": [{"cell": "producir", "seconds": 20}],
    "kernel_died": None,
    "kernel_unresponsive": None,
    "total_time_exceeded": False,
    "answers_refused": [],
    "checks": {"test-topic": "superada"},
    "grader_errors": [],
    "tamper": [{"kind": "test-borrado", "cell": "test-nombre", "detail": "borrada"}],
    "isolated": False,
    "error": "",
    "finished": "2025-01-20T10:00:09+00:00",
    "seconds": 9.05,
}
OLD_IMPORT = {
    "zip": "/tmp/moodle.zip",
    "activity": "actividad1-hola-kafka",
    "imported": [
        {
            "student": "ana-perez",
            "name": "Ana Pérez",
            "lms_id": "1002",
            "file": "a.ipynb",
            "status": "nueva",
            "backup": None,
        }
    ],
    "problems": [{"folder": "f", "name": "n", "reason": "r"}],
}
OLD_PARTICIPANTS = {
    "1001": {"student": "jose-martinez", "name": "José Martínez"},
    "1002": {"student": "ana-perez", "name": "Ana Pérez"},
}


def test_files_written_before_the_records_had_types_are_still_read(tmp_path):
    def old(name: str, data: dict) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    run = read_record(old("calificacion.json", OLD_RUN), GradingRun)
    assert run.version == VERSION and run.mode == "fresh"
    assert run.results == [RunResult("a", 0.5, 0.5, 9.1, True, "")]

    events = read_record(old("a.json", OLD_EVENTS), Events)
    assert events.limit is None  # recorded by later graders only
    assert events.timeouts == [Timeout("producir", 20)]
    assert events.tamper[0].kind == "test-borrado" and events.isolated is False
    assert events.seconds == 9.05 and events.checks == {"test-topic": "superada"}

    imported = read_record(old("importacion.json", OLD_IMPORT), ImportRecord)
    assert imported.imported[0] == Imported("ana-perez", "Ana Pérez", "1002", "a.ipynb")
    assert imported.problems == [Problem("f", "n", "r")]
    # A hand-made record with the least the report needs.
    least = read_record(old("minimo.json", {"zip": "z.zip", "problems": []}), ImportRecord)
    assert least == ImportRecord(zip="z.zip")

    participants = read_record(old("participantes.json", OLD_PARTICIPANTS), Participants)
    assert participants.participants == {
        "1001": Participant("jose-martinez", "José Martínez"),
        "1002": Participant("ana-perez", "Ana Pérez"),
    }
    # Written again, it is the current version, and reads back the same.
    write_record(tmp_path / "de-nuevo.json", participants)
    assert json.loads((tmp_path / "de-nuevo.json").read_text())["version"] == VERSION
    assert read_record(tmp_path / "de-nuevo.json", Participants) == participants


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "No puedo leer"),
        ("[]", "no es un objeto JSON"),
        (json.dumps({**OLD_RUN, "jobs": "dos"}), "GradingRun.jobs: se esperaba int"),
        (json.dumps({**OLD_RUN, "results": [{"student": "a"}]}), "falta el campo «score»"),
        (json.dumps({**OLD_RUN, "nuevo": 1}), "campo desconocido «nuevo»"),
        (json.dumps({k: v for k, v in OLD_RUN.items() if k != "mode"}), "falta el campo «mode»"),
        (json.dumps({**OLD_RUN, "version": VERSION + 1}), "actualiza el corrector"),
        (json.dumps({**OLD_RUN, "version": "2"}), "versión no válida"),
        (json.dumps({**OLD_RUN, "results": [{**OLD_RUN["results"][0], "ok": 1}]}), "bool"),
    ],
)
def test_unreadable_records_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "calificacion.json"
    path.write_text(text)
    with pytest.raises(RecordError, match=message) as refused:
        read_record(path, GradingRun)
    assert str(path) in str(refused.value)


def test_a_missing_record_is_none_and_a_bad_one_is_not_written(tmp_path):
    assert read_record(tmp_path / "no-existe.json", Events) is None
    path = tmp_path / "eventos" / "a.json"
    with pytest.raises(RecordError):
        write_record(path, dataclasses.replace(EVENTS, limit={"value": {1, 2}}))
    with pytest.raises(RecordError):
        write_record(path, dataclasses.replace(EVENTS, seconds="doce"))
    assert not path.exists()


def test_the_events_trusted_builds_are_the_fields_of_events():
    """Every key TrustedExecute puts in its events dict is a field of Events (else the
    record would be refused, and logged, when it is written)."""
    tree = ast.parse(inspect.getsource(trusted))
    keys = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and any(ast.unparse(t) == "self._events" for t in node.targets)
        ):
            keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "self._events"
            and isinstance(node.slice, ast.Constant)
        ):
            keys.add(node.slice.value)
    assert {"activity", "timeouts", "tamper", "seconds", "finished"} <= keys
    assert keys <= {f.name for f in dataclasses.fields(Events)}
