"""The docker backend: a MongoDB server in a container of ``$KAFKALAB_MONGO_IMAGE`` or
``mongo:7``, its port published on 127.0.0.1 only. Ryuk (see :mod:`kafkalab.docker_engine`)
removes the container when the Python process that started it ends, even by SIGKILL."""

from __future__ import annotations

import os
import weakref

from ..docker_engine import (
    LABEL,
    container_exit_code,
    container_log_tail,
    docker_client,
    ensure_image,
    remove_containers,
    start_reaper,
)
from .base import Mongo

MONGO_IMAGE_ENV = "KAFKALAB_MONGO_IMAGE"
DEFAULT_MONGO_IMAGE = "mongo:7"
MONGO_PORT = 27017


class DockerMongo(Mongo):
    """A MongoDB server in a container; see :class:`kafkalab.Mongo`."""

    backend = "docker"

    def __init__(self, image: str, container):
        super().__init__(server=image)
        self._container = container
        self._finalizer = weakref.finalize(self, remove_containers, [container], None)

    @classmethod
    def _start(cls, *, timeout: float, progress: bool, image: str | None = None) -> DockerMongo:
        """``image``: default ``$KAFKALAB_MONGO_IMAGE`` or ``mongo:7``."""
        from testcontainers.core.container import DockerContainer

        client = docker_client()
        image = image or os.environ.get(MONGO_IMAGE_ENV) or DEFAULT_MONGO_IMAGE
        ensure_image(client, image, progress=progress)
        start_reaper(client)
        container = DockerContainer(image).with_kwargs(labels={LABEL: "mongo"})
        container.ports[f"{MONGO_PORT}/tcp"] = ("127.0.0.1",)
        mongo = cls(image, container)
        try:
            container.start()
            mongo.port = int(container.get_exposed_port(MONGO_PORT))
        except BaseException:
            mongo.close()
            raise
        mongo._wait_until_ready(timeout)
        return mongo

    def _exit_code(self) -> int | None:
        return container_exit_code(self._container)

    @property
    def container_id(self) -> str | None:
        return self._container.get_container_id()

    def log_tail(self, lines: int = 30) -> str:
        return container_log_tail(self._container, lines)

    def _release(self) -> None:
        self._finalizer()


BACKEND = DockerMongo
