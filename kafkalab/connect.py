"""Kafka Connect from a notebook: a standalone worker that runs the MongoDB sink connector.

    sink = kafkalab.start_mongo_sink("personas", mongo, database="curso", collection="copia")
    sink.wait_until_caught_up()  # every message of the topic is in MongoDB
    sink.stop()

:func:`start_mongo_sink` writes the worker's properties (the cluster's bootstrap servers, a
file for source offsets, the plugin folder, converters, a REST listener on 127.0.0.1 with a
free port) and the connector's, runs ``connect-standalone.sh`` under kafkalab's guard (it
dies with the Python process that started it, even by SIGKILL, and with the cluster), and
returns once the worker's REST API reports the connector and its task RUNNING. The worker runs
on this machine with the course's Java, whatever runs the brokers: it needs only their
addresses and the MongoDB server's URI.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

from .distribution import ensure_connect, ensure_kafka
from .errors import ConnectError, KafkaLabError
from .kafka import Cluster
from .processes import (
    child_pid,
    free_ports,
    log_tail,
    owned_temp_dir,
    release_guarded,
    spawn_guarded,
    stop_guarded,
    sweep_orphaned_dirs,
)

__all__ = ["ConnectWorker", "start_mongo_sink", "MONGO_SINK_CONNECTOR"]

MONGO_SINK_CONNECTOR = "com.mongodb.kafka.connect.MongoSinkConnector"
TEMP_PREFIX = "kafkalab-connect-"
_ID_STRATEGIES = "com.mongodb.kafka.connect.sink.processor.id.strategy."
_HOIST_KEY = "org.apache.kafka.connect.transforms.HoistField$Key"

# Workers started here and not stopped yet: re-running a cell stops the worker of the same
# connector first, so that two never share its consumer group.
_running: weakref.WeakSet[ConnectWorker] = weakref.WeakSet()


class ConnectWorker:
    """A ``connect-standalone.sh`` process running one connector; see :func:`start_mongo_sink`.

    Attributes:
        name: the connector's name (its consumer group is ``connect-<name>``).
        topics: the topics it reads.
        rest_url: the worker's REST API, ``http://127.0.0.1:PORT``.
        folder: the worker's folder (properties, offsets file, ``connect.log``), deleted by
            :meth:`stop`.
        worker_file, connector_file: the two properties files ``connect-standalone.sh`` reads.
    """

    def __init__(self, name: str, topics: list[str], cluster: Cluster, folder: Path, port: int):
        self.name = name
        self.topics = topics
        self.cluster = cluster
        self.folder = folder
        self.rest_url = f"http://127.0.0.1:{port}"
        self.worker_file = folder / "connect-standalone.properties"
        self.connector_file = folder / f"{name}.properties"
        self._process = None
        self._processes: list = []
        self._finalizer = weakref.finalize(self, release_guarded, self._processes, folder)

    # --- reading the worker ---------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.folder / "connect.log"

    @property
    def pid(self) -> int | None:
        """Process id of the worker's JVM (the guard's child), where /proc tells it."""
        return child_pid(self._process)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the worker's log, without Java stack frames."""
        kept = [line for line in log_tail(self.log_file, 400).splitlines() if "\tat " not in line]
        return "\n".join(kept[-lines:])

    def rest(self, path: str, timeout: float = 5):
        """``GET`` on the worker's REST API: the decoded JSON answer.

        Raises ConnectError when the worker does not answer or answers with an error."""
        try:
            with urllib.request.urlopen(f"{self.rest_url}{path}", timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            said = error.read().decode(errors="replace")
            raise ConnectError(
                f"La API REST de Kafka Connect respondió {error.code} a GET {path}: {said}"
            ) from None
        except (OSError, ValueError) as error:
            raise ConnectError(
                f"La API REST de Kafka Connect ({self.rest_url}) no responde: {error}"
            ) from None

    def status(self) -> dict:
        """``GET /connectors/<name>/status``: the state of the connector and of its tasks."""
        return self.rest(f"/connectors/{self.name}/status")

    def messages_done(self) -> tuple[int, int]:
        """``(messages the connector has committed, messages its topics hold)``, read from
        the cluster: its group's committed offsets and the partitions' start and end."""
        from kafka.admin import OffsetSpec
        from kafka.structs import TopicPartition

        from .readers import admin_client, group_offsets

        with admin_client(self.cluster.bootstrap_servers, client_id="kafkalab-connect") as admin:
            offsets = group_offsets(admin, f"connect-{self.name}", self.topics)
            starts = admin.list_partition_offsets(
                {TopicPartition(o.topic, o.partition): OffsetSpec.EARLIEST for o in offsets}
            )
        start = {(tp.topic, tp.partition): value.offset for tp, value in starts.items()}
        done = held = 0
        for entry in offsets:
            first = start.get((entry.topic, entry.partition), 0)
            held += max((entry.end or 0) - first, 0)
            if entry.committed is not None:
                done += max(entry.committed - first, 0)
        return done, held

    def wait_until_caught_up(self, timeout: float = 60) -> int:
        """Wait until the connector has written every message its topics hold now (its
        group's committed offsets reach the end of every partition); return how many.

        Raises ConnectError when the worker or its task fails, or after ``timeout`` s."""
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            state = self._states()
            if "FAILED" in state.values():
                raise ConnectError(self._failure_message())
            try:
                done, held = self.messages_done()
            except KafkaError:
                # The group's coordinator is still loading or moving: ask again.
                done, held = 0, None
            if held is not None and done >= held:
                return done
            if time.monotonic() > deadline:
                raise ConnectError(
                    f"El conector «{self.name}» ha escrito {done} de {held or '?'} mensajes en "
                    f"{timeout:g} s. Últimas líneas del registro de Kafka Connect:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.2)

    # --- starting and stopping ----------------------------------------------------------

    def _start(self, command: list[str], timeout: float) -> None:
        with open(self.log_file, "ab") as log:
            self._process = spawn_guarded(command, cleanup=self.folder, stdout=log, cwd=self.folder)
        self._processes.append(self._process)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                states = self._states()
            except ConnectError:
                states = {}  # the REST server is not up yet
            if "FAILED" in states.values():
                raise ConnectError(self._failure_message())
            if states and set(states.values()) == {"RUNNING"} and len(states) > 1:
                return
            if time.monotonic() > deadline:
                raise ConnectError(
                    f"Kafka Connect no tenía el conector «{self.name}» en marcha tras "
                    f"{timeout:g} s (estado: {states or 'sin respuesta'}). Puede que el "
                    "ordenador vaya muy cargado. Últimas líneas de su registro:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.2)

    def _states(self) -> dict[str, str]:
        """``{"connector": state, "task-0": state, ...}`` from the REST API."""
        status = self.status()
        states = {"connector": status["connector"]["state"]}
        for task in status.get("tasks", []):
            states[f"task-{task['id']}"] = task["state"]
        return states

    def _failure_message(self) -> str:
        status = self.status()
        traces = [status["connector"].get("trace", "")] + [
            task.get("trace", "") for task in status.get("tasks", [])
        ]
        trace = "\n".join(t for t in traces if t)
        # The deepest cause says what happened; the first line only that the task stopped.
        causes = [line for line in trace.splitlines() if line.startswith("Caused by: ")]
        lines = trace.strip().splitlines()
        said = causes[-1].removeprefix("Caused by: ") if causes else (lines[0] if lines else "")
        hint = ""
        if "Provided id strategy" in trace:
            hint = (
                "\nLos mensajes no traen lo que el _id necesita (¿mensajes sin clave?): prueba "
                "document_id='offset'."
            )
        elif "JsonConverter" in trace or "JsonParseException" in trace:
            hint = "\nEl valor de algún mensaje no es JSON: este conector espera JSON."
        return f"El conector «{self.name}» ha fallado: {said}{hint}"

    def _check_alive(self) -> None:
        if self._process is None:
            raise ConnectError(f"El conector «{self.name}» ya está parado.")
        code = self._process.poll()
        if code is not None:
            raise ConnectError(
                f"Kafka Connect terminó (código {code}). Últimas líneas de su registro:\n"
                f"{self.log_tail()}"
            )

    def stop(self, timeout: float = 30) -> None:
        """Stop the worker cleanly (SIGTERM: it stops the connector and commits its offsets;
        SIGKILL after ``timeout`` s) and delete its folder. Safe to call twice."""
        _running.discard(self)
        if self._process is not None:
            stop_guarded(self._process, timeout)
        self._finalizer()

    close = stop

    def __enter__(self) -> ConnectWorker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "en marcha" if self.running else "parado"
        return f"<ConnectWorker «{self.name}» {', '.join(self.topics)} {self.rest_url} {state}>"


def start_mongo_sink(
    topics: str | list[str],
    mongo,
    *,
    database: str = "curso",
    collection: str | None = None,
    document_id: str = "key",
    name: str | None = None,
    cluster: Cluster | None = None,
    timeout: float = 90,
    progress: bool = True,
) -> ConnectWorker:
    """Start Kafka Connect with the MongoDB sink connector: every message of ``topics`` (JSON,
    from the beginning) becomes a document of ``database.collection``.

    Args:
        topics: a topic or a list of topics.
        mongo: a :class:`kafkalab.Mongo`, or a MongoDB URI.
        database, collection: where the documents go (``collection`` default: the topic).
        document_id: what each document's ``_id`` is. ``"key"``: the message's key (a string,
            such as a DNI): one document per key, replaced by each newer message with that key.
            ``"offset"``: ``topic#partition#offset``, one document per message (for messages
            without a key). ``"value.FIELD"``: that field of the JSON value, like ``"key"``.
            Reading a message again never adds a document with any of them.
        name: the connector's name (default ``<first topic>-a-mongodb``); its consumer group
            is ``connect-<name>``.
        cluster: default the notebook's (:func:`kafkalab.start_cluster`).
        timeout: seconds to wait for the connector and its task to be RUNNING.
        progress: print a line when the worker is ready (and a bar while downloading).

    Raises:
        ConnectError: the worker died, the connector failed or did not start in time; the
            message says why, with the end of the worker's log.
        KafkaLabError: no cluster, no Java or Kafka on this machine, a wrong argument.
    """
    topics = [topics] if isinstance(topics, str) else list(topics)
    if not topics:
        raise KafkaLabError("Indica al menos un topic del que leer.")
    if cluster is None:
        from .notebook import current_cluster

        cluster = current_cluster()
    if cluster.closed:
        raise KafkaLabError(
            "Ese clúster ya está cerrado: arranca otro (kafkalab.start_cluster) y vuelve a "
            "ejecutar esta celda."
        )
    uri = mongo if isinstance(mongo, str) else mongo.uri
    name = name or f"{topics[0]}-a-mongodb"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise KafkaLabError(
            f"El nombre de conector «{name}» no vale: usa letras ASCII, dígitos, '.', '_' o '-'."
        )
    connector = {
        "name": name,
        "connector.class": MONGO_SINK_CONNECTOR,
        "tasks.max": "1",
        "topics": ",".join(topics),
        "connection.uri": uri,
        "database": database,
        "collection": collection or topics[0],
        **_id_settings(document_id),
    }
    for earlier in list(_running):
        if earlier.name == name:
            earlier.stop()
    distribution = cluster.distribution
    if distribution is None:
        try:
            distribution = ensure_kafka(progress=progress)
        except KafkaLabError as error:
            raise KafkaLabError(
                "Kafka Connect se ejecuta en este ordenador, con Java, aunque los brokers "
                f"estén en contenedores, y aquí no puede: {error}"
            ) from None
    plugins = ensure_connect(distribution, progress=progress)
    sweep_orphaned_dirs(TEMP_PREFIX)
    folder = owned_temp_dir(TEMP_PREFIX)
    (port,) = free_ports(1)
    worker_properties = {
        "bootstrap.servers": cluster.bootstrap_servers,
        # Keys are plain text (a DNI), values JSON without Connect's schema envelope.
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": folder / "connect.offsets",
        "offset.flush.interval.ms": "1000",  # a sink commits its offsets every second
        "plugin.path": plugins,
        "plugin.discovery": "service_load",
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
    }
    worker = ConnectWorker(name, topics, cluster, folder, port)
    worker.worker_file.write_text(_properties(worker_properties))
    worker.connector_file.write_text(_properties(connector))
    started = time.monotonic()
    command = [
        str(distribution.tool("connect-standalone.sh")),
        worker.worker_file.name,
        worker.connector_file.name,
    ]
    try:
        worker._start(command, timeout)
    except BaseException:
        worker.stop(timeout=5)
        raise
    cluster.on_close(worker.stop)
    if progress:
        print(
            f"Kafka Connect: conector «{name}» en marcha ({time.monotonic() - started:.1f} s): "
            f"{', '.join(topics)} → {database}.{connector['collection']}",
            file=sys.stdout,
            flush=True,
        )
    return worker


def _id_settings(document_id: str) -> dict[str, str]:
    """The connector settings that give each document the ``_id`` of ``document_id``."""
    if document_id == "offset":
        return {"document.id.strategy": _ID_STRATEGIES + "KafkaMetaDataStrategy"}
    hoist = {
        # The key, a string, becomes {"_id": key}; the strategy takes _id from there.
        "transforms.idEnLaClave.type": _HOIST_KEY,
        "transforms.idEnLaClave.field": "_id",
        "document.id.strategy": _ID_STRATEGIES + "ProvidedInKeyStrategy",
    }
    if document_id == "key":
        return {"transforms": "idEnLaClave", **hoist}
    if document_id.startswith("value.") and len(document_id) > len("value."):
        field = document_id.removeprefix("value.")
        return {
            "transforms": "campoAClave,soloElCampo,idEnLaClave",
            "transforms.campoAClave.type": "org.apache.kafka.connect.transforms.ValueToKey",
            "transforms.campoAClave.fields": field,
            "transforms.soloElCampo.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
            "transforms.soloElCampo.field": field,
            **hoist,
        }
    raise KafkaLabError(
        f"document_id={document_id!r} no vale: usa 'key' (la clave del mensaje), 'offset' "
        "(topic#partición#offset) o 'value.CAMPO' (un campo del JSON)."
    )


def _properties(values: dict[str, object]) -> str:
    """A Java .properties file (backslashes and the characters it gives meaning escaped)."""
    lines = []
    for key, value in values.items():
        text = str(value).replace("\\", "\\\\")
        lines.append(f"{key}={text}\n")
    return "".join(lines)
