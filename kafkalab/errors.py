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
    "DockerUnavailableError",
    "MongoError",
    "MongoStartError",
    "FerretDBError",
    "ConnectError",
    "explain_kafka_output",
    "refused_by_kafka",
    "refusal_message",
    "failure_message",
    "kafka_said",
    "JAVA_FRAME",
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


class DockerUnavailableError(KafkaLabError):
    title = "Docker no disponible"


class MongoError(KafkaLabError):
    title = "MongoDB no disponible"


class MongoStartError(MongoError):
    title = "MongoDB no arrancó"


class FerretDBError(KafkaLabError):
    title = "FerretDB no disponible"


class ConnectError(KafkaLabError):
    title = "Kafka Connect falló"


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
        "El topic «{name}» no existe. Compruébalo con kafka-topics.sh --list (en el Kafka "
        "compartido de una clase, los topics de los demás no se ven: para ti no existen).",
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
    # Options from older tutorials that Kafka 4 no longer has, then any unknown option.
    (
        re.compile(r"(?m)^zookeeper is not a recognized option"),
        "La opción --zookeeper ya no existe: las herramientas hablan con los brokers "
        "(--bootstrap-server) desde Kafka 3.0, y Kafka 4 ni siquiera usa ZooKeeper (solo "
        "KRaft). Quita «--zookeeper HOST:2181»: en el curso, --bootstrap-server se añade solo.",
    ),
    (
        re.compile(r"Not authorized to access topics: \[(?P<topics>[^\]]*)\]"),
        "Kafka no te deja usar el topic {topics}. En el Kafka compartido de la clase cada "
        "estudiante solo tiene permiso sobre los topics, grupos e ids de transacción que "
        "empiezan por su usuario y un punto (por ejemplo «ana.pedidos»): los de los demás no "
        "se pueden leer, escribir ni borrar.",
    ),
    (
        re.compile(r"Not authorized to access group: (?P<group>\S+)"),
        "Kafka no te deja usar el grupo de consumidores «{group}». En el Kafka compartido de "
        "la clase cada estudiante solo puede usar grupos que empiezan por su usuario y un "
        "punto (por ejemplo --group ana.lectores).",
    ),
    (
        re.compile(r"TopicAuthorizationException|Topic authorization failed"),
        "Kafka no te deja usar ese topic. En el Kafka compartido de la clase cada estudiante "
        "solo tiene permiso sobre los topics que empiezan por su usuario y un punto (por "
        "ejemplo «ana.pedidos»): los de los demás no se pueden leer, escribir ni borrar.",
    ),
    (
        re.compile(r"SaslAuthenticationException|Authentication failed"),
        "Kafka no acepta tu usuario o tu clave. Revisa el fichero de configuración de cliente "
        "(KAFKALAB_CLIENT_CONFIG) o pide tus credenciales al profesorado.",
    ),
    (
        re.compile(r"(?m)^broker-list is not a recognized option"),
        "La opción --broker-list se quitó en Kafka 4: usa --bootstrap-server (en el curso "
        "se añade solo, así que basta con quitar «--broker-list HOST:PUERTO»).",
    ),
    (
        re.compile(r"(?m)^(?P<option>[\w.-]+) is not a recognized option"),
        "La herramienta no conoce la opción --{option}. Revisa cómo se escribe, o mira las "
        "opciones que sí tiene con --help (puede que venga de un tutorial de otra versión).",
    ),
    (
        re.compile(r'Missing required argument "\[(?P<option>[^\]]+)\]"'),
        "Falta la opción obligatoria --{option}.",
    ),
    (
        re.compile(r"Option \[(?P<option>[^\]]+)\] takes one of these options: (?P<choices>.+)"),
        "La opción --{option} necesita también una de estas: {choices}.",
    ),
    (
        re.compile(r"The partitions must be greater than 0"),
        "El número de particiones debe ser 1 o más: escribe, por ejemplo, --partitions 3.",
    ),
    (
        re.compile(r"The replication factor must be between 1 and (?P<max>\d+)"),
        "El factor de replicación debe ser 1 o más (y no mayor que el número de brokers): "
        "escribe, por ejemplo, --replication-factor 1.",
    ),
    (
        re.compile(r"Cannot parse argument '(?P<value>[^']*)' of option (?P<option>[\w.-]+)"),
        "«{value}» no vale como valor de --{option}: tiene que ser un número entero.",
    ),
    (
        re.compile(
            r"currently has (?P<now>\d+) partition\(s\); (?P<asked>-?\d+) would not be an increase"
        ),
        "Un topic no puede perder particiones: tiene {now} y has pedido {asked}. Solo se puede "
        "aumentar su número (si necesitas menos, crea otro topic).",
    ),
]


# Kafka's console producer and consumer log a refusal and still end with code 0.
_REFUSED = re.compile(
    r"(Topic|Group|TransactionalId|Cluster)AuthorizationException|SaslAuthenticationException"
)


def refused_by_kafka(output: str) -> bool:
    """Whether a tool's output says Kafka refused it (whatever its exit code)."""
    return bool(_REFUSED.search(output))


def refusal_message(tool: str, output: str) -> str:
    """What to tell a learner when Kafka refused a tool that ended with code 0."""
    message = f"Kafka rechazó lo que pedía {tool}."
    explanation = explain_kafka_output(output)
    if explanation:
        message += f"\n{explanation}"
    said = kafka_said(output)
    return message + (f"\nSalida de Kafka:\n{said}" if said else "")


def _option_list(text: str) -> str:
    """joptsimple's ``[group], [all-groups]`` as ``--group, --all-groups``."""
    return re.sub(r"\[([\w.-]+)\]", r"--\1", text.strip())


def explain_kafka_output(text: str) -> str | None:
    """Return a Spanish explanation for a known Kafka error in ``text``, or None."""
    for pattern, template in _EXPLANATIONS:
        match = pattern.search(text)
        if match:
            values = match.groupdict()
            if "choices" in values:
                values["choices"] = _option_list(values["choices"])
            return template.format(**values)
    return None


# Java stack frames, and the usage table a tool prints after a wrong option.
JAVA_FRAME = re.compile(r"^\t(at |\.\.\. \d+ more)")
_USAGE_TABLE = re.compile(r"^Option\s+Description\s*$")


def kafka_said(output: str, lines: int = 12) -> str:
    """The last ``lines`` lines of a tool's output that a learner can read: no Java stack
    frames and no usage table."""
    kept: list[str] = []
    for line in output.splitlines():
        if _USAGE_TABLE.match(line):
            break
        if not JAVA_FRAME.match(line):
            kept.append(line)
    return "\n".join(kept[-lines:]).strip()


def failure_message(
    tool: str, returncode: int | None, output: str, *, timeout: float = 0, quote: bool = True
) -> str:
    """What to tell a learner about a failed Kafka CLI call: what happened, what it means in
    Spanish when the failure is a known one, and (``quote``) Kafka's own words.

    ``returncode`` None means the tool was stopped after ``timeout`` seconds.
    """
    if returncode is None:
        return (
            f"{tool} no terminó en {timeout:g} s y se ha detenido. Un consumidor de consola "
            "espera mensajes para siempre: añade --max-messages N o --timeout-ms MS."
        )
    message = f"{tool} terminó con código {returncode}."
    explanation = explain_kafka_output(output)
    if explanation:
        message += f"\n{explanation}"
    said = kafka_said(output) if quote else ""
    return message + (f"\nSalida de Kafka:\n{said}" if said else "")
