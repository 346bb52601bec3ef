"""What each graded activity checks, for ``comprobar()``: a student's pre-submission check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from . import checks

__all__ = ["PERSON_FIELDS", "comprobar", "topic_name"]

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


def _activity1(nombre: str = "", **_) -> list[tuple[str, Callable[[], object]]]:
    topic = "iabd-topic"
    return [
        ("el topic iabd-topic existe", lambda: checks.check_topic(topic)),
        ("tiene al menos 3 mensajes", lambda: checks.check_messages(topic, at_least=3)),
        (
            "un mensaje lleva tu nombre",
            lambda: checks.check_messages(topic, containing=nombre),
        ),
    ]


def _activity2(nombre: str = "", **_) -> list[tuple[str, Callable[[], object]]]:
    topic = topic_name("iabd-topic", nombre) if nombre.strip() else "iabd-topic-"
    group = "consumer-group-iabd"
    return [
        (
            f"{topic}: 4 particiones, factor de replicación 2",
            lambda: checks.check_topic(topic, partitions=4, replication_factor=2),
        ),
        (
            "cada clave en una sola partición",
            lambda: checks.check_keys_in_one_partition(topic),
        ),
        (f"el grupo {group} confirmó offsets", lambda: checks.check_group_offsets(group, topic)),
        ("LAG total 1", lambda: checks.check_group_offsets(group, topic, total_lag=1)),
    ]


def _activity3(mongo_uri: str = "", **_) -> list[tuple[str, Callable[[], object]]]:
    topic = "iabd-python-topic"

    def exactly_once():
        people = checks.check_json_messages(topic, PERSON_FIELDS)
        checks.check_mongo_collection(
            mongo_uri, "iabd", "kafka_personas", PERSON_FIELDS, expected=people
        )

    return [
        (
            "mensajes JSON de personas en el topic",
            lambda: checks.check_json_messages(topic, PERSON_FIELDS, at_least=15),
        ),
        (
            "documentos correctos en kafka_personas",
            lambda: checks.check_mongo_collection(
                mongo_uri, "iabd", "kafka_personas", PERSON_FIELDS
            ),
        ),
        ("cada persona una sola vez en MongoDB", exactly_once),
    ]


_ACTIVITIES = {"actividad1": _activity1, "actividad2": _activity2, "actividad3": _activity3}


def comprobar(actividad: str, **datos) -> bool:
    """Run the automatic checks of an activity and print what passes and what is missing."""
    if actividad not in _ACTIVITIES:
        raise ValueError(f"Actividades: {', '.join(_ACTIVITIES)}.")
    passed = 0
    steps = _ACTIVITIES[actividad](**datos)
    for description, step in steps:
        try:
            step()
        except AssertionError as error:
            print(f"✘ {description}: {error}")
        else:
            passed += 1
            print(f"✔ {description}")
    print(f"{passed} de {len(steps)} comprobaciones superadas.")
    return passed == len(steps)
