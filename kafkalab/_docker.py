"""The docker backend: Kafka brokers and MongoDB in containers, started with Testcontainers.

``Cluster.start(brokers, backend="docker")`` and ``Mongo.start(backend="docker")`` land here.
Nothing runs on this machine but the containers: no Java and no Kafka jars are needed.
When this machine has them anyway (Java 17+ and the jars kafkalab already downloaded), the
cluster's ``distribution`` is that local Kafka, so that a notebook's ``!kafka-topics.sh`` and
``kafkalab.watch_consumers`` run the CLI here against the published ports, as with the
local backend; otherwise ``distribution`` is None and only ``run()`` (inside a container) is
there.

Each broker is a container of the ``apache/kafka`` image (``$KAFKALAB_KAFKA_IMAGE`` or
``apache/kafka:<version>``) on one Docker network, started with the image's own launch
scripts (``/opt/kafka/bin/kafka-storage.sh`` and ``kafka-server-start.sh``) and a
``server.properties`` written by kafkalab, so it works with the official image and any image
with its layout. Every broker has three listeners:

* ``INTERNAL``: ``kafka-N:19092`` on the Docker network, between brokers and for the CLI,
  which runs inside a broker container (``docker exec``);
* ``EXTERNAL``: container port 9092, published on ``127.0.0.1:<host port>`` only and
  advertised with that address, for clients on this machine;
* ``CONTROLLER``: ``kafka-N:9093``, the KRaft quorum (nodes 1-3, or node 1 alone).

Testcontainers' Ryuk removes the containers and the network when the Python process that
started them ends, even by SIGKILL (a killed Jupyter kernel); ``TESTCONTAINERS_RYUK_DISABLED
=true`` turns that off. Its port is published on 127.0.0.1 only, like everything here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import (
    _STATE_ES,
    CONTROLLERS_FROM,
    MAX_BROKERS,
    CommandResult,
    _free_ports,
    _random_cluster_id,
)
from .distribution import BROKER_JVM_OPTIONS, DEFAULT_KAFKA_VERSION, TOOL_JVM_OPTIONS, TOOLS
from .errors import (
    BrokerStartError,
    CommandError,
    KafkaLabError,
    UnknownBrokerError,
    explain_kafka_output,
)

__all__ = ["DockerCluster", "DockerBroker", "DockerMongo", "DockerUnavailableError"]

KAFKA_IMAGE_ENV = "KAFKALAB_KAFKA_IMAGE"
MONGO_IMAGE_ENV = "KAFKALAB_MONGO_IMAGE"
DEFAULT_MONGO_IMAGE = "mongo:7"
LABEL = "org.kafkalab.owner"  # the org.testcontainers.* labels are testcontainers' own

INTERNAL_PORT = 19092
EXTERNAL_PORT = 9092
CONTROLLER_PORT = 9093
KAFKA_BIN = "/opt/kafka/bin"
CONFIG_FILE = "/opt/kafka/config/kafkalab.properties"
DATA_DIR = "/var/lib/kafka/data"  # a volume in the official image
CLASS_ARCHIVE = "/opt/kafka/kafka.jsa"
MONGO_PORT = 27017
_START_ATTEMPTS = 3  # a free host port can be taken by another program before Docker binds it

# A class data sharing archive where the image has one (the official image and ours do):
# JVMs map Kafka's classes from it instead of loading them from the jars.
_CLASS_SHARING = f"""\
if [ -f {CLASS_ARCHIVE} ]; then
  KAFKA_JVM_PERFORMANCE_OPTS="$KAFKA_JVM_PERFORMANCE_OPTS -XX:SharedArchiveFile={CLASS_ARCHIVE} \
-Xlog:cds=off -Xlog:cds+dynamic=off"
  export KAFKA_JVM_PERFORMANCE_OPTS
fi
"""

# The server.properties comes in an environment variable; formatting is skipped on a restart.
_BROKER_SCRIPT = f"""\
set -e
{_CLASS_SHARING}printf '%s\\n' "$KAFKALAB_SERVER_PROPERTIES" > {CONFIG_FILE}
{KAFKA_BIN}/kafka-storage.sh format --ignore-formatted --cluster-id "$KAFKALAB_CLUSTER_ID" \\
  --config {CONFIG_FILE}
exec {KAFKA_BIN}/kafka-server-start.sh {CONFIG_FILE}
"""

# How `run()` starts a tool: "sh -c _TOOL_SCRIPT sh TOOL ARGS...".
_TOOL_SCRIPT = _CLASS_SHARING + 'exec "$@"\n'

# Kill what a timed-out `run()` left running in the container: docker exec has no kill.
_KILL_SCRIPT = """\
for process in /proc/[0-9]*; do
  if tr '\\0' '\\n' < "$process/environ" 2>/dev/null | grep -qx "KAFKALAB_RUN=$1"; then
    kill -9 "${process#/proc/}" 2>/dev/null
  fi
done
true
"""


def _jvm_environment(options: Sequence[str]) -> dict[str, str]:
    """kafka-run-class.sh variables for kafkalab's JVM options (the same as the local backend)."""
    heap = [option for option in options if option.startswith(("-Xms", "-Xmx"))]
    other = [option for option in options if option not in heap]
    return {"KAFKA_HEAP_OPTS": " ".join(heap), "KAFKA_JVM_PERFORMANCE_OPTS": " ".join(other)}


class DockerUnavailableError(KafkaLabError):
    title = "Docker no disponible"


def docker_client():
    """Testcontainers' client for the Docker engine, or a Spanish error when none answers."""
    from testcontainers.core.docker_client import DockerClient

    try:
        client = DockerClient()
        client.client.ping()
    except Exception as error:  # docker-py raises DockerException, requests' and OS errors
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerUnavailableError(
            f"Has pedido el backend «docker», pero ningún motor de Docker responde en {where}. "
            "Arranca Docker (Docker Desktop, o «sudo systemctl start docker» en Linux) y "
            "comprueba que «docker info» funciona; o usa backend='local', que arranca Kafka "
            f"en este ordenador sin Docker.\nDetalle: {_first_line(error)}"
        ) from None
    return client


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _start_reaper(client) -> None:
    """Start testcontainers' Ryuk once per process, with its port on 127.0.0.1 only.

    Testcontainers would publish Ryuk's port on every interface; otherwise this does what
    its ``Reaper`` does (testcontainers 4.15): Ryuk learns this session's label and removes
    everything carrying it once our connection closes, that is when this process ends.
    """
    from testcontainers.core.config import testcontainers_config as config
    from testcontainers.core.container import DockerContainer, Reaper
    from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

    if config.ryuk_disabled or Reaper._instance is not None:
        return
    ryuk = (
        DockerContainer(config.ryuk_image)
        .with_name(f"testcontainers-ryuk-{SESSION_ID}")
        .with_volume_mapping(config.ryuk_docker_socket, "/var/run/docker.sock", "rw")
        .with_kwargs(privileged=config.ryuk_privileged, auto_remove=True)
        .with_env("RYUK_RECONNECTION_TIMEOUT", config.ryuk_reconnection_timeout)
    )
    ryuk.ports["8080/tcp"] = ("127.0.0.1",)  # docker-py: this address, any free port
    _ensure_image(client, config.ryuk_image)
    Reaper._container = ryuk
    try:
        ryuk.start()
        port = int(ryuk.get_exposed_port(8080))
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=2)
                connection.sendall(f"label={LABEL_SESSION_ID}={SESSION_ID}\r\n".encode())
                # Ryuk acknowledges the label: from then on nothing of ours can be orphaned.
                if connection.recv(4).startswith(b"ACK"):
                    break
                connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DockerUnavailableError(
                    f"Ryuk ({config.ryuk_image}), el contenedor que borra los contenedores "
                    "huérfanos, no respondió. Últimas líneas de su registro:\n"
                    + _container_log_tail(ryuk)
                )
            time.sleep(0.2)
    except BaseException:
        Reaper.delete_instance()
        raise
    connection.settimeout(None)
    Reaper._socket = connection
    Reaper._instance = Reaper()
    atexit.register(Reaper.delete_instance)


def _ensure_image(client, image: str, *, progress: bool = False) -> None:
    """Pull ``image`` unless this Docker has it, with a Spanish error when that fails (no
    registry, or a typo in the image name)."""
    import docker.errors

    try:
        client.client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    if progress:
        print(f"Descargando la imagen {image} (solo la primera vez)...", file=sys.stderr)
    try:
        client.client.images.pull(image)
    except docker.errors.APIError as error:
        raise DockerUnavailableError(
            f"La imagen «{image}» no está en este Docker y no se pudo descargar: "
            f"{_first_line(error)}\nComprueba el nombre y la conexión con el registro de "
            "imágenes. Sin conexión, images/build.sh de este repositorio construye imágenes "
            "equivalentes en local."
        ) from None


def _container_log_tail(container, lines: int = 30) -> str:
    with contextlib.suppress(Exception):
        wrapped = container.get_wrapped_container()
        text = wrapped.logs(tail=lines).decode(errors="replace").strip()
        if text:
            return text
    return "(sin registros)"


def _remove_containers(containers: list, network) -> None:
    """Remove containers (and their anonymous volumes) and the network. Also at exit."""
    for container in containers:
        with contextlib.suppress(Exception):
            container.get_wrapped_container().remove(force=True, v=True)
    if network is not None:
        with contextlib.suppress(Exception):
            network.remove()


@dataclass
class DockerBroker:
    """One Kafka node in a container: a broker, and a controller too when ``controller``."""

    node_id: int
    port: int  # host port of the EXTERNAL listener, on 127.0.0.1
    controller: bool
    alias: str  # the container's name on the Docker network
    state: str = "new"
    container: object = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """Address for clients on this machine: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def internal_address(self) -> str:
        """Address on the Docker network, for the CLI run inside the containers."""
        return f"{self.alias}:{INTERNAL_PORT}"

    @property
    def container_id(self) -> str | None:
        return None if self.container is None else self.container.get_container_id()

    def container_status(self) -> str:
        """Docker's status of the container: ``running``, ``exited``..."""
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        return wrapped.status

    def log_tail(self, lines: int = 30) -> str:
        return _container_log_tail(self.container, lines)

    def exit_code(self) -> int | None:
        """The container's exit code if it has ended (crashed or killed), else None."""
        if self.container is None:
            return None
        try:
            wrapped = self.container.get_wrapped_container()
            wrapped.reload()
        except Exception:  # removed (cluster closed) or Docker gone: nothing to report
            return None
        if wrapped.status in ("exited", "dead"):
            return int(wrapped.attrs["State"]["ExitCode"])
        return None


def _host_distribution(version: str):
    """This machine's Kafka CLI for ``version`` when Java 17+ and its jars are already here
    (never downloads: the docker backend must work without them), else None."""
    from .distribution import LOCK_DIR, Lock, cache_root, ensure_kafka
    from .java import find_java

    try:
        find_java()
        if not os.environ.get("KAFKA_HOME"):
            lock_path = LOCK_DIR / f"kafka-{version}.json"
            if not lock_path.exists():
                return None
            lock = Lock.load(lock_path)
            libs = cache_root() / f"kafka-{lock.kafka_version}" / "libs"
            if not all((libs / jar.file_name).exists() for jar in lock.jars):
                return None
        return ensure_kafka(version, progress=False)
    except (KafkaLabError, OSError, ValueError):
        return None


class DockerCluster:
    """A real Apache Kafka cluster in KRaft mode, one Docker container per node.

    Same API as :class:`kafkalab.Cluster`; start it with ``Cluster.start(brokers,
    backend="docker")`` (or ``$KAFKALAB_BACKEND=docker``)::

        from kafkalab import Cluster
        with Cluster.start(brokers=3, backend="docker") as cluster:
            print(cluster.bootstrap_servers)  # 127.0.0.1:PORT,... for clients here
            cluster.run("kafka-topics.sh --create --topic pedidos --partitions 3")
            cluster.stop_broker(2)
            cluster.start_broker(2)

    ``run()`` executes the Kafka CLI inside a broker container against the brokers' addresses
    on the Docker network.
    """

    def __init__(self, client, image: str, version: str, cluster_id: str, network):
        self.backend = "docker"
        self.image = image
        self.kafka_version = version
        self.cluster_id = cluster_id
        # The host's Kafka CLI for `!kafka-topics.sh` and live consumers, when there is one.
        self.distribution = None
        self._client = client
        self._network = network
        self._brokers: dict[int, DockerBroker] = {}
        self._containers: list = []
        self._closed = False
        self._finalizer = weakref.finalize(self, _remove_containers, self._containers, network)

    # --- starting -----------------------------------------------------------------

    @classmethod
    def start(
        cls,
        brokers: int = 1,
        *,
        image: str | None = None,
        kafka_version: str | None = None,
        broker_config: dict[str, object] | None = None,
        progress: bool = True,
        timeout: float = 90,
    ) -> DockerCluster:
        """Start the containers and return once every broker is registered.

        Args:
            brokers: number of brokers, 1 to 5.
            image: Kafka image; default ``$KAFKALAB_KAFKA_IMAGE`` or
                ``apache/kafka:<kafka_version>``.
            kafka_version: default ``$KAFKA_VERSION`` or the newest locked version.
            broker_config: extra ``server.properties`` entries for every broker.
            progress: show progress while the brokers start.
            timeout: seconds to wait for the brokers.

        Raises:
            DockerUnavailableError: no Docker engine answers, or the image cannot be had.
            BrokerStartError: a broker died or did not come up; the message has its log.
        """
        if not 1 <= brokers <= MAX_BROKERS:
            raise KafkaLabError(
                f"Un clúster de kafkalab tiene de 1 a {MAX_BROKERS} brokers; has pedido {brokers}."
            )
        version = kafka_version or os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
        image = image or os.environ.get(KAFKA_IMAGE_ENV) or f"apache/kafka:{version}"
        client = docker_client()
        _ensure_image(client, image, progress=progress)
        _start_reaper(client)
        from testcontainers.core.network import Network

        cluster_id = _random_cluster_id()
        network = Network(docker_network_kw={"labels": {LABEL: cluster_id}}).create()
        cluster = cls(client, image, version, cluster_id, network)
        controllers = 3 if brokers >= CONTROLLERS_FROM else 1
        ports = _free_ports(brokers)
        for index in range(brokers):
            node_id = index + 1
            cluster._brokers[node_id] = DockerBroker(
                node_id=node_id,
                port=ports[index],
                controller=index < controllers,
                alias=f"kafka-{node_id}",
            )
        try:
            # In parallel: each container takes a few hundred milliseconds of Docker's time.
            with ThreadPoolExecutor(brokers) as pool:
                for future in [
                    pool.submit(cluster._create, broker, broker_config or {})
                    for broker in cluster.brokers
                ]:
                    future.result()
            cluster._wait_until_registered(cluster.brokers, timeout=timeout, progress=progress)
        except BaseException:
            cluster.close()
            raise
        cluster.distribution = _host_distribution(version)
        if cluster.distribution is not None:
            # As the local backend: `!kafka-topics.sh` in a notebook finds the tools here.
            os.environ.update(cluster.distribution.tool_environment())
        os.environ["KAFKALAB_BOOTSTRAP_SERVER"] = cluster.bootstrap_servers
        return cluster

    def _server_properties(self, broker: DockerBroker, extra: dict[str, object]) -> str:
        voters = ",".join(
            f"{b.node_id}@{b.alias}:{CONTROLLER_PORT}" for b in self.brokers if b.controller
        )
        count = len(self._brokers)
        listeners = f"INTERNAL://:{INTERNAL_PORT},EXTERNAL://:{EXTERNAL_PORT}"
        if broker.controller:
            listeners += f",CONTROLLER://:{CONTROLLER_PORT}"
        config: dict[str, object] = {
            "process.roles": "broker,controller" if broker.controller else "broker",
            "node.id": broker.node_id,
            "controller.quorum.voters": voters,
            "listeners": listeners,
            "advertised.listeners": (
                f"INTERNAL://{broker.internal_address},EXTERNAL://{broker.address}"
            ),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "log.dirs": DATA_DIR,
            "num.partitions": 1,
            "default.replication.factor": 1,
            # Internal topics can only be as replicated as there are brokers.
            "offsets.topic.replication.factor": min(3, count),
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": min(3, count),
            "transaction.state.log.min.isr": min(2, count),
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": min(3, count),
            "share.coordinator.state.topic.min.isr": min(2, count),
            # As the local backend: failover and group joins show in seconds, not tens.
            "group.initial.rebalance.delay.ms": 0,
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 6000,
            "controller.quorum.election.timeout.ms": 500,
            "controller.quorum.election.backoff.max.ms": 500,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "log.cleaner.threads": 1,
            "log.cleaner.dedupe.buffer.size": 4 * 1024 * 1024,
        }
        config.update(extra)
        return "".join(f"{key}={value}\n" for key, value in config.items())

    def _create(self, broker: DockerBroker, extra: dict[str, object]) -> None:
        """Create and start the broker's container, on another host port if its was taken."""
        import docker.errors
        from testcontainers.core.container import DockerContainer

        for attempt in range(_START_ATTEMPTS):
            container = (
                DockerContainer(self.image)
                .with_name(f"kafkalab-{self.cluster_id[:8].lower()}-{broker.alias}")
                .with_network(self._network)
                .with_network_aliases(broker.alias)
                .with_command(["sh", "-c", _BROKER_SCRIPT])
                .with_envs(
                    KAFKALAB_SERVER_PROPERTIES=self._server_properties(broker, extra),
                    KAFKALAB_CLUSTER_ID=self.cluster_id,
                    **_jvm_environment(BROKER_JVM_OPTIONS),
                )
                .with_kwargs(labels={LABEL: self.cluster_id}, hostname=broker.alias)
            )
            container.ports[f"{EXTERNAL_PORT}/tcp"] = ("127.0.0.1", broker.port)
            self._containers.append(container)
            broker.container = container
            try:
                container.start()
            except docker.errors.APIError as error:
                taken = "already allocated" in str(error) or "address already in use" in str(error)
                _remove_containers([container], None)
                self._containers.remove(container)
                if not taken or attempt == _START_ATTEMPTS - 1:
                    broker.state = "failed"
                    raise BrokerStartError(
                        f"Docker no pudo arrancar el contenedor del broker {broker.node_id}: "
                        f"{_first_line(error)}"
                    ) from None
                (broker.port,) = _free_ports(1)
                continue
            broker.state = "starting"
            return

    def _wait_until_registered(
        self, brokers: list[DockerBroker], *, timeout: float, progress: bool
    ) -> None:
        deadline = time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=len(brokers), desc="Arrancando brokers de Kafka (Docker)", unit="broker"
            )
        try:
            waiting = {broker.node_id for broker in brokers}
            while waiting:
                for node_id in waiting:
                    self._raise_if_exited(self._brokers[node_id])
                registered = _registered_broker_ids(self._reachable_addresses()) & waiting
                for node_id in registered:
                    self._brokers[node_id].state = "running"
                    if bar is not None:
                        bar.update(1)
                waiting -= registered
                if not waiting:
                    break
                if time.monotonic() > deadline:
                    late = self._brokers[min(waiting)]
                    raise BrokerStartError(
                        f"El broker {late.node_id} no estaba listo tras {timeout:.0f} s. "
                        "Puede que el ordenador vaya muy cargado: cierra otros notebooks y "
                        f"vuelve a intentarlo. Últimas líneas de su registro:\n{late.log_tail()}"
                    )
                time.sleep(0.2)
        finally:
            if bar is not None:
                bar.close()

    def _raise_if_exited(self, broker: DockerBroker) -> None:
        wrapped = broker.container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status in ("exited", "dead"):
            broker.state = "failed"
            code = wrapped.attrs["State"]["ExitCode"]
            raise BrokerStartError(
                f"El broker {broker.node_id} terminó al arrancar (código {code}). Últimas "
                f"líneas de su registro:\n{broker.log_tail()}"
            )

    def _reachable_addresses(self) -> list[str]:
        return [b.address for b in self.brokers if b.state in ("starting", "running")]

    # --- using --------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Addresses of all brokers for clients on this machine, ``"127.0.0.1:PORT,..."``."""
        return ",".join(broker.address for broker in self._brokers.values())

    @property
    def internal_bootstrap_servers(self) -> str:
        """Addresses of the running brokers on the Docker network (``kafka-1:19092,...``)."""
        return ",".join(b.internal_address for b in self.brokers if b.state == "running")

    @property
    def brokers(self) -> list[DockerBroker]:
        return list(self._brokers.values())

    @property
    def closed(self) -> bool:
        return self._closed

    def broker(self, node_id: int) -> DockerBroker:
        try:
            return self._brokers[node_id]
        except KeyError:
            known = ", ".join(str(i) for i in self._brokers)
            raise UnknownBrokerError(
                f"No existe el broker {node_id!r} en este clúster. Sus brokers son: {known}."
            ) from None

    def run(
        self,
        command: str | Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> CommandResult:
        """Run a Kafka command line tool inside a broker container, against this cluster.

        ``--bootstrap-server`` (the brokers' addresses on the Docker network) is added when
        the tool takes it and the command lacks it.

        Args:
            command: e.g. ``"kafka-topics.sh --describe --topic t"`` (a string is split as
                a shell would) or a list of arguments.
            input: text for the tool's standard input (the console producer's lines).
            timeout: seconds before the tool is stopped.
            check: raise :class:`CommandError` when the tool fails.

        Returns:
            A :class:`CommandResult` with ``stdout``, ``stderr`` and ``returncode``.
        """
        self._require_open()
        args = shlex.split(command) if isinstance(command, str) else list(command)
        if not args:
            raise KafkaLabError(
                "El comando está vacío: escribe, por ejemplo, kafka-topics.sh --list."
            )
        tool = Path(args[0]).name
        if not tool.endswith(".sh"):
            tool += ".sh"
        if tool not in TOOLS:
            known = ", ".join(sorted(TOOLS))
            raise KafkaLabError(
                f"No conozco la herramienta «{tool}». Las disponibles son: {known}."
            )
        running = [b for b in self.brokers if b.state == "running"]
        if not running:
            raise KafkaLabError(
                "No hay ningún broker en marcha donde ejecutar la herramienta. Arranca uno con "
                "cluster.start_broker(ID)."
            )
        if TOOLS[tool][1] and not any(
            a.startswith(("--bootstrap-server", "--bootstrap-controller")) for a in args
        ):
            # First, so that tools with subcommands (kafka-metadata-quorum.sh) accept it too.
            args[1:1] = ["--bootstrap-server", self.internal_bootstrap_servers]
        returncode, stdout, stderr = self._exec(
            running[0],
            ["sh", "-c", _TOOL_SCRIPT, "sh", f"{KAFKA_BIN}/{tool}", *args[1:]],
            input=input,
            timeout=timeout,
        )
        if returncode is None:
            raise CommandError(
                f"{tool} no terminó en {timeout:g} s y se ha detenido. Un consumidor de consola "
                "espera mensajes para siempre: añade --max-messages N o --timeout-ms MS.",
                CommandResult(args, -1, stdout, stderr),
            )
        result = CommandResult(args, returncode, stdout, stderr)
        if check and returncode != 0:
            explanation = explain_kafka_output(result.output)
            lines = [line for line in result.output.splitlines() if not line.startswith("\tat ")]
            tail = "\n".join(lines[-12:]).strip()
            raise CommandError(
                f"{tool} terminó con código {returncode}.\n"
                + (f"{explanation}\n" if explanation else "")
                + f"Salida de Kafka:\n{tail}",
                result,
            )
        return result

    def _exec(
        self, broker: DockerBroker, command: list[str], *, input: str | None, timeout: float
    ) -> tuple[int | None, str, str]:
        """``docker exec`` with standard input and a time limit; ``None`` as the exit code
        when the limit was reached (the process is then killed inside the container)."""
        from docker.utils.socket import frames_iter

        api = self._client.client.api
        marker = uuid.uuid4().hex
        environment = {**_jvm_environment(TOOL_JVM_OPTIONS), "KAFKALAB_RUN": marker}
        exec_id = api.exec_create(
            broker.container_id,
            command,
            stdin=input is not None,
            stdout=True,
            stderr=True,
            environment=environment,
        )["Id"]
        stream = api.exec_start(exec_id, socket=True)
        raw = getattr(stream, "_sock", stream)
        output: dict[int, list[bytes]] = {1: [], 2: []}

        def pump() -> None:
            with contextlib.suppress(OSError):
                if input is not None:
                    raw.sendall(input.encode())
                    raw.shutdown(socket.SHUT_WR)  # end of input, as a closed pipe
                for kind, data in frames_iter(stream, tty=False):
                    output.setdefault(kind, []).append(data)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        reader.join(timeout)
        finished = not reader.is_alive()
        if not finished:
            self._kill_marked(broker, marker)
            reader.join(10)
        with contextlib.suppress(OSError):
            raw.close()
        stdout = b"".join(output[1]).decode(errors="replace")
        stderr = b"".join(output[2]).decode(errors="replace")
        if not finished:
            return None, stdout, stderr
        deadline = time.monotonic() + 5
        while True:
            state = api.exec_inspect(exec_id)
            if not state["Running"] or time.monotonic() > deadline:
                return state["ExitCode"], stdout, stderr
            time.sleep(0.02)

    def _kill_marked(self, broker: DockerBroker, marker: str) -> None:
        with contextlib.suppress(Exception):
            broker.container.get_wrapped_container().exec_run(
                ["sh", "-c", _KILL_SCRIPT, "sh", marker]
            )

    # --- failures on purpose ------------------------------------------------------------

    def stop_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Stop a broker cleanly (``docker stop``: it hands over its leaderships first)."""
        broker = self._running(node_id)
        broker.container.get_wrapped_container().stop(timeout=int(timeout))
        broker.state = "stopped"

    def kill_broker(self, node_id: int) -> None:
        """Kill a broker at once (``docker kill``: SIGKILL), as a crash would."""
        broker = self._running(node_id)
        wrapped = broker.container.get_wrapped_container()
        wrapped.kill()
        wrapped.wait(timeout=30)
        broker.state = "killed"

    def start_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Start a stopped or killed broker's container again; wait until it is registered."""
        self._require_open()
        broker = self.broker(node_id)
        if broker.container_status() == "running":
            return
        broker.container.get_wrapped_container().start()
        broker.state = "starting"
        try:
            self._wait_until_registered([broker], timeout=timeout, progress=False)
        except BrokerStartError:
            with contextlib.suppress(Exception):
                broker.container.get_wrapped_container().kill()
            broker.state = "failed"
            raise

    def _running(self, node_id: int) -> DockerBroker:
        self._require_open()
        broker = self.broker(node_id)
        if broker.container_status() != "running":
            raise KafkaLabError(
                f"El broker {node_id} no está en marcha (estado: {_STATE_ES[broker.state]}). "
                f"Arráncalo con cluster.start_broker({node_id})."
            )
        return broker

    # --- ending -------------------------------------------------------------------

    def close(self) -> None:
        """Remove every container, its data and the network. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()
        for broker in self.brokers:
            broker.state = "stopped"
        if os.environ.get("KAFKALAB_BOOTSTRAP_SERVER") == self.bootstrap_servers:
            del os.environ["KAFKALAB_BOOTSTRAP_SERVER"]

    def _require_open(self) -> None:
        if self._closed:
            raise KafkaLabError("Este clúster ya está cerrado: arranca otro con Cluster.start().")

    def __enter__(self) -> DockerCluster:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<Cluster docker Kafka {self.kafka_version}: cerrado>"
        nodes = ", ".join(
            f"{b.node_id}{'*' if b.controller else ''}@{b.port} {_STATE_ES[b.state]}"
            for b in self.brokers
        )
        return (
            f"<Cluster docker Kafka {self.kafka_version} ({self.image}) "
            f"bootstrap={self.bootstrap_servers} brokers=[{nodes}] (*: controlador)>"
        )


def _registered_broker_ids(addresses: list[str]) -> set[int]:
    """Ids of brokers that a client sees in the cluster metadata (unfenced, serving)."""
    if not addresses:
        return set()
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=addresses,
            client_id="kafkalab-ready",
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
        )
        try:
            described = admin.describe_cluster()
        finally:
            admin.close()
    except (KafkaError, OSError):
        return set()  # not up yet: the next poll asks again
    return {b["broker_id"] for b in described["brokers"] if not b.get("is_fenced")}


class DockerMongo:
    """A MongoDB server in a container (``$KAFKALAB_MONGO_IMAGE`` or ``mongo:7``).

    Same API as :class:`kafkalab.Mongo`; start it with ``Mongo.start(backend="docker")``.
    Its port is published on 127.0.0.1 only; Ryuk removes it if this process dies.
    """

    def __init__(self, client, image: str):
        self.backend = "docker"
        self.server = image
        self.port: int | None = None
        self._client = client
        self._container = None
        self._containers: list = []
        self._clients: weakref.WeakSet = weakref.WeakSet()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_mongo, self._clients, self._containers)

    @classmethod
    def start(
        cls, *, image: str | None = None, timeout: float = 60, progress: bool = True
    ) -> DockerMongo:
        """Start the container and return once the server answers ``ping``.

        Args:
            image: default ``$KAFKALAB_MONGO_IMAGE`` or ``mongo:7``.
            timeout: seconds to wait for the server to answer.
            progress: say so while the image is downloaded (the first time only).

        Raises:
            DockerUnavailableError: no Docker engine answers, or the image cannot be had.
            MongoStartError: the server died or did not answer; the message has its log.
        """
        from testcontainers.core.container import DockerContainer

        client = docker_client()
        mongo = cls(client, image or os.environ.get(MONGO_IMAGE_ENV) or DEFAULT_MONGO_IMAGE)
        _ensure_image(client, mongo.server, progress=progress)
        _start_reaper(client)
        container = DockerContainer(mongo.server).with_kwargs(labels={LABEL: "mongo"})
        container.ports[f"{MONGO_PORT}/tcp"] = ("127.0.0.1",)
        mongo._container = container
        mongo._containers.append(container)
        try:
            container.start()
            mongo.port = int(container.get_exposed_port(MONGO_PORT))
            mongo._wait_until_ready(timeout)
        except BaseException:
            mongo.close()
            raise
        return mongo

    def _wait_until_ready(self, timeout: float) -> None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        from .mongo import MongoStartError

        deadline = time.monotonic() + timeout
        probe = MongoClient(self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            while True:
                wrapped = self._container.get_wrapped_container()
                wrapped.reload()
                if wrapped.status in ("exited", "dead"):
                    raise MongoStartError(
                        f"El contenedor de {self.server} terminó al arrancar (código "
                        f"{wrapped.attrs['State']['ExitCode']}). Últimas líneas de su "
                        f"registro:\n{self.log_tail()}"
                    )
                with contextlib.suppress(PyMongoError):
                    probe.admin.command("ping")
                    return
                if time.monotonic() > deadline:
                    raise MongoStartError(
                        f"{self.server} no respondía tras {timeout:.0f} s. Últimas líneas de "
                        f"su registro:\n{self.log_tail()}"
                    )
                time.sleep(0.1)
        finally:
            probe.close()

    @property
    def uri(self) -> str:
        """Connection string, ``"mongodb://127.0.0.1:PORT/"``."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, **options):
        """A :class:`pymongo.MongoClient` with short timeouts (see :meth:`Mongo.client`)."""
        from pymongo import MongoClient

        from .mongo import _CLIENT_TIMEOUTS, MongoError

        if self._closed:
            raise MongoError("Este MongoDB ya está cerrado: arranca otro con Mongo.start().")
        client = MongoClient(self.uri, **{**_CLIENT_TIMEOUTS, **options})
        self._clients.add(client)
        return client

    @property
    def container_id(self) -> str | None:
        return None if self._container is None else self._container.get_container_id()

    def log_tail(self, lines: int = 30) -> str:
        return _container_log_tail(self._container, lines)

    def close(self) -> None:
        """Close our clients and remove the container with its data. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    def __enter__(self) -> DockerMongo:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<Mongo docker {self.server}: cerrado>"
        return f"<Mongo docker {self.server} uri={self.uri} en marcha>"


def _close_mongo(clients, containers: list) -> None:
    for client in list(clients):
        with contextlib.suppress(Exception):
            client.close()
    _remove_containers(containers, None)
