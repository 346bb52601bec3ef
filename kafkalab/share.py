"""Console consumers of a share group (KIP-932), for lesson 04: real processes, what each prints.

    from kafkalab.share import ShareConsumers

    with ShareConsumers(cluster, "tareas", group="repartidores", count=3) as repartidores:
        ...  # produce tasks
        repartidores.wait_for(total=10)
    repartidores.received()  # [[lines of consumer 1], [lines of consumer 2], ...]

Each consumer is a real ``kafka-console-share-consumer.sh``; leaving the ``with`` block stops
them as Ctrl+C does (they acknowledge what they printed and leave the group). They also stop
when the cluster closes and when Python exits, even killed.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence

from .errors import KafkaLabError
from .kafka import Cluster
from .widgets import spawn_console_tool, terminate_consoles

__all__ = ["ShareConsumers"]

TOOL = "kafka-console-share-consumer.sh"


class ShareConsumers:
    """``count`` console consumers in share group ``group``, reading ``topic``.

    Args:
        cluster: the cluster to read from.
        topic: the topic.
        group: the share group they join.
        count: how many consumers.
        properties: consumer properties, each passed as ``--command-property NAME=VALUE``.
        timeout_ms: each consumer stops by itself after this long without a message.
    """

    def __init__(
        self,
        cluster: Cluster,
        topic: str,
        *,
        group: str,
        count: int = 3,
        properties: Sequence[str] = (),
        timeout_ms: int = 60000,
    ):
        if count < 1:
            raise KafkaLabError(f"Hace falta al menos un consumidor; has pedido {count}.")
        self.cluster = cluster
        self.count = count
        self.command = [TOOL, "--topic", topic, "--group", group]
        for prop in properties:
            self.command += ["--command-property", prop]
        self.command += ["--timeout-ms", str(timeout_ms)]
        self._processes: list = []
        self._lines: list[list[str]] = [[] for _ in range(count)]
        self._condition = threading.Condition()
        self._finalizer = weakref.finalize(self, terminate_consoles, self._processes, 5.0)

    def __enter__(self) -> ShareConsumers:
        distribution = self.cluster.distribution
        if distribution is None:
            raise KafkaLabError(
                f"{TOOL} se ejecuta en este ordenador, y aquí no hay Java 17 o posterior con "
                "Kafka instalado: instala Java y ejecuta «kafkalab install» (o usa "
                "backend='local')."
            )
        for index in range(self.count):
            process = spawn_console_tool(self.cluster, self.command)
            self._processes.append(process)
            threading.Thread(target=self._read, args=(index, process), daemon=True).start()
            # Its log lines are not messages, but an unread pipe would block it once full.
            threading.Thread(target=process.stderr.read, daemon=True).start()
        self.cluster.on_close(self.stop)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _read(self, index: int, process) -> None:
        for line in process.stdout:
            with self._condition:
                self._lines[index].append(line.decode(errors="replace").rstrip("\n"))
                self._condition.notify_all()

    def received(self) -> list[list[str]]:
        """What each consumer has printed so far: one list of messages per consumer."""
        with self._condition:
            return [list(lines) for lines in self._lines]

    def wait_for(self, *, total: int, timeout: float = 30) -> bool:
        """Wait until the consumers have printed ``total`` messages between them (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while sum(map(len, self._lines)) < total and time.monotonic() < deadline:
                self._condition.wait(timeout=max(deadline - time.monotonic(), 0))
            return sum(map(len, self._lines)) >= total

    def stop(self) -> None:
        """Stop every consumer as Ctrl+C does (SIGTERM), killing any still running after 30 s."""
        terminate_consoles(self._processes, 30.0)
        self._finalizer.detach()
