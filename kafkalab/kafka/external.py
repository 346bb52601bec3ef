"""The external backend: a cluster that already runs elsewhere (``$KAFKA_BOOTSTRAP_SERVERS``).

Nothing is started and nothing is stopped: the CLI tools run on this machine against that
cluster, its brokers cannot be stopped from here, and ``close()`` deletes only the topics
this object created with ``run("kafka-topics.sh --create ...")`` (a shared classroom
cluster is left as it was found).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..distribution import ensure_kafka
from ..errors import BrokerStartError, KafkaLabError
from .base import (
    CLIENT_CONFIG_ENV,
    EXTERNAL_ENV,
    Broker,
    Cluster,
    CommandResult,
    describe_brokers,
)

# The client properties kafkalab understands, and kafka-python's name for each.
_PROPERTIES = {"security.protocol": "security_protocol", "sasl.mechanism": "sasl_mechanism"}
_JAAS = re.compile(r'(username|password)\s*=\s*"([^"]*)"')


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

    def __init__(self, distribution, servers: str, client_config: str | None = None):
        super().__init__(distribution=distribution, kafka_version=distribution.version)
        self._servers = servers
        self._created_topics: set[str] = set()
        self._client_config = client_config
        self._saved_defaults: list[tuple[dict, dict]] = []

    @classmethod
    def _start(cls, brokers: int, *, kafka_version, progress, timeout) -> ExternalCluster:
        # `brokers` is what the cluster has, not ours to choose.
        servers = os.environ.get(EXTERNAL_ENV, "").strip()
        if not servers:
            raise KafkaLabError(
                f"Para usar un clúster externo define {EXTERNAL_ENV}, por ejemplo "
                f"{EXTERNAL_ENV}=kafka.aula:9092."
            )
        config = os.environ.get(CLIENT_CONFIG_ENV, "").strip() or None
        settings = client_settings(config) if config else {}
        cluster = cls(ensure_kafka(kafka_version, progress=progress), servers, config)
        cluster._use_client_settings(settings)
        try:
            cluster._wait_for_metadata(timeout)
        except BaseException:
            cluster._release()
            raise
        return cluster

    def _wait_for_metadata(self, timeout: float) -> None:
        deadline = time.monotonic() + min(timeout, 30)
        while not self._describe_brokers():
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"No hay respuesta de Kafka en {self._servers} ({EXTERNAL_ENV}). Comprueba la "
                    f"dirección y que el clúster esté en marcha, o borra {EXTERNAL_ENV} para "
                    "arrancar uno local."
                )
            time.sleep(0.2)

    def _use_client_settings(self, settings: dict[str, str]) -> None:
        """Make ``settings`` (credentials) the defaults of kafka-python's clients while this
        cluster is open, so the lessons' ``KafkaProducer(bootstrap_servers=...)`` log in as
        the tools do with ``--command-config``; :meth:`_release` puts the old ones back."""
        if not settings:
            return
        from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

        for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
            defaults = client.DEFAULT_CONFIG
            self._saved_defaults.append((defaults, {k: defaults.get(k) for k in settings}))
            defaults.update(settings)

    def _tool_client_config(self) -> str | None:
        return self._client_config

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
        try:
            self._delete_created_topics()
        finally:
            for defaults, saved in self._saved_defaults:
                defaults.update(saved)
            self._saved_defaults.clear()

    def _delete_created_topics(self) -> None:
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


def client_settings(path: str) -> dict[str, str]:
    """kafka-python's settings for the client properties file at ``path``: the protocol, the
    SASL mechanism and the user and password of ``sasl.jaas.config``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise KafkaLabError(
            f"No puedo leer la configuración de cliente {path} ({CLIENT_CONFIG_ENV}): "
            f"{error.strerror}."
        ) from None
    properties = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            properties[key.strip()] = value.strip()
    settings = {_PROPERTIES[k]: v for k, v in properties.items() if k in _PROPERTIES}
    if "sasl.jaas.config" in properties:
        found = dict(_JAAS.findall(properties["sasl.jaas.config"]))
        if "username" not in found or "password" not in found:
            raise KafkaLabError(
                f'{path}: sasl.jaas.config no tiene username="..." y password="...".'
            )
        settings["sasl_plain_username"] = found["username"]
        settings["sasl_plain_password"] = found["password"]
    unknown = sorted(set(properties) - set(_PROPERTIES) - {"sasl.jaas.config"})
    if unknown:
        raise KafkaLabError(
            f"{path}: kafkalab solo entiende security.protocol, sasl.mechanism y "
            f"sasl.jaas.config, no {', '.join(unknown)}."
        )
    return settings


BACKEND = ExternalCluster
