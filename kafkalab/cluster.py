"""Real Apache Kafka clusters (KRaft) for notebooks, tests and the autograder."""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .distribution import TOOLS, Distribution, ensure_kafka
from .errors import (
    BrokerStartError,
    CommandError,
    KafkaLabError,
    UnknownBrokerError,
    explain_kafka_output,
)

__all__ = ["Cluster", "Broker", "CommandResult"]

GUARD = Path(__file__).with_name("_guard.py")
MAX_BROKERS = 5
CONTROLLERS_FROM = 3  # with this many brokers or more, three of them form the controller quorum
_TEMP_PREFIX = "kafkalab-"
EXTERNAL_ENV = "KAFKA_BOOTSTRAP_SERVERS"


@dataclass
class Broker:
    """One Kafka node of a local cluster: a broker, and a controller too when ``controller``."""

    node_id: int
    port: int
    controller_port: int | None
    directory: Path
    state: str = "new"
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def controller(self) -> bool:
        return self.controller_port is not None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    @property
    def java_pid(self) -> int | None:
        """Process id of the broker JVM (the guard's child), where /proc tells it."""
        if self.process is None or self.process.poll() is not None:
            return None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(children.read_text().split()[0])
        return None

    def log_tail(self, lines: int = 30) -> str:
        chunks = []
        for path in (self.directory / "stdout.log", self.log_file):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()
                if text:
                    chunks.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(chunks) or "(sin registros)"


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


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_orphaned_directories() -> None:
    """Delete data folders of clusters whose owning process died without cleaning up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-*"):
        owner = folder.name.removeprefix(_TEMP_PREFIX).split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _random_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _shutdown(brokers: list[Broker], root: Path | None) -> None:
    """Kill every broker and delete the data. Also runs at interpreter exit."""
    for broker in brokers:
        if broker.process is not None and broker.process.poll() is None:
            # Closing the guard's stdin is its "owner gone" signal: kill the JVM, clean up.
            with contextlib.suppress(OSError):
                broker.process.stdin.close()
    for broker in brokers:
        if broker.process is not None:
            try:
                broker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                broker.process.kill()
                broker.process.wait()
            with contextlib.suppress(OSError, ValueError):
                broker.process.stdin.close()
            broker.state = "stopped"
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


class Cluster:
    """A real Apache Kafka cluster in KRaft mode.

    Start one with :meth:`Cluster.start`; it runs until :meth:`close` (or the end of the
    ``with`` block, or the end of the Python process, even a killed one)::

        from kafkalab import Cluster
        with Cluster.start(brokers=3) as cluster:
            print(cluster.bootstrap_servers)
            cluster.run("kafka-topics.sh --create --topic pedidos --partitions 3")
            print(cluster.run("kafka-topics.sh --describe --topic pedidos"))
            cluster.stop_broker(2)
            cluster.start_broker(2)

    The local backend runs each node as its own JVM on 127.0.0.1 with a temporary data
    folder. With three or more brokers, nodes 1-3 are also the controller quorum; with one
    or two, node 1 is the only controller.
    """

    def __init__(
        self,
        distribution: Distribution,
        brokers: list[Broker],
        root: Path | None,
        cluster_id: str,
    ):
        self.distribution = distribution
        self.backend = "local"
        self.cluster_id = cluster_id
        self._brokers = {broker.node_id: broker for broker in brokers}
        self._root = root
        self._closed = False
        self._jvm_options: list[str] = []  # benchmarks and class-sharing training only
        self._jvm_argfile: Path | None = None
        self._external_servers = ""
        self._external_broker_ids: list[int] = []
        self._created_topics: set[str] = set()
        self._finalizer = weakref.finalize(self, _shutdown, brokers, root)

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
        _jvm_options: Sequence[str] = (),
        _jvm_argfile: Path | None = None,
    ) -> Cluster:
        """Start a cluster and return once every broker is registered and serving metadata.

        Args:
            brokers: number of brokers, 1 to 5.
            backend: ``"local"`` (JVMs on this machine), ``"docker"`` (one container per
                broker, see :mod:`kafkalab._docker`), ``"external"`` (an existing cluster
                named by ``$KAFKA_BOOTSTRAP_SERVERS``; nothing is started, and ``close()``
                deletes nothing) or ``"auto"``: external when that variable is set, else
                ``$KAFKALAB_BACKEND``, else local.
            kafka_version: Kafka version; default ``$KAFKA_VERSION`` or the newest locked.
            broker_config: extra ``server.properties`` entries for every broker.
            progress: show progress while downloading and starting.
            timeout: seconds to wait for the brokers.

        Raises:
            JavaError, DownloadError, ChecksumError: Kafka cannot run here.
            BrokerStartError: a broker died or did not come up; the message has its log.
        """
        if backend == "auto":
            if os.environ.get(EXTERNAL_ENV, "").strip():
                backend = "external"
            else:
                backend = os.environ.get("KAFKALAB_BACKEND", "").strip() or "local"
        if backend == "external":
            return cls._attach(kafka_version=kafka_version, progress=progress, timeout=timeout)
        if backend == "docker":
            from ._docker import DockerCluster

            return DockerCluster.start(
                brokers,
                kafka_version=kafka_version,
                broker_config=broker_config,
                progress=progress,
                timeout=timeout,
            )
        if backend != "local":
            raise KafkaLabError(
                f"El backend «{backend}» no existe; usa 'auto', 'local', 'docker' o 'external'."
            )
        if not 1 <= brokers <= MAX_BROKERS:
            raise KafkaLabError(
                f"Un clúster de kafkalab tiene de 1 a {MAX_BROKERS} brokers; has pedido {brokers}."
            )
        distribution = ensure_kafka(kafka_version, progress=progress)
        _sweep_orphaned_directories()
        checkpoint = distribution.bootstrap_checkpoint()
        root = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
        controllers = 3 if brokers >= CONTROLLERS_FROM else 1
        ports = _free_ports(brokers + controllers)
        nodes = [
            Broker(
                node_id=index + 1,
                port=ports[index],
                controller_port=ports[brokers + index] if index < controllers else None,
                directory=root / f"broker-{index + 1}",
            )
            for index in range(brokers)
        ]
        cluster = cls(distribution, nodes, root, _random_cluster_id())
        cluster._jvm_options = list(_jvm_options)
        cluster._jvm_argfile = _jvm_argfile
        try:
            for node in nodes:
                cluster._write_node_files(node, checkpoint, broker_config or {})
            for node in nodes:
                cluster._launch(node)
            cluster._wait_until_registered(nodes, timeout=timeout, progress=progress)
        except BaseException:
            cluster.close()
            raise
        cluster._publish_environment()
        return cluster

    @classmethod
    def _attach(cls, *, kafka_version: str | None, progress: bool, timeout: float) -> Cluster:
        """An existing cluster from ``$KAFKA_BOOTSTRAP_SERVERS``: the CLI tools run here."""
        servers = os.environ.get(EXTERNAL_ENV, "").strip()
        if not servers:
            raise KafkaLabError(
                f"Para usar un clúster externo define {EXTERNAL_ENV}, por ejemplo "
                f"{EXTERNAL_ENV}=kafka.aula:9092."
            )
        distribution = ensure_kafka(kafka_version, progress=progress)
        cluster = cls(distribution, [], None, "")
        cluster.backend = "external"
        cluster._external_servers = servers
        deadline = time.monotonic() + min(timeout, 30)
        while True:
            found = cluster._registered_broker_ids()
            if found:
                break
            if time.monotonic() > deadline:
                cluster.close()
                raise BrokerStartError(
                    f"No hay respuesta de Kafka en {servers} ({EXTERNAL_ENV}). Comprueba la "
                    f"dirección y que el clúster esté en marcha, o borra {EXTERNAL_ENV} para "
                    "arrancar uno local."
                )
            time.sleep(0.2)
        cluster._external_broker_ids = sorted(found)
        cluster._publish_environment()
        return cluster

    def _write_node_files(self, node: Broker, checkpoint: Path, extra: dict[str, object]) -> None:
        voters = ",".join(
            f"{other.node_id}@127.0.0.1:{other.controller_port}"
            for other in self._brokers.values()
            if other.controller
        )
        count = len(self._brokers)
        internal_replicas = min(3, count)
        internal_min_isr = min(2, count)
        listeners = f"PLAINTEXT://127.0.0.1:{node.port}"
        if node.controller:
            listeners += f",CONTROLLER://127.0.0.1:{node.controller_port}"
        config: dict[str, object] = {
            "process.roles": "broker,controller" if node.controller else "broker",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.directory / "data",
            "num.partitions": 1,
            "default.replication.factor": 1,
            # Internal topics can only be as replicated as there are brokers.
            "offsets.topic.replication.factor": internal_replicas,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": internal_replicas,
            "transaction.state.log.min.isr": internal_min_isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": internal_replicas,
            "share.coordinator.state.topic.min.isr": internal_min_isr,
            # A classroom wants failover and group joins to show in seconds, not tens.
            "group.initial.rebalance.delay.ms": 0,
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 6000,
            # The quorum elects its first leader in about half a second instead of two.
            "controller.quorum.election.timeout.ms": 500,
            "controller.quorum.election.backoff.max.ms": 500,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "log.cleaner.threads": 1,
            "log.cleaner.dedupe.buffer.size": 4 * 1024 * 1024,
        }
        config.update(extra)
        data = node.directory / "data"
        (node.directory / "logs").mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        (node.directory / "server.properties").write_text(
            "".join(f"{key}={value}\n" for key, value in config.items())
        )
        # What `kafka-storage.sh format` writes (see Distribution.bootstrap_checkpoint).
        directory_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        (data / "meta.properties").write_text(
            f"version=1\ncluster.id={self.cluster_id}\nnode.id={node.node_id}\n"
            f"directory.id={directory_id}\n"
        )
        if node.controller:
            metadata = data / "__cluster_metadata-0"
            metadata.mkdir(exist_ok=True)
            shutil.copyfile(checkpoint, metadata / checkpoint.name)

    def _launch(self, node: Broker) -> None:
        command = self.distribution.broker_command(
            node.directory / "server.properties",
            node.directory / "logs",
            extra=self._jvm_options,
            argfile=self._jvm_argfile,
        )
        with open(node.directory / "stdout.log", "ab") as stdout:
            node.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(GUARD), str(node.directory), "--", *command],
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                cwd=node.directory,
                start_new_session=True,
            )
        node.state = "starting"

    def _wait_until_registered(
        self, nodes: list[Broker], *, timeout: float, progress: bool
    ) -> None:
        deadline = time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(nodes), desc="Arrancando brokers de Kafka", unit="broker")
        try:
            waiting = {node.node_id for node in nodes}
            while waiting:
                self._raise_if_died(nodes)
                registered = self._registered_broker_ids() & waiting
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
                time.sleep(0.1)
        finally:
            if bar is not None:
                bar.close()

    def _raise_if_died(self, nodes: list[Broker]) -> None:
        for node in nodes:
            if node.process is not None and node.process.poll() is not None:
                node.state = "failed"
                raise BrokerStartError(
                    f"El broker {node.node_id} terminó al arrancar (código "
                    f"{node.process.returncode}). Últimas líneas de su registro:\n{node.log_tail()}"
                )

    def _registered_broker_ids(self) -> set[int]:
        """Ids of brokers that a client sees in the cluster metadata (unfenced, serving)."""
        if self.backend == "external":
            reachable = self._external_servers.split(",")
        else:
            running = [b for b in self._brokers.values() if b.state in ("starting", "running")]
            reachable = [b.address for b in running if _port_open(b.port)]
        if not reachable:
            return set()
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaConfigurationError, KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=reachable,
                client_id="kafkalab-ready",
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
            )
            try:
                described = admin.describe_cluster()
            finally:
                admin.close()
        except KafkaConfigurationError:
            raise
        except (KafkaError, OSError):
            # Not up yet: the next poll asks again.
            return set()
        return {b["broker_id"] for b in described["brokers"] if not b.get("is_fenced")}

    def _publish_environment(self) -> None:
        """Let ``!kafka-topics.sh ...`` in a notebook find the tools and this cluster."""
        os.environ.update(self.distribution.tool_environment())
        os.environ["KAFKALAB_BOOTSTRAP_SERVER"] = self.bootstrap_servers

    # --- using --------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Addresses of all brokers, ``"127.0.0.1:PORT,..."``, for clients and CLI tools."""
        if self.backend == "external":
            return self._external_servers
        return ",".join(broker.address for broker in self._brokers.values())

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
        executable = self.distribution.tool(tool)
        takes_bootstrap = TOOLS.get(executable.name, ("", False))[1]
        if takes_bootstrap and not any(
            a.startswith(("--bootstrap-server", "--bootstrap-controller")) for a in args
        ):
            # First, so that tools with subcommands (kafka-metadata-quorum.sh) accept it too.
            args[1:1] = ["--bootstrap-server", self.bootstrap_servers]
        try:
            completed = subprocess.run(
                [str(executable), *args[1:]],
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.distribution.tool_environment(),
            )
        except subprocess.TimeoutExpired as expired:
            raise CommandError(
                f"{tool} no terminó en {timeout:g} s y se ha detenido. Un consumidor de consola "
                "espera mensajes para siempre: añade --max-messages N o --timeout-ms MS.",
                CommandResult(args, -1, _text(expired.stdout), _text(expired.stderr)),
            ) from None
        result = CommandResult(args, completed.returncode, completed.stdout, completed.stderr)
        if self.backend == "external" and completed.returncode == 0:
            self._remember_created_topic(tool, args)
        if check and completed.returncode != 0:
            explanation = explain_kafka_output(result.output)
            # Java stack frames say nothing to a learner; Kafka's own sentence stays.
            lines = [line for line in result.output.splitlines() if not line.startswith("\tat ")]
            tail = "\n".join(lines[-12:]).strip()
            raise CommandError(
                f"{tool} terminó con código {completed.returncode}.\n"
                + (f"{explanation}\n" if explanation else "")
                + f"Salida de Kafka:\n{tail}",
                result,
            )
        return result

    # --- failures on purpose ------------------------------------------------------------

    def stop_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Stop a broker cleanly (it hands over its partition leaderships first)."""
        broker = self._running(node_id)
        broker.process.send_signal(signal.SIGTERM)
        try:
            broker.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            broker.process.send_signal(signal.SIGUSR1)
            broker.process.wait()
        broker.state = "stopped"

    def kill_broker(self, node_id: int) -> None:
        """Kill a broker at once (SIGKILL), as a crash or a pulled plug would."""
        broker = self._running(node_id)
        broker.process.send_signal(signal.SIGUSR1)
        broker.process.wait()
        broker.state = "killed"

    def start_broker(self, node_id: int, *, timeout: float = 60) -> None:
        """Start a stopped or killed broker again and wait until it is registered."""
        self._require_open()
        self._require_local()
        broker = self.broker(node_id)
        if broker.process is not None and broker.process.poll() is None:
            return
        self._launch(broker)
        try:
            self._wait_until_registered([broker], timeout=timeout, progress=False)
        except BrokerStartError:
            if broker.process.poll() is None:
                broker.process.send_signal(signal.SIGUSR1)
                broker.process.wait()
            broker.state = "failed"
            raise

    def _running(self, node_id: int) -> Broker:
        self._require_open()
        self._require_local()
        broker = self.broker(node_id)
        if broker.process is None or broker.process.poll() is not None:
            raise KafkaLabError(
                f"El broker {node_id} no está en marcha (estado: {_STATE_ES[broker.state]}). "
                f"Arráncalo con cluster.start_broker({node_id})."
            )
        return broker

    # --- ending -------------------------------------------------------------------

    def _remember_created_topic(self, tool: str, args: list[str]) -> None:
        """On a shared cluster, note the topics this session creates, to delete them later."""
        if tool != "kafka-topics.sh" or "--create" not in args:
            return
        for index, arg in enumerate(args):
            if arg == "--topic" and index + 1 < len(args):
                self._created_topics.add(args[index + 1])
            elif arg.startswith("--topic="):
                self._created_topics.add(arg.split("=", 1)[1])

    def _delete_created_topics(self) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self._external_servers.split(","),
                client_id="kafkalab-cleanup",
                request_timeout_ms=5000,
            )
        except KafkaError:
            return
        try:
            admin.delete_topics(sorted(self._created_topics), raise_errors=False)
        except (KafkaError, OSError):
            pass
        finally:
            admin.close()

    def close(self) -> None:
        """Stop every broker and delete all data. Safe to call twice.

        On an external cluster nothing is stopped; only the topics this object created
        with ``run("kafka-topics.sh --create ...")`` are deleted.
        """
        if self._closed:
            return
        self._closed = True
        if self.backend == "external" and self._created_topics:
            self._delete_created_topics()
        self._finalizer()
        if os.environ.get("KAFKALAB_BOOTSTRAP_SERVER") == self.bootstrap_servers:
            del os.environ["KAFKALAB_BOOTSTRAP_SERVER"]

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run (the brokers are gone)."""
        return self._closed

    def _require_local(self) -> None:
        if self.backend == "external":
            raise KafkaLabError(
                "Este clúster es externo (KAFKA_BOOTSTRAP_SERVERS): sus brokers no se pueden "
                "parar ni arrancar desde aquí. Para practicar fallos, arranca uno local con "
                "Cluster.start(3, backend='local')."
            )

    def _require_open(self) -> None:
        if self._closed:
            raise KafkaLabError("Este clúster ya está cerrado: arranca otro con Cluster.start().")

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<Cluster {self.backend} Kafka {self.distribution.version}: cerrado>"
        if self.backend == "external":
            ids = ", ".join(str(i) for i in self._external_broker_ids)
            return f"<Cluster externo bootstrap={self.bootstrap_servers} brokers=[{ids}]>"
        nodes = ", ".join(
            f"{b.node_id}{'*' if b.controller else ''}@{b.port} {_STATE_ES[b.state]}"
            for b in self._brokers.values()
        )
        return (
            f"<Cluster {self.backend} Kafka {self.distribution.version} "
            f"bootstrap={self.bootstrap_servers} brokers=[{nodes}] (*: controlador)>"
        )


_STATE_ES = {
    "new": "nuevo",
    "starting": "arrancando",
    "running": "en marcha",
    "stopped": "parado",
    "killed": "matado",
    "failed": "fallido",
}


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
