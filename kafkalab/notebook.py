"""What the course notebooks use: one cluster per notebook, magics, live views, quizzes.

    import kafkalab
    cluster = kafkalab.start_cluster(brokers=3)
    %kafka kafka-topics.sh --create --topic pedidos --partitions 2
    consumers = kafkalab.watch_consumers("pedidos", count=2, group="cocina")
    kafkalab.show_cluster("pedidos")

The library draws and waits; the lessons themselves use the real Kafka CLI (through the
magics or ``!kafka-topics.sh``) and plain kafka-python.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import JAVA_FRAME, CommandError, KafkaLabError, failure_message
from .kafka import Cluster, CommandResult
from .kafka.base import EXTERNAL_ENV
from .pictures import ClusterPicture, GroupPicture, picture_cluster, picture_group
from .widgets import ConsoleConsumers, Quiz, in_ipython

_current: Cluster | None = None
# The course's multiple-choice questions: id -> question, right answer, wrong ones, explanation.
QUIZ_BANK = Path(__file__).with_name("preguntas.json")


# --- the notebook's cluster ---------------------------------------------------------------


def start_cluster(brokers: int = 1, *, stops_brokers: bool = False, **options) -> Cluster:
    """Start the notebook's cluster, closing the one an earlier call started.

    Re-running the first cell of a notebook therefore never leaves a second cluster (nor
    the console consumers of the first) running. In IPython the ``%kafka`` and
    ``%%kafka_produce`` magics are loaded too.

    Args:
        brokers: number of brokers, 1 to 5.
        stops_brokers: the notebook stops, kills or starts brokers. A class's shared Kafka
            (``KAFKA_BOOTSTRAP_SERVERS``, kafkalab.classroom) cannot allow that: the notebook
            then says so and gets a cluster of its own (local, or ``$KAFKALAB_BACKEND``).
        **options: passed to :meth:`Cluster.start` (``progress`` defaults to True).

    Returns:
        The started :class:`Cluster`; :func:`current_cluster` returns it from now on.
    """
    global _current
    previous, _current = _current, None
    if previous is not None:
        previous.close()  # and the live consumers reading from it
    options.setdefault("progress", True)
    shared = os.environ.get(EXTERNAL_ENV, "").strip()
    if stops_brokers and shared and options.get("backend", "auto") in ("auto", "external"):
        own = os.environ.get("KAFKALAB_BACKEND", "").strip()
        options["backend"] = own if own in ("local", "docker") else "local"
        print(
            "Esta lección para, mata y vuelve a arrancar brokers, y eso no se puede hacer en "
            f"el Kafka compartido de la clase ({shared}): necesita un clúster propio. "
            "Arranco uno solo para ti, aquí mismo."
        )
    cluster = Cluster.start(brokers, **options)
    _publish_environment(cluster)
    _current = cluster
    shell = in_ipython()
    if shell is not None:
        load_ipython_extension(shell)
    return cluster


def _publish_environment(cluster: Cluster) -> None:
    """Let ``!kafka-topics.sh ...`` in the notebook find the tools (PATH) and this cluster
    (``KAFKALAB_BOOTSTRAP_SERVER``, read by the launch scripts); undone when it closes."""
    published = {"KAFKALAB_BOOTSTRAP_SERVER": cluster.bootstrap_servers}
    if cluster.distribution is not None:
        tools = cluster.distribution.tool_environment()
        published |= {name: tools[name] for name in ("PATH", "KAFKALAB_JAVA")}
        published |= cluster.tool_environment()
        # The student's first command is a cell or two away: the tool JVM can be ready by then.
        cluster.start_tool_jvm()
    saved = {name: os.environ.get(name) for name in published}
    os.environ.update(published)

    def restore() -> None:
        for name, value in saved.items():
            if os.environ.get(name) != published[name]:
                continue  # changed since by someone else: theirs to keep
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value

    cluster.on_close(restore)


def current_cluster() -> Cluster:
    """The cluster of the last :func:`start_cluster` call, if it is still open."""
    if _current is None or _current.closed:
        raise KafkaLabError(
            "No hay ningún clúster en marcha: ejecuta primero la celda que arranca el clúster "
            "(cluster = kafkalab.start_cluster(...))."
        )
    return _current


# --- magics -----------------------------------------------------------------------------------


def kafka_magic(line: str) -> None:
    """%kafka TOOL ARGS: run a Kafka CLI tool against the notebook's cluster and print its output.

    ``--bootstrap-server`` is added when missing. IPython has already replaced ``$name``
    and ``{expression}`` in the line. A failure prints Kafka's message and what it means.
    """
    _print_result(current_cluster().run(line, check=False))


def _print_result(result: CommandResult) -> None:
    """Print a tool's output as it printed it; after a failure, explain it in Spanish."""
    failed = result.returncode != 0
    if result.stdout:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
    stderr = result.stderr
    if failed:
        # Java stack frames say nothing to a learner; Kafka's own sentence stays.
        stderr = "".join(
            line for line in stderr.splitlines(keepends=True) if not JAVA_FRAME.match(line)
        )
    if stderr:
        sys.stderr.write(stderr)
    if failed:
        tool = Path(result.args[0]).name if result.args else "El comando"
        # Kafka's own words are printed above; only what they mean is added.
        message = failure_message(tool, result.returncode, result.output, quote=False)
        if stderr and not stderr.endswith("\n"):
            message = "\n" + message
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


_NO_SEPARATOR = re.compile(r"No key separator found on line number (\d+): '(.*)'")
_PRODUCE_USAGE = "Uso: %%kafka_produce TOPIC [--key-separator SEPARADOR], y un mensaje por línea."


def kafka_produce_magic(line: str, cell: str) -> None:
    """%%kafka_produce TOPIC [--key-separator SEP]: each non-empty line is one message.

    The lines go through the real ``kafka-console-producer.sh``; with a separator, the text
    before it is the key (``--reader-property parse.key=true``). Other options are passed
    to the producer unchanged.
    """
    topic, separator, extra = _parse_produce_line(line)
    messages = [text.rstrip("\r") for text in cell.splitlines() if text.strip()]
    if not messages:
        print(f"0 mensajes enviados a {topic}: escribe un mensaje por línea bajo %%kafka_produce.")
        return
    command = ["kafka-console-producer.sh", "--topic", topic]
    if separator is not None:
        command += [
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            f"key.separator={separator}",
        ]
    try:
        current_cluster().run([*command, *extra], input="\n".join(messages) + "\n")
    except CommandError as error:
        missing = _NO_SEPARATOR.search(error.result.output if error.result else "")
        if missing is None or separator is None:
            raise
        number = int(missing.group(1))
        raise CommandError(
            f"La línea {number} («{missing.group(2)}») no tiene el separador «{separator}» "
            "entre la clave y el valor, y el productor se ha detenido ahí: "
            + (
                f"las {number - 1} líneas anteriores sí se enviaron. "
                if number > 2
                else "la línea anterior sí se envió. "
                if number == 2
                else "no se envió nada. "
            )
            + f"Escribe cada mensaje como clave{separator}valor.",
            error.result,
        ) from None
    noun = "mensaje enviado" if len(messages) == 1 else "mensajes enviados"
    print(f"{len(messages)} {noun} a {topic}")


def _parse_produce_line(line: str) -> tuple[str, str | None, list[str]]:
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise KafkaLabError(f"{_PRODUCE_USAGE}\n({error})") from None
    topic = None
    separator = None
    extra: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--key-separator":
            if index + 1 >= len(words):
                raise KafkaLabError(f"Falta el separador tras --key-separator.\n{_PRODUCE_USAGE}")
            separator = words[index + 1]
            index += 2
            continue
        if word.startswith("--key-separator="):
            separator = word.split("=", 1)[1]
        elif word == "--topic" and index + 1 < len(words):
            topic = words[index + 1]
            index += 2
            continue
        elif topic is None and not word.startswith("-"):
            topic = word
        else:
            extra.append(word)
        index += 1
    if not topic:
        raise KafkaLabError(f"Falta el topic.\n{_PRODUCE_USAGE}")
    if separator is not None:
        # A tab typed as \t in the magic line means a tab.
        separator = separator.replace("\\t", "\t")
        if not separator:
            raise KafkaLabError(f"El separador de clave no puede estar vacío.\n{_PRODUCE_USAGE}")
    return topic, separator, extra


def load_ipython_extension(ipython) -> None:
    """Register ``%kafka`` and ``%%kafka_produce`` (also what ``%load_ext kafkalab`` does)."""
    ipython.register_magic_function(kafka_magic, magic_kind="line", magic_name="kafka")
    ipython.register_magic_function(
        kafka_produce_magic, magic_kind="cell", magic_name="kafka_produce"
    )


# --- live views -------------------------------------------------------------------------------


def watch_consumers(
    topic: str,
    count: int = 2,
    group: str | None = None,
    from_beginning: bool = True,
    show_key: bool = True,
    show_partition: bool = True,
    *,
    show_offset: bool = False,
    timeout: float = 30,
    cluster: Cluster | None = None,
) -> ConsoleConsumers:
    """Start ``count`` real ``kafka-console-consumer.sh`` and show them side by side, live.

    Returns once every consumer has joined its group (or after ``timeout`` seconds), so
    messages produced in the next cell reach them. Stop them with ``.stop()``; they also
    stop when the cluster closes and when Python exits (even killed).

    Args:
        topic: the topic to read.
        count: how many consumers (panes).
        group: one group for all of them (they share the partitions); None gives each its
            own group, so each one reads every message.
        from_beginning: read from the first offset when the group has no committed offset.
        show_key, show_partition, show_offset: what each line shows besides the value.
        timeout: seconds to wait for the consumers to join.
        cluster: another cluster than :func:`current_cluster`.

    Returns:
        A :class:`ConsoleConsumers`: ``lines(i)``, ``wait_for(total=N)``, ``stop()``.
    """
    watcher = ConsoleConsumers(
        cluster or current_cluster(),
        topic,
        count=count,
        group=group,
        from_beginning=from_beginning,
        show_key=show_key,
        show_partition=show_partition,
        show_offset=show_offset,
    )
    watcher.display()
    return watcher.start(timeout=timeout)


def show_cluster(topic: str | None = None, *, cluster: Cluster | None = None) -> ClusterPicture:
    """A picture of the cluster now: brokers, controllers, and each topic's partitions.

    Args:
        topic: only this topic (internal ones included); by default every non-internal topic.
        cluster: another cluster than :func:`current_cluster`.
    """
    return picture_cluster(cluster or current_cluster(), topic)


def show_group(
    group: str, topic: str | None = None, *, cluster: Cluster | None = None
) -> GroupPicture:
    """A picture of a consumer group now: state, members, and offsets and lag per partition.

    Args:
        group: the group id.
        topic: only this topic's partitions.
        cluster: another cluster than :func:`current_cluster`.
    """
    return picture_group(cluster or current_cluster(), group, topic)


def quiz(
    pregunta: str,
    opciones: Sequence[str] | None = None,
    correcta: int | None = None,
    explicacion: str = "",
) -> Quiz:
    """A multiple-choice question with a "Comprobar" button.

    ``quiz("02-1")`` shows question 02-1 of the course's bank (``kafkalab/preguntas.json``), so
    that neither the answer nor its explanation is in the lesson's source; its options come in
    an order of their own for each person (:func:`quiz_order`), always the same for them.

    Args:
        pregunta: the question, or the id of a question of the bank.
        opciones: the answers to choose from (not with an id).
        correcta: index (from 0) of the right answer in ``opciones``.
        explicacion: shown after checking, right or wrong.
    """
    if opciones is None:
        return _bank_quiz(pregunta)
    if correcta is None:
        raise KafkaLabError("Di cuál es la respuesta correcta: correcta=ÍNDICE (desde 0).")
    return Quiz(pregunta, opciones, correcta, explicacion)


@functools.cache
def _bank() -> dict:
    """The question bank, read once (a quiz reads it for its question and for its order)."""
    import json

    return json.loads(QUIZ_BANK.read_text(encoding="utf-8"))


def _bank_quiz(question_id: str) -> Quiz:
    bank = _bank()
    if question_id not in bank:
        raise KafkaLabError(
            f"No hay ninguna pregunta «{question_id}» en el banco de preguntas del curso."
        )
    entry = bank[question_id]
    options = [entry["correcta"], *entry["incorrectas"]]
    order = quiz_order(question_id, len(options))
    return Quiz(
        entry["pregunta"], [options[i] for i in order], order.index(0), entry["explicacion"]
    )


def quiz_order(question_id: str, count: int, person: str | None = None) -> list[int]:
    """The order in which ``person`` (by default, who runs this Python: their user name)
    sees the ``count`` options of bank question ``question_id`` (option 0 is the right one):
    ``order[i]`` is the option shown in place ``i``. It never changes for one person and
    question, and differs between people.

    The right answer's place is balanced: the bank's questions, in order of id, go in blocks
    of three, and in each block the right answers take the first three places in an order
    drawn for the person, so no place holds the right answer much more often than another.
    The wrong answers are shuffled around it.
    """
    import getpass
    import hashlib
    import random

    if person is None:
        try:
            person = getpass.getuser()
        except Exception:  # no user name at all (some containers)
            person = ""

    def draw(*parts) -> random.Random:
        key = "\0".join(str(part) for part in (person, *parts))
        return random.Random(hashlib.sha256(key.encode()).digest())

    ids = sorted(_bank())
    index = ids.index(question_id) if question_id in ids else 0
    places = [0, 1, 2]
    draw("block", index // 3).shuffle(places)
    right = places[index % 3] % count
    wrong = list(range(1, count))
    draw("options", question_id).shuffle(wrong)
    return wrong[:right] + [0] + wrong[right:]
