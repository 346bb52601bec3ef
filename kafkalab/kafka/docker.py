"""The docker backend: each Kafka node is a container of the ``apache/kafka`` image.

Nothing runs on this machine but the containers: no Java and no Kafka jars are needed. When
this machine has them anyway (Java 17+ and the jars kafkalab already downloaded), the
cluster's ``distribution`` is that local Kafka, so that a notebook's ``!kafka-topics.sh`` and
``kafkalab.watch_consumers`` run the CLI here against the published ports, as with the
local backend; otherwise ``distribution`` is None and only ``run()`` (inside a container) is
there.

Each broker is a container of ``$KAFKALAB_KAFKA_IMAGE`` or ``apache/kafka:<version>`` on one
Docker network, started with the image's own launch scripts (``/opt/kafka/bin/kafka-storage.sh``
and ``kafka-server-start.sh``) and a ``server.properties`` written by kafkalab, so it works
with the official image and any image with its layout. Every broker has three listeners:

* ``INTERNAL``: ``kafka-N:19092`` on the Docker network, between brokers and for the CLI,
  which runs inside a broker container (``docker exec``);
* ``EXTERNAL``: container port 9092, published on ``127.0.0.1:<host port>`` only and
  advertised with that address, for clients on this machine;
* ``CONTROLLER``: ``kafka-N:9093``, the KRaft quorum (nodes 1-3, or node 1 alone).

Ryuk (see :mod:`kafkalab.docker_engine`) removes the containers and the network when the
Python process that started them ends, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..distribution import (
    BROKER_JVM_OPTIONS,
    DEFAULT_KAFKA_VERSION,
    TOOL_JVM_OPTIONS,
    TOOLS_LOG4J,
    ensure_kafka,
)
from ..docker_engine import (
    LABEL,
    container_exit_code,
    container_log_tail,
    docker_client,
    ensure_image,
    first_line,
    remove_containers,
    start_reaper,
)
from ..errors import BrokerStartError, KafkaLabError
from ..processes import free_ports
from .base import CONTROLLERS_FROM, Broker, Cluster, node_settings, random_cluster_id

KAFKA_IMAGE_ENV = "KAFKALAB_KAFKA_IMAGE"
INTERNAL_PORT = 19092
EXTERNAL_PORT = 9092
CONTROLLER_PORT = 9093
KAFKA_BIN = "/opt/kafka/bin"
CONFIG_FILE = "/opt/kafka/config/kafkalab.properties"
DATA_DIR = "/var/lib/kafka/data"  # a volume in the official image
CLASS_ARCHIVE = "/opt/kafka/kafka.jsa"
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

# How `run()` starts a tool: "sh -c _TOOL_SCRIPT sh TOOL ARGS...", with kafkalab's log
# configuration of the tools (the same output as the local backend) from the environment.
_TOOLS_LOG4J_FILE = "/tmp/kafkalab-tools-log4j2.properties"
_TOOL_SCRIPT = (
    _CLASS_SHARING
    + f"""if [ ! -f {_TOOLS_LOG4J_FILE} ]; then
  printf '%s\\n' "$KAFKALAB_TOOLS_LOG4J" > {_TOOLS_LOG4J_FILE}.$$
  mv {_TOOLS_LOG4J_FILE}.$$ {_TOOLS_LOG4J_FILE}
fi
export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile={_TOOLS_LOG4J_FILE}"
exec "$@"
"""
)

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


@dataclass(kw_only=True)
class DockerBroker(Broker):
    """A node in a container; ``port`` is the host port of its EXTERNAL listener."""

    alias: str  # the container's name on the Docker network
    container: object = field(default=None, repr=False)

    @property
    def internal_address(self) -> str:
        """Address on the Docker network, for the CLI run inside the containers."""
        return f"{self.alias}:{INTERNAL_PORT}"

    @property
    def container_id(self) -> str | None:
        return None if self.container is None else self.container.get_container_id()

    def is_up(self) -> bool:
        return self.container is not None and self.exit_code() is None

    def exit_code(self) -> int | None:
        return None if self.container is None else container_exit_code(self.container)

    def log_tail(self, lines: int = 30) -> str:
        return container_log_tail(self.container, lines)


def _host_distribution(version: str):
    """This machine's Kafka CLI for ``version`` when Java 17+ and its jars are already here
    (never downloads: the docker backend must work without them), else None."""
    try:
        return ensure_kafka(version, progress=False, download=False)
    except (KafkaLabError, OSError, ValueError):
        return None


class DockerCluster(Cluster):
    """A cluster of containers; see :class:`kafkalab.Cluster`. ``run()`` executes the Kafka
    CLI inside a broker container against the brokers' addresses on the Docker network."""

    backend = "docker"

    def __init__(self, client, image: str, version: str, cluster_id: str, network):
        super().__init__(distribution=None, kafka_version=version, cluster_id=cluster_id)
        self.image = image
        self._client = client
        self._network = network
        self._containers: list = []
        self._finalizer = weakref.finalize(self, remove_containers, self._containers, network)

    @classmethod
    def _start(
        cls,
        brokers: int,
        *,
        kafka_version: str | None,
        progress: bool,
        timeout: float,
        broker_config: dict[str, object] | None = None,
        image: str | None = None,
    ) -> DockerCluster:
        # image: default $KAFKALAB_KAFKA_IMAGE or apache/kafka:<kafka_version>.
        version = kafka_version or os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
        image = image or os.environ.get(KAFKA_IMAGE_ENV) or f"apache/kafka:{version}"
        client = docker_client()
        ensure_image(client, image, progress=progress)
        start_reaper(client)
        from testcontainers.core.network import Network

        cluster_id = random_cluster_id()
        network = Network(docker_network_kw={"labels": {LABEL: cluster_id}}).create()
        cluster = cls(client, image, version, cluster_id, network)
        controllers = 3 if brokers >= CONTROLLERS_FROM else 1
        for index, port in enumerate(free_ports(brokers)):
            cluster._brokers[index + 1] = DockerBroker(
                node_id=index + 1,
                port=port,
                controller=index < controllers,
                alias=f"kafka-{index + 1}",
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
        return cluster

    def _server_properties(self, broker: DockerBroker, extra: dict[str, object]) -> str:
        voters = ",".join(
            f"{b.node_id}@{b.alias}:{CONTROLLER_PORT}" for b in self.brokers if b.controller
        )
        listeners = f"INTERNAL://:{INTERNAL_PORT},EXTERNAL://:{EXTERNAL_PORT}"
        if broker.controller:
            listeners += f",CONTROLLER://:{CONTROLLER_PORT}"
        config: dict[str, object] = {
            **node_settings(broker, voters, len(self._brokers)),
            "listeners": listeners,
            "advertised.listeners": (
                f"INTERNAL://{broker.internal_address},EXTERNAL://{broker.address}"
            ),
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "log.dirs": DATA_DIR,
            **extra,
        }
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
                remove_containers([container], None)
                self._containers.remove(container)
                if not taken or attempt == _START_ATTEMPTS - 1:
                    broker.state = "failed"
                    raise BrokerStartError(
                        f"Docker no pudo arrancar el contenedor del broker {broker.node_id}: "
                        f"{first_line(error)}"
                    ) from None
                (broker.port,) = free_ports(1)
                continue
            broker.state = "starting"
            return

    @property
    def internal_bootstrap_servers(self) -> str:
        """Addresses of the running brokers on the Docker network (``kafka-1:19092,...``)."""
        return ",".join(b.internal_address for b in self.brokers if b.state == "running")

    def _tool_bootstrap_servers(self) -> str:
        return self.internal_bootstrap_servers

    def _execute(self, tool, args, *, input, timeout):
        running = [b for b in self.brokers if b.state == "running"]
        if not running:
            raise KafkaLabError(
                "No hay ningún broker en marcha donde ejecutar la herramienta. Arranca uno con "
                "cluster.start_broker(ID)."
            )
        command = ["sh", "-c", _TOOL_SCRIPT, "sh", f"{KAFKA_BIN}/{tool}", *args]
        return self._exec(running[0], command, input=input, timeout=timeout)

    def _exec(
        self, broker: DockerBroker, command: list[str], *, input: str | None, timeout: float
    ) -> tuple[int | None, str, str]:
        """``docker exec`` with standard input and a time limit; ``None`` as the exit code
        when the limit was reached (the process is then killed inside the container)."""
        from docker.utils.socket import frames_iter

        api = self._client.client.api
        marker = uuid.uuid4().hex
        environment = {
            **_jvm_environment(TOOL_JVM_OPTIONS),
            "KAFKALAB_TOOLS_LOG4J": TOOLS_LOG4J,
            "KAFKALAB_RUN": marker,
        }
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

    def _stop(self, broker: DockerBroker, timeout: float) -> None:
        broker.container.get_wrapped_container().stop(timeout=int(timeout))

    def _kill(self, broker: DockerBroker) -> None:
        wrapped = broker.container.get_wrapped_container()
        with contextlib.suppress(Exception):  # it may have died on its own meanwhile
            wrapped.kill()
        wrapped.wait(timeout=30)

    def _restart(self, broker: DockerBroker) -> None:
        broker.container.get_wrapped_container().start()

    def _release(self) -> None:
        self._finalizer()

    def _label(self) -> str:
        return f"docker Kafka {self.kafka_version} ({self.image})"


BACKEND = DockerCluster
