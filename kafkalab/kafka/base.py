"""The contract of a Kafka cluster, whatever runs it: what every backend keeps and shares.

:meth:`Cluster.start` picks the backend (``local``, ``docker`` or ``external``) and returns
that backend's subclass; everything else (``run()`` and its errors, broker control, the
wait until brokers register, close, repr) is written here once. A backend supplies:

* ``_start(brokers, ...)``: a classmethod that starts (or finds) the brokers;
* ``_execute(tool, args, input=, timeout=)``: run one CLI tool, ``(code | None, out, err)``;
* ``_stop``, ``_kill``, ``_restart``: one broker, for failures on purpose;
* ``_release()``: stop everything and delete the data (``close()`` calls it once);
* a :class:`Broker` subclass that says whether its process or container is up.
"""

from __future__ import annotations

import base64
import contextlib
import shlex
import threading
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import tooljvm
from ..backends import backend_class
from ..distribution import CLIENT_CONFIG_OPTIONS, TOOLS, Distribution
from ..errors import (
    BrokerStartError,
    CommandError,
    KafkaLabError,
    UnknownBrokerError,
    failure_message,
    refusal_message,
    refused_by_kafka,
)
from ..processes import port_open
from ..tooljvm import WarmTools

MAX_BROKERS = 5
CONTROLLERS_FROM = 3  # with this many brokers or more, three of them form the controller quorum
EXTERNAL_ENV = "KAFKA_BOOTSTRAP_SERVERS"
# A client properties file for the external cluster (credentials: security.protocol,
# sasl.mechanism, sasl.jaas.config), used by kafka-python and every tool, as in Kafka's docs.
CLIENT_CONFIG_ENV = "KAFKALAB_CLIENT_CONFIG"

STATE_NAMES = {
    "new": "nuevo",
    "starting": "arrancando",
    "running": "en marcha",
    "stopped": "parado",
    "killed": "matado",
    "failed": "fallido",
}


def random_cluster_id() -> str:
    """A Kafka Uuid in base64, never starting with "-" (as Kafka's own ``Uuid.randomUuid``):
    ``kafka-storage.sh format --cluster-id -x...`` would read it as an option."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


def node_settings(node: Broker, voters: str, brokers: int) -> dict[str, object]:
    """The ``server.properties`` entries every backend's nodes share (all but listeners and
    folders): small, and quick to show failover and group joins in a classroom."""
    internal_replicas = min(3, brokers)  # internal topics: as replicated as brokers allow
    internal_min_isr = min(2, brokers)
    return {
        "process.roles": "broker,controller" if node.controller else "broker",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "num.partitions": 1,
        "default.replication.factor": 1,
        "offsets.topic.replication.factor": internal_replicas,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": internal_replicas,
        "transaction.state.log.min.isr": internal_min_isr,
        "transaction.state.log.num.partitions": 10,
        "share.coordinator.state.topic.replication.factor": internal_replicas,
        "share.coordinator.state.topic.min.isr": internal_min_isr,
        # Failover and group joins show in seconds, not tens.
        "group.initial.rebalance.delay.ms": 0,
        "broker.heartbeat.interval.ms": 1000,
        "broker.session.timeout.ms": 6000,
        # Share consumers learn of their partitions on a heartbeat (5 s by default).
        "group.share.heartbeat.interval.ms": 1000,
        "group.share.min.heartbeat.interval.ms": 1000,
        # The quorum elects its first leader in about half a second instead of two.
        "controller.quorum.election.timeout.ms": 500,
        "controller.quorum.election.backoff.max.ms": 500,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.threads": 1,
        "log.cleaner.dedupe.buffer.size": 4 * 1024 * 1024,
    }


def describe_brokers(addresses: Sequence[str]) -> list[dict]:
    """The brokers in the cluster metadata (kafka-python's ``describe_cluster``), ``[]``
    while none answers at ``addresses``."""
    if not addresses:
        return []
    from kafka.errors import KafkaConfigurationError, KafkaError

    from ..readers import admin_client

    try:
        with admin_client(addresses, client_id="kafkalab-ready", timeout_ms=3000) as admin:
            return admin.describe_cluster()["brokers"]
    except KafkaConfigurationError:
        raise
    except (KafkaError, OSError):
        return []  # not up yet: the next poll asks again


def registered_broker_ids(addresses: Sequence[str]) -> set[int]:
    """Ids of the brokers a client sees in the cluster metadata (unfenced, serving)."""
    return {b["broker_id"] for b in describe_brokers(addresses) if not b.get("is_fenced")}


@dataclass(kw_only=True)
class Broker:
    """One Kafka node: a broker, and a controller too when ``controller``."""

    node_id: int
    port: int  # on 127.0.0.1
    controller: bool = False
    state: str = "new"

    @property
    def address(self) -> str:
        """Address for clients on this machine."""
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        """Running as far as kafkalab knows, and its process or container is still up."""
        return self.state == "running" and self.is_up()

    def is_up(self) -> bool:
        """Its process (or container) is running, whatever the state says."""
        return self.exit_code() is None

    def exit_code(self) -> int | None:
        """The exit code of its process or container once it has ended, else None."""
        return None

    def log_tail(self, lines: int = 30) -> str:
        return "(sin registros)"


@dataclass
class CommandResult:
    """What a Kafka CLI tool did: its arguments, exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return self.stdout

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.output.rstrip("\n"))


class Cluster(ABC):
    """A real Apache Kafka cluster in KRaft mode, whatever backend runs it.

    Start one with :meth:`start`; it runs until :meth:`close` (or the end of the ``with``
    block, or the end of the Python process, even a killed one)::

        from kafkalab import Cluster
        with Cluster.start(brokers=3) as cluster:
            print(cluster.run("kafka-topics.sh --describe --topic pedidos"))
            cluster.stop_broker(2)
            cluster.start_broker(2)
    """

    backend: ClassVar[str] = ""

    def __init__(self, *, distribution: Distribution | None, kafka_version: str, cluster_id=""):
        # The Kafka CLI on this machine (for `!kafka-topics.sh` and live consumers), if any.
        self.distribution = distribution
        self.kafka_version = kafka_version
        self.cluster_id = cluster_id
        self._brokers: dict[int, Broker] = {}
        self._closed = False
        self._close_callbacks: list[Callable[[], object]] = []
        self._warm_tools: WarmTools | None = None
        self._no_warm_tools = False
        self._warm_lock = threading.Lock()

    # --- starting -----------------------------------------------------------------

    @classmethod
    def start(
        cls,
        brokers: int = 1,
        *,
        backend: str = "auto",
        kafka_version: str | None = None,
        broker_config: dict[str, object] | None = None,
        progress: bool = True,
        timeout: float = 90,
        **options,
    ) -> Cluster:
        """Start a cluster and return once every broker is registered and serving metadata.

        Args:
            brokers: number of brokers, 1 to 5.
            backend: ``"local"`` (JVMs on this machine), ``"docker"`` (one container per
                broker), ``"external"`` (an existing cluster named by
                ``$KAFKA_BOOTSTRAP_SERVERS``; nothing is started, and ``close()`` deletes only
                the topics this object created) or ``"auto"``: external when that variable is
                set, else ``$KAFKALAB_BACKEND``, else local.
            kafka_version: Kafka version; default ``$KAFKA_VERSION`` or the newest locked.
            broker_config: extra ``server.properties`` entries for every broker.
            progress: show progress while downloading and starting.
            timeout: seconds to wait for the brokers.
            **options: options of one backend (docker: ``image``).

        Raises:
            KafkaLabError: an unknown backend, or an option the backend does not take.
            JavaError, DownloadError, ChecksumError: Kafka cannot run here.
            DockerUnavailableError: the docker backend without a Docker engine.
            BrokerStartError: a broker died or did not come up; the message has its log.
        """
        if not 1 <= brokers <= MAX_BROKERS:
            raise KafkaLabError(
                f"Un clúster de kafkalab tiene de 1 a {MAX_BROKERS} brokers; has pedido {brokers}."
            )
        if broker_config:
            options["broker_config"] = dict(broker_config)
        implementation = backend_class(
            cls.backend or backend, package=__package__, external_env=EXTERNAL_ENV, options=options
        )
        return implementation._start(
            brokers, kafka_version=kafka_version, progress=progress, timeout=timeout, **options
        )

    @classmethod
    @abstractmethod
    def _start(cls, brokers: int, *, kafka_version, progress, timeout, **options) -> Cluster: ...

    def _wait_until_registered(
        self, brokers: list[Broker], *, timeout: float, progress: bool
    ) -> None:
        """Wait until every one of ``brokers`` is registered, unfenced and takes connections
        on its own port, or raise with its log."""
        deadline = time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(brokers), desc=f"Arrancando brokers de Kafka ({self.backend})")
        try:
            waiting = {broker.node_id: broker for broker in brokers}
            while waiting:
                for broker in waiting.values():
                    code = broker.exit_code()
                    if code is not None:
                        broker.state = "failed"
                        raise BrokerStartError(
                            f"El broker {broker.node_id} terminó al arrancar (código {code}). "
                            f"Últimas líneas de su registro:\n{broker.log_tail()}"
                        )
                reachable = self.reachable_servers()
                for node_id in registered_broker_ids(reachable) & set(waiting):
                    # Unfenced in the metadata comes a moment before the broker's own listener
                    # takes connections: a client sent to it then would be refused.
                    if waiting[node_id].address not in reachable:
                        continue
                    waiting.pop(node_id).state = "running"
                    if bar is not None:
                        bar.update(1)
                if waiting and time.monotonic() > deadline:
                    late = waiting[min(waiting)]
                    raise BrokerStartError(
                        f"El broker {late.node_id} no estaba listo tras {timeout:.0f} s. "
                        "Puede que el ordenador vaya muy cargado: cierra otros notebooks y "
                        f"vuelve a intentarlo. Últimas líneas de su registro:\n{late.log_tail()}"
                    )
                if waiting:
                    time.sleep(0.1)
        finally:
            if bar is not None:
                bar.close()

    # --- using --------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Addresses of all brokers, ``"127.0.0.1:PORT,..."``, for clients on this machine."""
        return ",".join(broker.address for broker in self._brokers.values())

    def reachable_servers(self) -> list[str]:
        """Addresses of the brokers that take connections now (a broker that died has closed
        its port: no need to ask its process or container)."""
        return [
            broker.address
            for broker in self._brokers.values()
            if broker.state in ("starting", "running") and port_open(broker.port)
        ]

    @property
    def brokers(self) -> list[Broker]:
        return list(self._brokers.values())

    def broker(self, node_id: int) -> Broker:
        try:
            return self._brokers[node_id]
        except KeyError:
            known = ", ".join(str(i) for i in self._brokers)
            raise UnknownBrokerError(
                f"No existe el broker {node_id!r} en este clúster. Sus brokers son: {known}."
            ) from None

    @property
    def data_dir(self) -> Path | None:
        """The folder with the brokers' data and logs, where this backend has one."""
        return None

    def run(
        self,
        command: str | Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> CommandResult:
        """Run a Kafka command line tool against this cluster.

        ``--bootstrap-server`` is added when the tool takes it and the command lacks it.

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
        if TOOLS[tool][1] and not any(
            a.startswith(("--bootstrap-server", "--bootstrap-controller")) for a in args
        ):
            # First, so that tools with subcommands (kafka-metadata-quorum.sh) accept it too.
            args[1:1] = ["--bootstrap-server", self._tool_bootstrap_servers()]
            config = self._tool_client_config()
            if config and not any(a.startswith(CLIENT_CONFIG_OPTIONS) for a in args):
                args[1:1] = ["--command-config", config]
        code, stdout, stderr = self._execute(tool, args[1:], input=input, timeout=timeout)
        result = CommandResult(args, -1 if code is None else code, stdout, stderr)
        if code is None:
            raise CommandError(failure_message(tool, None, "", timeout=timeout), result)
        self._ran(tool, result)
        if check and code != 0:
            raise CommandError(failure_message(tool, code, result.output), result)
        if check and refused_by_kafka(result.output):
            raise CommandError(refusal_message(tool, result.output), result)
        return result

    def tool_environment(self) -> dict[str, str]:
        """Variables that make the launch scripts use this cluster's warm tool JVM (see
        :mod:`kafkalab.tooljvm`); empty where there is none. The JVM itself starts with the
        first call."""
        self._require_open()
        if self.distribution is None or not tooljvm.enabled():
            return {}
        with self._warm_lock:
            if self._warm_tools is None:
                if not self.distribution.tool_server_jar.exists() or self._no_warm_tools:
                    return {}
                try:
                    self._warm_tools = tooljvm.WarmTools(self.distribution)
                except OSError as error:
                    # No socket here (a read-only or too deep temporary folder): every tool
                    # then starts a JVM of its own, as before; say so once.
                    self._no_warm_tools = True
                    warnings.warn(
                        "kafkalab no pudo preparar la JVM de herramientas de este clúster, así "
                        f"que cada herramienta arrancará una JVM propia (más lenta): {error}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    return {}
        return self._warm_tools.environment()

    def start_tool_jvm(self) -> None:
        """Start the warm tool JVM now, in the background, rather than on the first call."""
        if self.tool_environment():
            self._warm_tools.start_soon()

    @property
    def tool_jvm_pid(self) -> int | None:
        """Process id of this cluster's warm tool JVM, while it runs."""
        return None if self._warm_tools is None else self._warm_tools.pid

    def _tool_client_config(self) -> str | None:
        """A client properties file for the tools (``--command-config``): credentials."""
        return None

    def _tool_bootstrap_servers(self) -> str:
        """The ``--bootstrap-server`` for tools run by :meth:`_execute`."""
        return self.bootstrap_servers

    @abstractmethod
    def _execute(
        self, tool: str, args: list[str], *, input: str | None, timeout: float
    ) -> tuple[int | None, str, str]:
        """Run ``tool`` with ``args``; the exit code is None when ``timeout`` ran out (the
        tool is then stopped)."""

    def _ran(self, tool: str, result: CommandResult) -> None:  # noqa: B027 (optional hook)
        """Called after every tool that ended (failed or not)."""

    # --- failures on purpose ------------------------------------------------------------

    def stop_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Stop a broker cleanly (it hands over its partition leaderships first)."""
        broker = self._running(node_id)
        self._stop(broker, timeout)
        broker.state = "stopped"

    def kill_broker(self, node_id: int) -> None:
        """Kill a broker at once (SIGKILL), as a crash or a pulled plug would."""
        broker = self._running(node_id)
        self._kill(broker)
        broker.state = "killed"

    def start_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Start a stopped or killed broker again and wait until it is registered."""
        self._require_control()
        broker = self.broker(node_id)
        if broker.is_up():
            return
        self._restart(broker)
        broker.state = "starting"
        try:
            self._wait_until_registered([broker], timeout=timeout, progress=False)
        except BrokerStartError:
            if broker.is_up():
                self._kill(broker)
            broker.state = "failed"
            raise

    def _running(self, node_id: int) -> Broker:
        self._require_control()
        broker = self.broker(node_id)
        if not broker.is_up():
            raise KafkaLabError(
                f"El broker {node_id} no está en marcha (estado: {STATE_NAMES[broker.state]}). "
                f"Arráncalo con cluster.start_broker({node_id})."
            )
        return broker

    def _require_control(self) -> None:
        """Raise unless this object may stop and start the brokers."""
        self._require_open()

    def _stop(self, broker: Broker, timeout: float) -> None:
        raise NotImplementedError  # a backend without broker control refuses in _require_control

    def _kill(self, broker: Broker) -> None:
        raise NotImplementedError

    def _restart(self, broker: Broker) -> None:
        raise NotImplementedError

    # --- ending -------------------------------------------------------------------

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the cluster closes (after the brokers are gone)."""
        self._close_callbacks.append(callback)

    def close(self) -> None:
        """Stop every broker and delete all data. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._warm_tools is not None:
                self._warm_tools.close()
            self._release()
        finally:
            for broker in self._brokers.values():
                broker.state = "stopped"
            callbacks, self._close_callbacks = self._close_callbacks, []
            for callback in reversed(callbacks):
                with contextlib.suppress(Exception):
                    callback()

    @abstractmethod
    def _release(self) -> None:
        """Stop what this cluster started and delete its data (once, from close())."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def _require_open(self) -> None:
        if self._closed:
            raise KafkaLabError("Este clúster ya está cerrado: arranca otro con Cluster.start().")

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _label(self) -> str:
        return f"{self.backend} Kafka {self.kafka_version}"

    def __repr__(self) -> str:
        if self._closed:
            return f"<Cluster {self._label()}: cerrado>"
        nodes = ", ".join(
            f"{b.node_id}{'*' if b.controller else ''}@{b.port} {STATE_NAMES[b.state]}"
            for b in self._brokers.values()
        )
        return (
            f"<Cluster {self._label()} bootstrap={self.bootstrap_servers} brokers=[{nodes}] "
            "(*: controlador)>"
        )
