"""Activity 1 · Hola Kafka: a topic, three messages, one with the student's name."""

from __future__ import annotations

from .. import checks
from .base import Activity, Context, Limits, Step

__all__ = ["ACTIVITY1"]

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
