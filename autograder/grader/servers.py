"""The Kafka clusters and MongoDB servers the grader owns, lent to one submission at a time.

:meth:`ServerPool.lease` hands a submission a cluster with the brokers its activity needs
(and a MongoDB server when it needs one). With ``reuse`` the servers go back to the pool
after the submission, wiped, and only once they are *proven* clean: every server's state is
read when it starts (:func:`cluster_state`, :func:`mongo_state`: topics, consumer groups and
their members, dynamic configs of brokers, groups, client metrics and loggers, client quotas,
ACLs, SCRAM users, finalized features, open transactions; databases, collections and users),
the wipe (:func:`wipe_cluster`, :func:`wipe_mongo`) undoes what a submission can leave
behind, and the state is read again: a server that does not read back as it started is
closed and replaced, never lent. So a grade never depends on the submission graded before.
Without ``reuse`` each submission gets new servers.

Leases are independent, so several submissions can hold one each at the same time. Idle
servers are closed after ``idle_seconds`` and when the process exits (and, like every
kafkalab server, they die with this process even when it is killed).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kafkalab.readers import admin_client, user_topics

__all__ = [
    "ServerPool",
    "Servers",
    "ServersLost",
    "cluster_state",
    "default_pool",
    "mongo_state",
    "state_differences",
    "wipe_cluster",
    "wipe_mongo",
]

# Databases a MongoDB server has of its own; their non-system collections are a submission's.
_MONGO_OWN = ("admin", "config", "local")
_OPEN_TRANSACTION = ("Ongoing", "PrepareCommit", "PrepareAbort")
_TIMEOUT_MS = 10000


class ServersLost(RuntimeError):
    """A submission's servers died while it ran (the message says which, in Spanish)."""


@dataclass
class Servers:
    """What one submission is lent."""

    bootstrap_servers: str
    mongo_uri: str | None
    cluster: object = field(repr=False)
    mongo: object | None = field(default=None, repr=False)
    # The servers' state as they started (cluster_state, mongo_state): what "clean" means.
    baseline: dict | None = field(default=None, repr=False)
    mongo_baseline: dict | None = field(default=None, repr=False)

    @property
    def ports(self) -> list[int]:
        ports = [int(a.rsplit(":", 1)[1]) for a in self.bootstrap_servers.split(",")]
        if self.mongo_uri:
            ports.append(urlsplit(self.mongo_uri).port)
        return ports

    def refused(self) -> list[str]:
        """The servers (``host:port``) that refuse connections: a broker or MongoDB server
        that died. Cheap enough to ask every second while a submission runs."""
        addresses = self.bootstrap_servers.split(",")
        if self.mongo_uri:
            parts = urlsplit(self.mongo_uri)
            addresses.append(f"{parts.hostname}:{parts.port}")
        return [address for address in addresses if _refuses(address)]

    def lost(self) -> list[str]:
        """What of these servers no longer answers, in Spanish (empty when all do).

        A submission cannot stop a broker or a MongoDB server (they run outside its sandbox,
        and Kafka has no request that shuts a broker down): one that died while it ran failed
        the grader, not the student, and the checks that ran meanwhile prove nothing.
        """
        refused = self.refused()
        if refused:
            return [_refused_message(refused)]
        lost = []
        brokers = len(self.bootstrap_servers.split(","))
        if not _alive(self.cluster, brokers):
            lost.append(f"el clúster de Kafka ya no responde con sus {brokers} brókeres")
        if self.mongo is not None and not _mongo_alive(self.mongo):
            lost.append("el servidor de MongoDB ya no responde")
        return lost


def _refused_message(addresses: list[str]) -> str:
    """Spanish: which of a submission's servers stopped accepting connections."""
    return f"{', '.join(addresses)} ya no acepta conexiones (el servidor se detuvo)"


def _refuses(address: str) -> bool:
    """Whether nothing listens at ``address`` (a refused connection; a slow or full server
    that does not answer in time is not counted: it may be busy, not gone)."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass
    return False


def _admin(bootstrap_servers: str):
    return admin_client(bootstrap_servers, client_id="kafkalab-grader", timeout_ms=_TIMEOUT_MS)


def _dynamic_configs(admin, resources: dict[str, list[str]]) -> dict:
    """The dynamically set configs of every config resource Kafka lists (KIP-1142)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    wanted = [
        ConfigResource(ConfigResourceType[kind.upper()], name)
        for kind, names in sorted(resources.items())
        for name in sorted(names)
        if kind.upper() != "TOPIC"  # topics are deleted whole
    ]
    if not wanted:
        return {}
    described = _describe_configs(admin, wanted)
    found = {}
    for kind, configs_of in described.items():
        for name, configs in configs_of.items():
            if kind == "broker_logger":
                dynamic = _own_levels({k: c.get("value") for k, c in configs.items()})
            else:
                dynamic = {
                    key: config.get("value")
                    for key, config in configs.items()
                    if config.get("config_source", "").startswith("DYNAMIC")
                }
            found[f"{kind}:{name}"] = dict(sorted(dynamic.items()))
    return found


def _describe_configs(admin, wanted: list, timeout: float = 15.0) -> dict:
    """``describe_configs`` of ``wanted``, through a client that knows every broker named.

    A broker's configs are asked of that broker, and a client that has just connected may
    have had its metadata from a broker that has not yet seen the last broker register
    (``UnknownBrokerIdError``). kafka-python offers no call to read the metadata again, so
    a new client is made (its bootstrap reads it) until one knows them all.
    """
    from kafka.errors import UnknownBrokerIdError

    deadline = time.monotonic() + timeout
    try:
        return admin.describe_configs(wanted, config_filter="all")
    except UnknownBrokerIdError:
        if time.monotonic() > deadline:
            raise
    while True:
        fresh = _admin(admin.config["bootstrap_servers"])
        try:
            return fresh.describe_configs(wanted, config_filter="all")
        except UnknownBrokerIdError:
            if time.monotonic() > deadline:
                raise
        finally:
            fresh.close()
        time.sleep(0.1)


def _own_levels(levels: dict[str, str]) -> dict[str, str]:
    """The log levels that differ from the level a logger inherits (its nearest ancestor's,
    else root's): what was set, not the loggers that happen to exist by now."""
    root = levels.get("root")
    own = {"root": root}
    for logger, level in levels.items():
        parts = logger.split(".")
        inherited = next(
            (
                levels[".".join(parts[:n])]
                for n in range(len(parts) - 1, 0, -1)
                if ".".join(parts[:n]) in levels
            ),
            root,
        )
        if logger != "root" and level != inherited:
            own[logger] = level
    return own


def _quotas(admin) -> list:
    from kafka.protocol.admin.client_quotas import DescribeClientQuotasRequest

    response = admin._manager.run(
        admin._manager.send, DescribeClientQuotasRequest(components=[], strict=False)
    )
    if response.error_code:
        raise RuntimeError(f"DescribeClientQuotas: {response.error_message}")
    return sorted(
        (
            tuple(sorted((e.entity_type, e.entity_name) for e in entry.entity)),
            tuple(sorted((v.key, v.value) for v in entry.values)),
        )
        for entry in response.entries
    )


def _acls(admin) -> list | str:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import SecurityDisabledError

    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    try:
        acls, _error = admin.describe_acls(everything)
    except SecurityDisabledError:
        return "sin autorizador"  # no ACL can exist
    return sorted(repr(acl) for acl in acls)


def cluster_state(admin) -> dict:
    """Everything a submission could leave in a cluster, as plain data.

    Two reads are equal when nothing a client can change differs: a new cluster and a
    cluster that was lent and wiped must read the same.
    """
    groups = sorted(
        (g["group_id"], g.get("group_type") or g.get("protocol_type") or "")
        for g in admin.list_groups()
    )
    transactions = sorted(
        t["transactional_id"]
        for listed in admin.list_transactions().values()
        for t in listed
        if t.get("transaction_state") in _OPEN_TRANSACTION
    )
    return {
        "brokers": sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]),
        "topics": sorted(user_topics(admin)),
        "groups": groups,
        "configs": _dynamic_configs(admin, admin.list_config_resources()),
        "quotas": _quotas(admin),
        "acls": _acls(admin),
        "scram_users": sorted(admin.describe_user_scram_credentials()),
        "features": sorted(
            (name, feature.get("finalized")) for name, feature in admin.describe_features().items()
        ),
        "open_transactions": transactions,
    }


def state_differences(baseline: dict, now: dict) -> list[str]:
    """What differs between two reads of :func:`cluster_state` or :func:`mongo_state`."""
    found = []
    for key in sorted(set(baseline) | set(now)):
        before, after = baseline.get(key), now.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            found += state_differences(before, after)  # name what changed inside
        else:
            found.append(f"{key}: {before!r} -> {after!r}")
    return found


def _empty_groups(admin) -> None:
    """Delete every consumer group, members included.

    A submission's consumers are gone when this runs (its sandbox is), but the coordinator
    only notices a dead member when its session expires (45 s by default): until then the
    group cannot be deleted, and the next submission's consumers in a group of that name wait
    for the dead ones to rejoin. Removing the members (LeaveGroup on their behalf, as
    ``Admin.removeMembersFromConsumerGroup`` does) empties the group at once.
    """
    from kafka.admin import MemberToRemove

    listed = admin.list_groups()
    if not listed:
        return
    busy = [g["group_id"] for g in listed if (g.get("group_state") or "Empty") != "Empty"]
    if busy:
        with contextlib.suppress(Exception):  # not classic groups: they stay, then replaced
            for group_id, group in admin.describe_groups(busy).items():
                members = [
                    MemberToRemove(m["member_id"], m.get("group_instance_id"))
                    for m in group.get("members") or []
                ]
                if members:
                    admin.remove_group_members(group_id, members)
    with contextlib.suppress(Exception):  # what stays is found by the proof
        admin.delete_groups([g["group_id"] for g in listed])


def _reset_configs(admin, baseline: dict) -> None:
    """Put dynamic configs back as they were: drop the ones a submission added."""
    from kafka.admin import ConfigResource, ConfigResourceType

    now = _dynamic_configs(admin, admin.list_config_resources())
    changed = []
    for resource, configs in now.items():
        kind, name = resource.split(":", 1)
        if kind == "broker_logger":
            continue  # levels are compared, not reset: a changed one means a new cluster
        before = baseline.get("configs", {}).get(resource, {})
        extra = [key for key in configs if key not in before]
        if extra:
            changed.append(ConfigResource(ConfigResourceType[kind.upper()], name, extra))
    if changed:
        with contextlib.suppress(Exception):
            admin.reset_configs(changed, raise_on_unknown=False, incremental=True)


def _remove_quotas(admin) -> None:
    from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest

    entries = []
    for entity, values in _quotas(admin):
        entries.append(
            AlterClientQuotasRequest.EntryData(
                entity=[
                    AlterClientQuotasRequest.EntryData.EntityData(entity_type=t, entity_name=n)
                    for t, n in entity
                ],
                ops=[
                    AlterClientQuotasRequest.EntryData.OpData(key=key, value=0.0, remove=True)
                    for key, _value in values
                ],
            )
        )
    if entries:
        with contextlib.suppress(Exception):
            admin._manager.run(
                admin._manager.send,
                AlterClientQuotasRequest(entries=entries, validate_only=False),
            )


def _remove_scram_users(admin) -> None:
    from kafka.admin import UserScramCredentialDeletion

    deletions = [
        UserScramCredentialDeletion(user, info["mechanism"])
        for user, described in admin.describe_user_scram_credentials().items()
        for info in described.get("credential_infos") or []
    ]
    if deletions:
        with contextlib.suppress(Exception):
            admin.alter_user_scram_credentials(deletions)


def wipe_cluster(bootstrap_servers: str, baseline: dict) -> list[str]:
    """Undo what a submission can leave in a cluster, then read it again.

    Deletes every topic (but Kafka's own) and every consumer group, members and committed
    offsets included; drops dynamic configs, client quotas and SCRAM users a submission
    added. Returns what still differs from ``baseline`` (:func:`cluster_state` of the new
    cluster): empty when the cluster is proven clean.
    """
    with _admin(bootstrap_servers) as admin:
        _empty_groups(admin)
        topics = sorted(user_topics(admin))
        if topics:
            with contextlib.suppress(Exception):
                admin.delete_topics(topics, timeout_ms=_TIMEOUT_MS)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and user_topics(admin):
                time.sleep(0.05)
        _reset_configs(admin, baseline)
        _remove_quotas(admin)
        _remove_scram_users(admin)
        return state_differences(baseline, cluster_state(admin))


def mongo_state(client) -> dict:
    """Databases and collections (system ones of a server's own databases aside) and users."""
    state: dict = {}
    for name in client.list_database_names():
        collections = sorted(
            c
            for c in client[name].list_collection_names()
            if name not in _MONGO_OWN or not c.startswith("system.") or c == "system.users"
        )
        if collections:
            state[f"db:{name}"] = collections
    try:
        users = client.admin.command("usersInfo", {"forAllDBs": True}).get("users", [])
        state["users"] = sorted(f"{u.get('db')}.{u.get('user')}" for u in users)
    except Exception:  # a server without users (FerretDB 1.x): nothing to leave behind there
        state["users"] = "no disponible"
    return state


def wipe_mongo(uri: str, baseline: dict) -> list[str]:
    """Drop every database, collection and user a submission made; what still differs from
    ``baseline`` (:func:`mongo_state` of the new server), empty when proven clean."""
    from pymongo import MongoClient

    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        for name in client.list_database_names():
            if name not in _MONGO_OWN:
                client.drop_database(name)
                continue
            kept = set(baseline.get(f"db:{name}", []))
            for collection in client[name].list_collection_names():
                if collection not in kept and not collection.startswith("system."):
                    client[name].drop_collection(collection)
        users = mongo_state(client)["users"]
        if isinstance(baseline.get("users"), list) and users:
            with contextlib.suppress(Exception):
                for database in {user.split(".", 1)[0] for user in users}:
                    client[database].command("dropAllUsersFromDatabase")
        return state_differences(baseline, mongo_state(client))
    finally:
        client.close()


def _backend() -> str:
    """Where the grader starts servers: ``$KAFKALAB_BACKEND`` (docker) or local; never an
    external cluster, which the grader could not wipe."""
    backend = os.environ.get("KAFKALAB_BACKEND", "").strip() or "local"
    return backend if backend in ("local", "docker") else "local"


def _alive(cluster, brokers: int) -> bool:
    """Whether an idle cluster still answers with all its brokers."""
    try:
        with _admin(cluster.bootstrap_servers) as admin:
            return len(admin.describe_cluster()["brokers"]) == brokers
    except Exception:
        return False


def _baseline(cluster) -> dict:
    with _admin(cluster.bootstrap_servers) as admin:
        return cluster_state(admin)


def _mongo_client(mongo):
    from pymongo import MongoClient

    return MongoClient(mongo.uri, serverSelectionTimeoutMS=3000)


def _mongo_alive(mongo) -> bool:
    client = _mongo_client(mongo)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def _mongo_baseline(mongo) -> dict:
    client = _mongo_client(mongo)
    try:
        return mongo_state(client)
    finally:
        client.close()


class ServerPool:
    """Clusters and MongoDB servers for graded submissions (see the module docstring).

    ``replaced`` lists, for the record, why each server that could not be proven clean was
    closed instead of lent again.
    """

    def __init__(self, idle_seconds: float = 300):
        self.idle_seconds = idle_seconds
        self.replaced: list[str] = []
        self._lock = threading.Lock()
        self._clusters: dict[int, list[tuple[object, dict]]] = {}
        self._mongos: list[tuple[object, dict]] = []
        self._timer: threading.Timer | None = None
        atexit.register(self.close)

    @contextlib.contextmanager
    def lease(self, brokers: int, mongo: bool, *, reuse: bool = True) -> Iterator[Servers]:
        cluster, baseline = (self._take_cluster(brokers) if reuse else None) or (None, None)
        mongo_server, mongo_baseline = (self._take_mongo() if reuse and mongo else None) or (
            None,
            None,
        )
        try:
            if cluster is None:
                from kafkalab import Cluster

                cluster = Cluster.start(brokers, backend=_backend(), progress=False)
                baseline = _baseline(cluster) if reuse else None
            if mongo and mongo_server is None:
                from kafkalab import Mongo

                mongo_server = Mongo.start(backend=_backend())
                mongo_baseline = _mongo_baseline(mongo_server) if reuse else None
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
            baseline,
            mongo_baseline,
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
            if taken is None or _alive(taken[0], brokers):
                return taken
            taken[0].close()

    def _take_mongo(self):
        while True:
            with self._lock:
                taken = self._mongos.pop() if self._mongos else None
            if taken is None or _mongo_alive(taken[0]):
                return taken
            taken[0].close()

    def _clean(self, what: str, wipe, *args) -> bool:
        try:
            left = wipe(*args)
        except Exception as error:
            left = [f"{type(error).__name__}: {error}"]
        if left:
            self.replaced.append(f"{what}: " + "; ".join(left))
        return not left

    def _give_back(self, servers: Servers, brokers: int, reuse: bool) -> None:
        cluster_kept = reuse and self._clean(
            "kafka", wipe_cluster, servers.bootstrap_servers, servers.baseline
        )
        mongo_kept = (
            reuse
            and servers.mongo is not None
            and self._clean("mongo", wipe_mongo, servers.mongo_uri, servers.mongo_baseline)
        )
        if not cluster_kept:
            servers.cluster.close()
        if servers.mongo is not None and not mongo_kept:
            servers.mongo.close()
        if not (cluster_kept or mongo_kept):
            return
        with self._lock:
            if cluster_kept:
                self._clusters.setdefault(brokers, []).append((servers.cluster, servers.baseline))
            if mongo_kept:
                self._mongos.append((servers.mongo, servers.mongo_baseline))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.idle_seconds, self.close)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        """Close every idle server."""
        with self._lock:
            idle = [c for clusters in self._clusters.values() for c, _ in clusters]
            idle += [m for m, _ in self._mongos]
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
