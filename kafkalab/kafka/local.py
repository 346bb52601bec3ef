"""The local backend: each Kafka node is a JVM on this machine, on 127.0.0.1.

Every node runs under the guard (:mod:`kafkalab.processes`) with its own folder in a
temporary data folder, so neither outlives the Python process that started them. With three
or more brokers, nodes 1-3 are also the controller quorum; with one or two, node 1 is the
only controller.
"""

from __future__ import annotations

import shutil
import subprocess
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..distribution import Distribution, ensure_kafka
from ..errors import KafkaLabError
from ..processes import (
    child_pid,
    free_ports,
    kill_guarded,
    log_tail,
    owned_temp_dir,
    release_guarded,
    spawn_guarded,
    stop_guarded,
    sweep_orphaned_dirs,
)
from .base import CONTROLLERS_FROM, Broker, Cluster, node_settings, random_cluster_id

TEMP_PREFIX = "kafkalab-"


@dataclass(kw_only=True)
class LocalBroker(Broker):
    """A node of a local cluster: its folder, ports and guarded JVM."""

    controller_port: int | None = None
    classroom_port: int | None = None
    directory: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    @property
    def java_pid(self) -> int | None:
        """Process id of the broker JVM (the guard's child), where /proc tells it."""
        return child_pid(self.process)

    def is_up(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        return (
            "\n".join(
                f"--- {path} ---\n{log_tail(path, lines)}"
                for path in (self.directory / "stdout.log", self.log_file)
                if path.exists()
            )
            or "(sin registros)"
        )


class LocalCluster(Cluster):
    """A cluster of JVMs on this machine; see :class:`kafkalab.Cluster`."""

    backend = "local"

    def __init__(self, distribution: Distribution, root: Path, cluster_id: str):
        super().__init__(
            distribution=distribution, kafka_version=distribution.version, cluster_id=cluster_id
        )
        self._root = root
        self._jvm_options: list[str] = []
        self._classroom: tuple[str, dict[str, str]] | None = None
        self._jvm_argfile: Path | None = None
        self._processes: list[subprocess.Popen] = []
        self._finalizer = weakref.finalize(self, release_guarded, self._processes, root)

    @classmethod
    def _start(
        cls,
        brokers: int,
        *,
        kafka_version: str | None,
        progress: bool,
        timeout: float,
        broker_config: dict[str, object] | None = None,
        jvm_options: Sequence[str] = (),
        jvm_argfile: Path | None = None,
        classroom_users: Mapping[str, str] | None = None,
        classroom_host: str = "127.0.0.1",
    ) -> LocalCluster:
        # jvm_options and jvm_argfile: for benchmarks and class-sharing training only.
        # classroom_users: a class's shared Kafka (kafkalab.classroom) has a second listener,
        # on classroom_host, where each user logs in (SASL PLAIN) and ACLs apply.
        distribution = ensure_kafka(kafka_version, progress=progress)
        sweep_orphaned_dirs(TEMP_PREFIX)
        checkpoint = distribution.bootstrap_checkpoint()
        cluster = cls(distribution, owned_temp_dir(TEMP_PREFIX), random_cluster_id())
        cluster._jvm_options = list(jvm_options)
        cluster._jvm_argfile = jvm_argfile
        if classroom_users is not None:
            cluster._classroom = (classroom_host, dict(classroom_users))
        controllers = 3 if brokers >= CONTROLLERS_FROM else 1
        ports = free_ports(brokers + controllers + (brokers if classroom_users is not None else 0))
        for index in range(brokers):
            cluster._brokers[index + 1] = LocalBroker(
                node_id=index + 1,
                port=ports[index],
                controller=index < controllers,
                controller_port=ports[brokers + index] if index < controllers else None,
                classroom_port=(
                    ports[brokers + controllers + index] if classroom_users is not None else None
                ),
                directory=cluster._root / f"broker-{index + 1}",
            )
        try:
            for node in cluster.brokers:
                cluster._write_node_files(node, checkpoint, broker_config or {})
            for node in cluster.brokers:
                cluster._restart(node)
                node.state = "starting"
            cluster._wait_until_registered(cluster.brokers, timeout=timeout, progress=progress)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _write_node_files(
        self, node: LocalBroker, checkpoint: Path, extra: dict[str, object]
    ) -> None:
        voters = ",".join(
            f"{other.node_id}@127.0.0.1:{other.controller_port}"
            for other in self.brokers
            if other.controller
        )
        advertised = f"PLAINTEXT://127.0.0.1:{node.port}"
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self._classroom is not None:  # a class's shared Kafka: see _classroom_settings
            advertised += f",AULA://{self._classroom[0]}:{node.classroom_port}"
            protocols += ",AULA:SASL_PLAINTEXT"
        listeners = advertised
        if node.controller:
            listeners += f",CONTROLLER://127.0.0.1:{node.controller_port}"
        data = node.directory / "data"
        config: dict[str, object] = {
            **node_settings(node, voters, len(self._brokers)),
            "listeners": listeners,
            "advertised.listeners": advertised,
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": protocols,
            "log.dirs": data,
            **self._classroom_settings(),
            **extra,
        }
        (node.directory / "logs").mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        (node.directory / "server.properties").write_text(
            "".join(f"{key}={value}\n" for key, value in config.items())
        )
        # What `kafka-storage.sh format` writes (see Distribution.bootstrap_checkpoint).
        (data / "meta.properties").write_text(
            f"version=1\ncluster.id={self.cluster_id}\nnode.id={node.node_id}\n"
            f"directory.id={random_cluster_id()}\n"
        )
        if node.controller:
            metadata = data / "__cluster_metadata-0"
            metadata.mkdir(exist_ok=True)
            shutil.copyfile(checkpoint, metadata / checkpoint.name)

    def _classroom_settings(self) -> dict[str, object]:
        """How the class listener (``AULA``) logs users in (SASL PLAIN) and the authorizer,
        for a shared class Kafka. Kafka's own listeners stay on 127.0.0.1 as the super user
        ANONYMOUS: the class cannot reach them (they are outside its containers), and
        kafkalab, the tools run by :meth:`run` and the brokers among themselves keep using
        them."""
        if self._classroom is None:
            return {}
        accounts = " ".join(
            f'user_{name}="{password}"' for name, password in self._classroom[1].items()
        )
        return {
            "listener.name.aula.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.aula.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {accounts};"
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    @property
    def classroom_servers(self) -> str:
        """The class listener's addresses (``host:port,...``), for the class's clients."""
        if self._classroom is None:
            raise KafkaLabError("Este clúster no es un Kafka de clase (classroom_users).")
        host = self._classroom[0]
        return ",".join(f"{host}:{b.classroom_port}" for b in self.brokers)

    @property
    def data_dir(self) -> Path:
        """The temporary folder with every broker's data and logs (``broker-N/``)."""
        return self._root

    def _execute(self, tool, args, *, input, timeout):
        return self.distribution.run_tool(
            tool, args, input=input, timeout=timeout, env=self.tool_environment()
        )

    def _stop(self, broker: LocalBroker, timeout: float) -> None:
        stop_guarded(broker.process, timeout)

    def _kill(self, broker: LocalBroker) -> None:
        kill_guarded(broker.process)

    def _restart(self, broker: LocalBroker) -> None:
        command = self.distribution.broker_command(
            broker.directory / "server.properties",
            broker.directory / "logs",
            extra=self._jvm_options,
            argfile=self._jvm_argfile,
        )
        with open(broker.directory / "stdout.log", "ab") as stdout:
            broker.process = spawn_guarded(
                command, cleanup=broker.directory, stdout=stdout, cwd=broker.directory
            )
        self._processes.append(broker.process)

    def _release(self) -> None:
        self._finalizer()


BACKEND = LocalCluster
