"""Activity 3 · From Kafka to MongoDB: JSON people in a topic, each once in MongoDB, and an
idempotent consumer (reading the topic again changes nothing)."""

from __future__ import annotations

import json
import subprocess
import uuid

from .. import checks
from .base import Activity, Context, Limits, Step

__all__ = ["ACTIVITY3", "COLLECTION3", "DATABASE3", "PERSON_FIELDS", "TOPIC3"]

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
