"""Activity 2 · Partitions, keys and consumer groups: a topic of 4 partitions and RF 2,
each key in one partition, a group whose consumers joined and committed, LAG 1."""

from __future__ import annotations

from .. import checks
from .base import Activity, Context, Limits, Step, topic_name

__all__ = ["ACTIVITY2", "GROUP2"]

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
