"""What each graded activity checks: one definition for the grader and for the student.

Every automatic test cell of an activity is a :class:`Step` named by the cell's nbgrader
``grade_id``. A test cell reads as one line, ``autograder.verificar("actividad1",
"test-topic")``: in the student's notebook (running it, nbgrader's *Validate*,
:func:`comprobar`) the step runs there against the notebook's cluster. When grading, the
grader never runs test cells in the student's kernel: it runs the same step in its own
process against the cluster it owns (:mod:`autograder.trusted`), and the only things it takes
from the kernel are the answers the activity asks for (:attr:`Activity.answers`), as text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import checks
from .sandbox import Limits

__all__ = [
    "ACTIVITIES",
    "PERSON_FIELDS",
    "Activity",
    "CheckFailed",
    "Context",
    "Step",
    "activity",
    "comprobar",
    "topic_name",
    "verificar",
]

PERSON_FIELDS: dict[str, type | tuple[type, ...]] = {
    "nombre": str,
    "edad": int,
    "calle": str,
    "ciudad": str,
    "provincia": str,
    "cp": str,
    "longitud": (float, int),
    "latitud": (float, int),
}


def topic_name(prefix: str, name: str) -> str:
    """A valid Kafka topic name from a person's name: ``iabd-topic-jose-martinez``.

    Kafka allows ASCII letters, digits, '.', '_' and '-' (at most 249 characters), so accents
    are dropped, spaces become '-' and anything else goes.
    """
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^A-Za-z0-9._-]+", "-", plain.strip().lower()).strip("-.")
    if not words:
        raise ValueError(f"«{name}» no deja nada válido para un nombre de topic.")
    return f"{prefix}-{words}"[:249]


@dataclass
class Context:
    """What a step may use: the servers, the student's answers and the student's folder."""

    kafka: str
    mongo_uri: str | None = None
    answers: dict[str, str | None] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)
    # Runs one of the student's scripts (argv without the interpreter) in the student's
    # folder; returns the finished process or raises subprocess.TimeoutExpired.
    run_script: Callable[[list[str], float], subprocess.CompletedProcess] | None = None

    def answer(self, name: str, variable: str) -> str:
        value = self.answers.get(name)
        if value is None:
            raise AssertionError(
                f"No encuentro tu respuesta en la variable {variable}: ejecuta su celda y "
                f'escríbela como texto ({variable} = "...").'
            )
        return value


@dataclass(frozen=True)
class Step:
    grade_id: str
    title: str
    run: Callable[[Context], str]  # the success message; AssertionError when it fails


@dataclass(frozen=True)
class Activity:
    name: str  # nbgrader assignment name
    short: str  # what students type: "actividad1"
    brokers: int
    mongo: bool
    cell_timeout: int  # seconds a cell may run when grading
    steps: tuple[Step, ...]
    answers: dict[str, str] = field(default_factory=dict)  # kernel variable -> answer name
    # Locked cells that only help students (comprobar() repeats the checks): not run when
    # grading.
    student_only: tuple[str, ...] = ("comprobar",)
    # What the submission's processes may use when grading (autograder.sandbox.Limits), far
    # above what a correct submission uses: the peaks measured are next to each activity.
    limits: Limits = Limits(memory_mb=1024, cpu_seconds=60, processes=256, file_mb=64)

    def step(self, grade_id: str) -> Step | None:
        return next((s for s in self.steps if s.grade_id == grade_id), None)


class CheckFailed(AssertionError):
    """A failed step; IPython shows its Spanish message alone, without a traceback."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title
        self.message = message

    def _render_traceback_(self) -> list[str]:
        return failure_lines(self.title, self.message)


def failure_lines(title: str, message: str) -> list[str]:
    return [f"\x1b[0;31m✘ {title}\x1b[0m", message]


# --- Activity 1 -------------------------------------------------------------------------------

_TOPIC1 = "iabd-topic"


def _a1_topic(_ctx: Context) -> str:
    checks.check_topic(_TOPIC1)
    return f"El topic {_TOPIC1} existe."


def _a1_messages(_ctx: Context) -> str:
    found = checks.check_messages(_TOPIC1, at_least=3)
    return f"Hay {len(found)} mensajes en {_TOPIC1}."


def _a1_name(ctx: Context) -> str:
    name = ctx.answer("nombre", "NOMBRE").strip()
    if not name or name.casefold() == "tu nombre":
        raise AssertionError('Escribe tu nombre en la variable NOMBRE (NOMBRE = "Ana Pérez").')
    checks.check_messages(_TOPIC1, containing=name)
    return f"Un mensaje de {_TOPIC1} lleva el nombre {name}."


ACTIVITY1 = Activity(
    name="actividad1-hola-kafka",
    short="actividad1",
    brokers=1,
    mongo=False,
    cell_timeout=30,
    # Correct: 128 MB, 33 processes and threads, 0.7 s of CPU in its busiest process.
    limits=Limits(memory_mb=1024, cpu_seconds=60, processes=256, file_mb=64),
    answers={"NOMBRE": "nombre"},
    steps=(
        Step("test-topic", f"El topic {_TOPIC1} existe", _a1_topic),
        Step("test-mensajes", f"{_TOPIC1} tiene al menos 3 mensajes", _a1_messages),
        Step("test-nombre", "Un mensaje lleva tu nombre", _a1_name),
    ),
)

# --- Activity 2 -------------------------------------------------------------------------------

GROUP2 = "consumer-group-iabd"


def _a2_topic_of(ctx: Context) -> str:
    name = ctx.answer("nombre", "NOMBRE")
    try:
        return topic_name("iabd-topic", name)
    except ValueError:
        raise AssertionError(
            'Escribe tu nombre en la variable NOMBRE (NOMBRE = "José Martínez").'
        ) from None


def _a2_topic(ctx: Context) -> str:
    topic = _a2_topic_of(ctx)
    checks.check_topic(topic, partitions=4, replication_factor=2)
    return f"{topic}: 4 particiones, factor de replicación 2."


def _a2_keys(ctx: Context) -> str:
    topic = _a2_topic_of(ctx)
    partition_of = checks.check_keys_in_one_partition(topic, at_least_keys=2)
    shown = ", ".join(f"{key} → {part}" for key, part in sorted(partition_of.items()))
    return f"Cada clave está en una sola partición: {shown}."


def _a2_group(ctx: Context) -> str:
    """Offsets on the topic, committed by consumers that joined the group: offsets set with
    the admin tool alone earn nothing (:func:`checks.check_group_members`)."""
    topic = _a2_topic_of(ctx)
    checks.check_group_offsets(GROUP2, topic)
    members = checks.check_group_members(GROUP2, topic)
    return (
        f"El grupo {GROUP2} tiene offsets confirmados en {topic}, y {len(members)} "
        "consumidor(es) de ese topic se unieron al grupo."
    )


def _a2_lag(ctx: Context) -> str:
    topic = _a2_topic_of(ctx)
    checks.check_group_offsets(GROUP2, topic, total_lag=1, require_members=True)
    return "El LAG total es 1: el mensaje enviado con los consumidores parados."


ACTIVITY2 = Activity(
    name="actividad2-particiones-y-grupos",
    short="actividad2",
    brokers=3,
    mongo=False,
    cell_timeout=45,
    # Correct: 307 MB, 84 processes and threads, 0.9 s of CPU in its busiest process; seven
    # console consumers at once, the most the statement leads to: 700 MB, 150.
    limits=Limits(memory_mb=1536, cpu_seconds=90, processes=512, file_mb=64),
    answers={"NOMBRE": "nombre"},
    # The example of watch_consumers on a topic of its own: it shows the tool, grades nothing.
    student_only=("ejemplo-consumidores", "comprobar"),
    steps=(
        Step("test-topic", "Tu topic: 4 particiones y factor de replicación 2", _a2_topic),
        Step("test-claves", "Cada clave en una sola partición", _a2_keys),
        Step("test-grupo", f"El grupo {GROUP2} confirmó offsets", _a2_group),
        Step("test-lag", "LAG total 1", _a2_lag),
    ),
)

# --- Activity 3 -------------------------------------------------------------------------------

TOPIC3 = "iabd-python-topic"
DATABASE3, COLLECTION3 = "iabd", "kafka_personas"
REREAD_WAIT_S = 3  # --espera given to consumidor.py when the grader runs it again
REREAD_TIMEOUT_S = 90


def _mongo(ctx: Context) -> str:
    if not ctx.mongo_uri:
        raise AssertionError(
            "No sé dónde está MongoDB: pasa su URI a la comprobación (mongo=MONGO)."
        )
    return ctx.mongo_uri


def _a3_messages(_ctx: Context) -> str:
    people = checks.check_json_messages(TOPIC3, PERSON_FIELDS, at_least=15)
    return f"{len(people)} mensajes JSON correctos en {TOPIC3}."


def _a3_documents(ctx: Context) -> str:
    total = checks.check_mongo_collection(_mongo(ctx), DATABASE3, COLLECTION3, PERSON_FIELDS)
    return f"{total} documentos correctos en {COLLECTION3}."


def _a3_once(ctx: Context) -> str:
    people = checks.check_json_messages(TOPIC3, PERSON_FIELDS)
    checks.check_mongo_collection(
        _mongo(ctx), DATABASE3, COLLECTION3, PERSON_FIELDS, expected=people
    )
    return "Cada persona del topic está exactamente una vez en MongoDB."


def _a3_idempotent(ctx: Context) -> str:
    """Run consumidor.py again from the beginning of the topic: nothing may change."""
    uri = _mongo(ctx)
    people = checks.check_json_messages(TOPIC3, PERSON_FIELDS)
    before = checks.mongo_documents(uri, DATABASE3, COLLECTION3)
    if not (ctx.workdir / "consumidor.py").is_file():
        raise AssertionError("No encuentro consumidor.py en la carpeta de la actividad.")
    if ctx.run_script is None:
        raise AssertionError("No puedo ejecutar consumidor.py aquí.")
    group = f"relectura-{uuid.uuid4().hex[:8]}"
    argv = ["consumidor.py", "--kafka", ctx.kafka, "--mongo", uri]
    argv += ["--espera", str(REREAD_WAIT_S), "--grupo", group]
    try:
        completed = ctx.run_script(argv, REREAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"Al volver a ejecutar consumidor.py no terminó en {REREAD_TIMEOUT_S} s: debe "
            f"terminar tras --espera {REREAD_WAIT_S} segundos sin mensajes nuevos."
        ) from None
    if completed.returncode != 0:
        tail = (completed.stdout or "")[-600:].strip()
        raise AssertionError(
            f"Al volver a ejecutar «python {' '.join(argv)}» terminó con error "
            f"({completed.returncode}): {tail}"
        )
    offsets = checks.consumer_group_lag(group, TOPIC3)
    unread = {p: (c, end) for p, (c, end) in offsets.items() if c < end}
    if unread:
        shown = ", ".join(f"p{p}: {max(c, 0)}/{end}" for p, (c, end) in unread.items())
        raise AssertionError(
            f"Ejecutado con --grupo {group}, consumidor.py no ha leído (y confirmado) todo el "
            f"topic desde el principio: offsets confirmados/finales {shown}. Usa el grupo de "
            "--grupo, auto_offset_reset='earliest' y confirma tras escribir en MongoDB."
        )
    after = checks.mongo_documents(uri, DATABASE3, COLLECTION3)
    if len(after) != len(before):
        raise AssertionError(
            f"Tras leer otra vez los {len(people)} mensajes del topic, «{COLLECTION3}» ha "
            f"pasado de {len(before)} a {len(after)} documentos: el consumidor no es "
            "idempotente. Da a cada documento un _id que salga del mensaje y usa "
            "replace_one(..., upsert=True)."
        )
    checks.check_mongo_collection(uri, DATABASE3, COLLECTION3, PERSON_FIELDS, expected=people)
    if _fingerprint(before) != _fingerprint(after):
        raise AssertionError(
            f"Tras leer otra vez el topic, los documentos de «{COLLECTION3}» han cambiado."
        )
    return (
        f"consumidor.py ha vuelto a leer los {len(people)} mensajes y «{COLLECTION3}» sigue "
        "igual: es idempotente."
    )


def _fingerprint(documents: list[dict]) -> list[str]:
    return sorted(json.dumps(d, sort_keys=True, default=str) for d in documents)


ACTIVITY3 = Activity(
    name="actividad3-kafka-a-mongodb",
    short="actividad3",
    brokers=1,
    mongo=True,
    cell_timeout=120,
    # Correct: 109 MB, 33 processes and threads, 0.7 s of CPU in its busiest process.
    limits=Limits(memory_mb=1024, cpu_seconds=240, processes=256, file_mb=64),
    steps=(
        Step("test-mensajes", "Mensajes JSON de personas en el topic", _a3_messages),
        Step("test-documentos", f"Documentos correctos en {COLLECTION3}", _a3_documents),
        Step("test-una-vez", "Cada persona una sola vez en MongoDB", _a3_once),
        Step("test-idempotente", "Releer el topic no cambia MongoDB", _a3_idempotent),
    ),
)

ACTIVITIES: dict[str, Activity] = {a.name: a for a in (ACTIVITY1, ACTIVITY2, ACTIVITY3)}


def activity(name: str) -> Activity | None:
    """The activity called ``name`` (``actividad1`` or ``actividad1-hola-kafka``)."""
    for candidate in ACTIVITIES.values():
        if name in (candidate.name, candidate.short):
            return candidate
    return None


# --- In the student's notebook ----------------------------------------------------------------


def _student_context(datos: dict) -> Context:
    def run_script(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    mongo = datos.pop("mongo", None) or datos.pop("mongo_uri", None)
    answers = {k: (v if isinstance(v, str) else None) for k, v in datos.items()}
    return Context(
        kafka=checks.bootstrap_servers(),
        mongo_uri=mongo,
        answers=answers,
        workdir=Path.cwd(),
        run_script=run_script,
    )


def _find(actividad: str) -> Activity:
    found = activity(actividad)
    if found is None:
        names = ", ".join(a.short for a in ACTIVITIES.values())
        raise ValueError(f"No conozco la actividad «{actividad}». Actividades: {names}.")
    return found


def verificar(actividad: str, paso: str, **datos) -> None:
    """Run one automatic check of an activity here, as a test cell does.

    Prints ✔ and what was found, or raises :class:`CheckFailed` with a Spanish message saying
    what was expected and what was found.
    """
    spec = _find(actividad)
    step = spec.step(paso)
    if step is None:
        raise ValueError(f"La actividad {spec.short} no tiene la comprobación «{paso}».")
    try:
        message = step.run(_student_context(dict(datos)))
    except AssertionError as error:
        raise CheckFailed(step.title, str(error)) from None
    print(f"✔ {message}")


def comprobar(actividad: str, **datos) -> bool:
    """Run every automatic check of an activity and print what passes and what is missing."""
    spec = _find(actividad)
    passed = 0
    for step in spec.steps:
        try:
            step.run(_student_context(dict(datos)))
        except AssertionError as error:
            print(f"✘ {step.title}: {error}")
        else:
            passed += 1
            print(f"✔ {step.title}")
    print(f"{passed} de {len(spec.steps)} comprobaciones superadas.")
    return passed == len(spec.steps)
