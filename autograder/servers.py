"""The Kafka clusters and MongoDB servers the grader owns, lent to one submission at a time.

:meth:`ServerPool.lease` hands a submission a cluster with the brokers its activity needs
(and a MongoDB server when it needs one). With ``reuse`` the servers go back to the pool
after the submission, wiped: every topic, consumer group and user database deleted (a
cluster whose broker settings were changed is replaced instead), and checked healthy before
the next lease; without it each submission gets
new ones. Leases are independent, so several submissions can hold one each at the same time.
Idle servers are closed after ``idle_seconds`` and when the process exits (and, like every
kafkalab server, they die with this process even when it is killed).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["ServerPool", "Servers", "broker_settings", "default_pool", "wipe_cluster"]


@dataclass
class Servers:
    """What one submission is lent."""

    bootstrap_servers: str
    mongo_uri: str | None
    cluster: object = field(repr=False)
    mongo: object | None = field(default=None, repr=False)
    settings: dict | None = field(default=None, repr=False)  # the cluster's as it started

    @property
    def ports(self) -> list[int]:
        ports = [int(a.rsplit(":", 1)[1]) for a in self.bootstrap_servers.split(",")]
        if self.mongo_uri:
            ports.append(urlsplit(self.mongo_uri).port)
        return ports


def broker_settings(admin) -> dict[tuple[int, str], str]:
    """The dynamic settings of every broker (Kafka itself sets some when it formats)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    brokers = [b["broker_id"] for b in admin.describe_cluster()["brokers"]]
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, str(b)) for b in brokers], config_filter="all"
    )
    return {
        (int(broker), name): config.get("value")
        for broker, configs in described.get("broker", {}).items()
        for name, config in configs.items()
        if config["config_source"] in ("DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG")
    }


def wipe_cluster(
    bootstrap_servers: str,
    mongo_uri: str | None = None,
    settings: dict[tuple[int, str], str] | None = None,
) -> None:
    """Delete every non-internal topic, every consumer group and every user database.

    Raises when the dynamic broker settings differ from ``settings`` (when given): the
    cluster must then be replaced.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    try:
        groups = [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
        if groups:
            admin.delete_groups(groups)
        topics = [t for t in admin.list_topics() if not t.startswith("__")]
        if topics:
            admin.delete_topics(topics, timeout_ms=10000)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(
                not t.startswith("__") for t in admin.list_topics()
            ):
                time.sleep(0.05)
        # A submission may have changed broker settings (kafka-configs.sh --alter
        # --entity-type brokers): such a cluster is not lent again.
        if settings is not None and broker_settings(admin) != settings:
            raise RuntimeError("a submission changed broker settings")
    finally:
        admin.close()
    if mongo_uri:
        from pymongo import MongoClient

        client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
        try:
            for name in client.list_database_names():
                if name not in ("admin", "config", "local"):
                    client.drop_database(name)
        finally:
            client.close()


def _backend() -> str:
    """Where the grader starts servers: ``$KAFKALAB_BACKEND`` (docker) or local; never an
    external cluster, which the grader could not wipe."""
    backend = os.environ.get("KAFKALAB_BACKEND", "").strip() or "local"
    return backend if backend in ("local", "docker") else "local"


def _healthy(cluster, brokers: int) -> bool:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=cluster.bootstrap_servers,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
        )
    except Exception:
        return False
    try:
        return len(admin.describe_cluster()["brokers"]) == brokers and not any(
            not t.startswith("__") for t in admin.list_topics()
        )
    except Exception:
        return False
    finally:
        admin.close()


def _settings(cluster) -> dict:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=10000)
    try:
        return broker_settings(admin)
    finally:
        admin.close()


def _mongo_healthy(mongo) -> bool:
    from pymongo import MongoClient

    client = MongoClient(mongo.uri, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


class ServerPool:
    """Clusters and MongoDB servers for graded submissions (see the module docstring)."""

    def __init__(self, idle_seconds: float = 300):
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._clusters: dict[int, list] = {}
        self._mongos: list = []
        self._timer: threading.Timer | None = None
        atexit.register(self.close)

    @contextlib.contextmanager
    def lease(self, brokers: int, mongo: bool, *, reuse: bool = True) -> Iterator[Servers]:
        taken = self._take_cluster(brokers) if reuse else None
        cluster, settings = taken if taken else (None, None)
        mongo_server = (self._take_mongo() if reuse else None) if mongo else None
        try:
            if cluster is None:
                from kafkalab import Cluster

                cluster = Cluster.start(brokers, backend=_backend(), progress=False)
                settings = _settings(cluster) if reuse else None
            if mongo and mongo_server is None:
                from kafkalab import Mongo

                mongo_server = Mongo.start(backend=_backend())
        except BaseException:
            for server in (cluster, mongo_server):
                if server is not None:
                    server.close()
            raise
        servers = Servers(
            cluster.bootstrap_servers,
            mongo_server.uri if mongo_server else None,
            cluster,
            mongo_server,
            settings,
        )
        try:
            yield servers
        finally:
            self._give_back(servers, brokers, reuse)

    def _take_cluster(self, brokers: int):
        while True:
            with self._lock:
                idle = self._clusters.get(brokers) or []
                taken = idle.pop() if idle else None
            if taken is None or _healthy(taken[0], brokers):
                return taken
            taken[0].close()

    def _take_mongo(self):
        while True:
            with self._lock:
                mongo = self._mongos.pop() if self._mongos else None
            if mongo is None or _mongo_healthy(mongo):
                return mongo
            mongo.close()

    def _give_back(self, servers: Servers, brokers: int, reuse: bool) -> None:
        if reuse:
            try:
                wipe_cluster(servers.bootstrap_servers, servers.mongo_uri, servers.settings)
            except Exception:
                reuse = False
        if not reuse:
            servers.cluster.close()
            if servers.mongo is not None:
                servers.mongo.close()
            return
        with self._lock:
            self._clusters.setdefault(brokers, []).append((servers.cluster, servers.settings))
            if servers.mongo is not None:
                self._mongos.append(servers.mongo)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.idle_seconds, self.close)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        """Close every idle server."""
        with self._lock:
            idle = [c for clusters in self._clusters.values() for c, _ in clusters] + self._mongos
            self._clusters, self._mongos = {}, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for server in idle:
            with contextlib.suppress(Exception):
                server.close()


_DEFAULT: ServerPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> ServerPool:
    """The pool of this process."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ServerPool()
        return _DEFAULT
