"""MongoDB servers: the contract (:mod:`.base`) and one module per backend."""

from ..errors import MongoError, MongoStartError
from .base import EXTERNAL_MONGO_ENV, Mongo
from .local import LocalServer, choose_local_server

__all__ = [
    "Mongo",
    "MongoError",
    "MongoStartError",
    "EXTERNAL_MONGO_ENV",
    "LocalServer",
    "choose_local_server",
]
