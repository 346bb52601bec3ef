"""Errors that kafkalab shows to people, in Spanish: what went wrong and what to do.

Every error derives from :class:`KafkaLabError`. In IPython and Jupyter the error is
shown as its message alone (``_render_traceback_``), never as a library traceback.
"""

from __future__ import annotations

import re

__all__ = [
    "KafkaLabError",
    "JavaError",
    "DownloadError",
    "ChecksumError",
    "BrokerStartError",
    "UnknownBrokerError",
    "CommandError",
    "explain_kafka_output",
]


class KafkaLabError(Exception):
    """Base class: a problem the user can act on, explained in Spanish."""

    title = "Error de kafkalab"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.title

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing the traceback: the message is the help.
        return [f"\x1b[31m{self.title}\x1b[0m", *str(self).splitlines()]


class JavaError(KafkaLabError):
    title = "Java no disponible"


class DownloadError(KafkaLabError):
    title = "No se pudo descargar Kafka"


class ChecksumError(KafkaLabError):
    title = "Fichero de Kafka corrupto"


class BrokerStartError(KafkaLabError):
    title = "Un broker no arrancó"


class UnknownBrokerError(KafkaLabError, KeyError):
    title = "Broker inexistente"


class CommandError(KafkaLabError):
    """A Kafka command line tool failed; ``result`` holds its full output."""

    title = "El comando de Kafka falló"

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


_LEGAL_TOPIC = "letras ASCII (a-z, A-Z), dígitos (0-9), punto (.), guion bajo (_) y guion (-)"

# Kafka's own wording (left) and what a learner needs to hear instead (right).
_EXPLANATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"replication factor(?: of)? (?P<rf>\d+) cannot be reached because only "
            r"(?P<brokers>\d+) broker\(s\) are registered"
        ),
        "El factor de replicación pedido ({rf}) es mayor que el número de brokers vivos "
        "({brokers}). Cada réplica de una partición vive en un broker distinto: usa "
        "--replication-factor {brokers} o menos, o arranca más brokers.",
    ),
    (
        re.compile(
            r"Topic name is invalid: '(?P<name>[^']*)' contains one or more characters other"
        ),
        "El nombre de topic «{name}» no es válido: solo admite " + _LEGAL_TOPIC + ", hasta "
        "249 caracteres. Quita tildes, eñes y espacios (por ejemplo «José» → «jose»).",
    ),
    (
        re.compile(r"Topic name is invalid: '(?P<name>\.\.?)' is not allowed|topic name '' cannot"),
        "El nombre de topic no puede estar vacío ni ser «.» o «..»: elige un nombre con "
        + _LEGAL_TOPIC
        + ".",
    ),
    (
        re.compile(r"is longer than the max allowed length (?P<max>\d+)"),
        "El nombre de topic es demasiado largo: como mucho {max} caracteres.",
    ),
    (
        re.compile(r"Topic '(?P<name>[^']+)' already exists"),
        "El topic «{name}» ya existe. Usa otro nombre, o bórralo antes con "
        "kafka-topics.sh --delete --topic {name} (borrar y recrear el mismo nombre puede "
        "confundir a consumidores que aún lo usan).",
    ),
    (
        re.compile(r"Topic '(?P<name>[^']+)' does not exist"),
        "El topic «{name}» no existe. Compruébalo con kafka-topics.sh --list.",
    ),
    (
        re.compile(r"No key separator found on line number (?P<line>\d+): '(?P<text>[^']*)'"),
        "La línea {line} («{text}») no tiene separador de clave. Con "
        "--reader-property parse.key=true cada línea debe ser clave, separador y valor "
        "(por ejemplo «ana:hola» con key.separator=:).",
    ),
    (
        re.compile(r"Invalid topics?: \[?(?P<name>[^\]\n]*)"),
        "El topic «{name}» no es un nombre válido: solo admite " + _LEGAL_TOPIC + ".",
    ),
    (
        re.compile(r"Timed out waiting for a node assignment|Timed out waiting to send"),
        "Kafka no respondió a tiempo: ¿están parados los brokers? Mira el estado del "
        "clúster (print(cluster)) y arranca los que falten.",
    ),
]


def explain_kafka_output(text: str) -> str | None:
    """Return a Spanish explanation for a known Kafka error in ``text``, or None."""
    for pattern, template in _EXPLANATIONS:
        match = pattern.search(text)
        if match:
            return template.format(**match.groupdict())
    return None
