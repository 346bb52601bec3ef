"""Backends by name, for both contracts (:class:`kafkalab.Cluster`, :class:`kafkalab.Mongo`):
what ``"auto"`` means, and a backend's module imported only when it is asked for (docker
needs testcontainers)."""

from __future__ import annotations

import importlib
import inspect
import os

from .errors import KafkaLabError

BACKEND_ENV = "KAFKALAB_BACKEND"
NAMES = ("local", "docker", "external")
_COMMON = {"self", "cls", "brokers", "kafka_version", "progress", "timeout"}


def backend_class(
    backend: str, *, package: str, external_env: str, options: dict, error=KafkaLabError
) -> type:
    """The class named ``BACKEND`` in module ``package.<backend>``. ``"auto"`` is external
    when ``$external_env`` is set, else ``$KAFKALAB_BACKEND``, else local.

    Raises ``error`` for an unknown backend, or an option of ``options`` that the backend's
    ``_start`` does not take (refused, never dropped).
    """
    if backend == "auto":
        if os.environ.get(external_env, "").strip():
            backend = "external"
        else:
            backend = os.environ.get(BACKEND_ENV, "").strip() or "local"
    if backend not in NAMES:
        raise error(
            f"El backend «{backend}» no existe; usa 'auto', 'local', 'docker' o 'external'."
        )
    implementation = importlib.import_module(f"{package}.{backend}").BACKEND
    accepted = set(inspect.signature(implementation._start).parameters) - _COMMON
    refused = sorted(set(options) - accepted)
    if refused:
        own = (
            f"las suyas: {', '.join(sorted(accepted))}" if accepted else "no tiene opciones propias"
        )
        raise error(f"El backend «{backend}» no admite {', '.join(refused)} ({own}).")
    return implementation
