"""The external backend: a cluster that already runs elsewhere (``$KAFKA_BOOTSTRAP_SERVERS``).

Nothing is started and nothing is stopped: the CLI tools run on this machine against that
cluster, its brokers cannot be stopped from here, and ``close()`` deletes only the topics
this object created with ``run("kafka-topics.sh --create ...")`` (a shared classroom
cluster is left as it was found).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

from ..distribution import ensure_kafka
from ..errors import BrokerStartError, KafkaLabError
from .base import EXTERNAL_ENV, Broker, Cluster, CommandResult, describe_brokers


@dataclass(kw_only=True)
class ExternalBroker(Broker):
    """A broker of the external cluster, as its metadata described it when we attached."""

    host: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class ExternalCluster(Cluster):
    """A cluster someone else runs; see :class:`kafkalab.Cluster`."""

    backend = "external"

    def __init__(self, distribution, servers: str):
        super().__init__(distribution=distribution, kafka_version=distribution.version)
        self._servers = servers
        self._created_topics: set[str] = set()

    @classmethod
    def _start(cls, brokers: int, *, kafka_version, progress, timeout) -> ExternalCluster:
        # `brokers` is what the cluster has, not ours to choose.
        servers = os.environ.get(EXTERNAL_ENV, "").strip()
        if not servers:
            raise KafkaLabError(
                f"Para usar un clúster externo define {EXTERNAL_ENV}, por ejemplo "
                f"{EXTERNAL_ENV}=kafka.aula:9092."
            )
        cluster = cls(ensure_kafka(kafka_version, progress=progress), servers)
        deadline = time.monotonic() + min(timeout, 30)
        while not cluster._describe_brokers():
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"No hay respuesta de Kafka en {servers} ({EXTERNAL_ENV}). Comprueba la "
                    f"dirección y que el clúster esté en marcha, o borra {EXTERNAL_ENV} para "
                    "arrancar uno local."
                )
            time.sleep(0.2)
        return cluster

    def _describe_brokers(self) -> bool:
        """Learn the cluster's brokers from its metadata; False while it does not answer."""
        self._brokers = {
            b["broker_id"]: ExternalBroker(
                node_id=b["broker_id"],
                host=b["host"],
                port=b["port"],
                state="failed" if b.get("is_fenced") else "running",
            )
            for b in sorted(
                describe_brokers(self.reachable_servers()), key=lambda b: b["broker_id"]
            )
        }
        return bool(self._brokers)

    @property
    def bootstrap_servers(self) -> str:
        return self._servers

    def reachable_servers(self) -> list[str]:
        return self._servers.split(",")

    def _execute(self, tool, args, *, input, timeout):
        return self.distribution.run_tool(
            tool, args, input=input, timeout=timeout, env=self.tool_environment()
        )

    def _ran(self, tool: str, result: CommandResult) -> None:
        """Note the topics this object creates, to delete them on close."""
        if tool != "kafka-topics.sh" or "--create" not in result.args or result.returncode:
            return
        args = result.args
        for index, arg in enumerate(args):
            if arg == "--topic" and index + 1 < len(args):
                self._created_topics.add(args[index + 1])
            elif arg.startswith("--topic="):
                self._created_topics.add(arg.split("=", 1)[1])

    def _require_control(self) -> None:
        super()._require_control()
        raise KafkaLabError(
            "Este clúster es externo (KAFKA_BOOTSTRAP_SERVERS): sus brokers no se pueden "
            "parar ni arrancar desde aquí. Para practicar fallos, arranca uno local con "
            "Cluster.start(3, backend='local')."
        )

    def _release(self) -> None:
        if not self._created_topics:
            return
        from kafka.errors import KafkaError

        from ..readers import admin_client

        servers = self.reachable_servers()
        with (
            contextlib.suppress(KafkaError, OSError),
            admin_client(servers, client_id="kafkalab-close") as admin,
        ):
            admin.delete_topics(sorted(self._created_topics), raise_errors=False)

    def _label(self) -> str:
        return "externo"


BACKEND = ExternalCluster
