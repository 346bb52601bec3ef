"""A class's shared Kafka: one cluster for a whole class on a small server.

For a hub too small for a Kafka per student (deploy/jupyterhub, ``--kafka-compartido``), or
a classroom without Docker: one local cluster with a second listener where each student logs
in with their own user and password (SASL PLAIN), and Kafka's ACLs (the KRaft
``StandardAuthorizer``) let each of them use only the topics, consumer groups and
transactional ids that start with their user and a dot (``ana.pedidos``, ``ana.lectores``).
Nobody can read, write, delete or even list another's topics.

Students reach it with the external backend: ``KAFKA_BOOTSTRAP_SERVERS`` set to
:attr:`ClassroomKafka.servers` and ``KAFKALAB_CLIENT_CONFIG`` to the client properties file
:meth:`ClassroomKafka.write_client_config` writes for them, which kafkalab hands to kafka-python
and to every tool (``--command-config``), as it hands them ``--bootstrap-server``.

What a shared cluster cannot do: stop, kill or restart brokers (the external backend refuses
those calls in Spanish). The lessons that do (02, 03, 07) call
``start_cluster(..., stops_brokers=True)``, which says so and starts a cluster of the
student's own instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KafkaLabError
from .kafka import Cluster

__all__ = ["ClassroomKafka", "start_classroom"]

_USER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass
class ClassroomKafka:
    """A running class Kafka (see the module's docstring); ``close()`` stops it."""

    cluster: Cluster
    passwords: dict[str, str] = field(repr=False)

    @property
    def servers(self) -> str:
        """The class listener's addresses, for the students' ``KAFKA_BOOTSTRAP_SERVERS``."""
        return self.cluster.classroom_servers

    def client_properties(self, student: str) -> str:
        """The client properties (Kafka's format) with which ``student`` logs in."""
        if student not in self.passwords:
            raise KafkaLabError(f"«{student}» no es de esta clase.")
        return (
            "security.protocol=SASL_PLAINTEXT\n"
            "sasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{student}" password="{self.passwords[student]}";\n'
        )

    def write_client_config(self, student: str, path: Path) -> Path:
        """Write ``student``'s client properties to ``path``, readable by its owner only."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(self.client_properties(student), encoding="utf-8")
        return path

    def close(self) -> None:
        self.cluster.close()

    def __enter__(self) -> ClassroomKafka:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def start_classroom(
    students: Iterable[str],
    *,
    host: str = "127.0.0.1",
    brokers: int = 3,
    progress: bool = False,
) -> ClassroomKafka:
    """Start a class Kafka for ``students`` (user names), listening for them on ``host``
    (the address their containers reach: on a hub, its Docker network's gateway), each with
    a new random password and ACLs on their own prefix."""
    names = list(students)
    for name in names:
        if not _USER.match(name):
            raise KafkaLabError(
                f"«{name}» no sirve como usuario de Kafka: minúsculas, números, - y _."
            )
    passwords = {name: secrets.token_urlsafe(12) for name in names}
    cluster = Cluster.start(
        brokers,
        backend="local",
        progress=progress,
        classroom_users=passwords,
        classroom_host=host,
    )
    try:
        for name in names:
            prefix = f"{name}."
            acl = ["kafka-acls.sh", "--add", "--allow-principal", f"User:{name}"]
            cluster.run(
                [
                    *acl,
                    "--operation",
                    "All",
                    "--resource-pattern-type",
                    "prefixed",
                    "--topic",
                    prefix,
                    "--group",
                    prefix,
                    "--transactional-id",
                    prefix,
                ]
            )
        # The console consumers' own groups (console-consumer-<random number>, made when no
        # --group is given), so that the lessons' commands work as written. Everyone shares
        # this prefix: such a group holds nothing but a throwaway consumer's offsets.
        everyone = [a for name in names for a in ("--allow-principal", f"User:{name}")]
        cluster.run(
            [
                "kafka-acls.sh",
                "--add",
                *everyone,
                "--operation",
                "Read",
                "--operation",
                "Describe",
                "--resource-pattern-type",
                "prefixed",
                "--group",
                "console-consumer-",
                "--group",
                "console-share-consumer-",
            ]
        )
    except BaseException:
        cluster.close()
        raise
    return ClassroomKafka(cluster, passwords)
