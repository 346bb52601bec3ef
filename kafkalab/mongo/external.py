"""The external backend: a MongoDB server that already runs, named by ``$MONGODB_URI``."""

from __future__ import annotations

import os

from ..errors import MongoError
from .base import EXTERNAL_MONGO_ENV, Mongo, hide_password


class ExternalMongo(Mongo):
    """The server at ``$MONGODB_URI``: nothing is started, and ``close()`` deletes nothing."""

    backend = "external"

    def __init__(self, uri: str):
        super().__init__(server="external")
        self._uri = uri

    @classmethod
    def _start(cls, *, timeout: float, progress: bool) -> ExternalMongo:
        uri = os.environ.get(EXTERNAL_MONGO_ENV, "").strip()
        if not uri:
            raise MongoError(
                f"Para usar un MongoDB externo define {EXTERNAL_MONGO_ENV}, por ejemplo "
                f"{EXTERNAL_MONGO_ENV}=mongodb://mongo.aula:27017/."
            )
        mongo = cls(uri)
        mongo._wait_until_ready(min(timeout, 30))
        return mongo

    @property
    def uri(self) -> str:
        """Connection string, ``$MONGODB_URI``."""
        return self._uri

    def _no_answer(self, timeout: float, problem: str) -> str:
        return (
            f"No hay respuesta de MongoDB en {hide_password(self._uri)} "
            f"({EXTERNAL_MONGO_ENV}) tras {timeout:.0f} s. Comprueba la dirección y que el "
            f"servidor esté en marcha, o borra {EXTERNAL_MONGO_ENV} para arrancar uno local."
            + (f"\nDetalle: {problem}" if problem else "")
        )

    def _release(self) -> None:
        """Nothing to stop or delete: the server is not ours."""

    def __repr__(self) -> str:
        if self.closed:
            return super().__repr__()
        return f"<Mongo externo uri={hide_password(self._uri)}>"


BACKEND = ExternalMongo
