"""A MongoDB-compatible server for notebooks and the autograder: mongod, FerretDB or external."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from .cluster import GUARD, _free_ports, _pid_alive, _port_open
from .errors import KafkaLabError
from .ferretdb import (
    FERRETDB_ENV,
    FERRETDB_VERSION,
    FerretDBError,
    ensure_ferretdb,
    ferretdb_command,
    find_ferretdb,
    find_go,
)

__all__ = ["Mongo", "MongoError", "MongoStartError", "EXTERNAL_MONGO_ENV", "choose_local_server"]

EXTERNAL_MONGO_ENV = "MONGODB_URI"
_TEMP_PREFIX = "kafkalab-mongo-"
_CLIENT_TIMEOUTS = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "socketTimeoutMS": 30000,
}
_PORT_ATTEMPTS = 3


class MongoError(KafkaLabError):
    title = "MongoDB no disponible"


class MongoStartError(MongoError):
    title = "MongoDB no arrancó"


def _sweep_orphaned_directories() -> None:
    """Delete data folders of servers whose owning process died without cleaning up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-*"):
        owner = folder.name.removeprefix(_TEMP_PREFIX).split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _shutdown(process: subprocess.Popen | None, root: Path | None, clients) -> None:
    """Close our clients, kill the server and delete its data. Also runs at interpreter exit."""
    for client in list(clients):
        with contextlib.suppress(Exception):
            client.close()
    if process is not None:
        if process.poll() is None:
            # Closing the guard's stdin is its "owner gone" signal: kill the server, clean up.
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError, ValueError):
            process.stdin.close()
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def _hide_password(uri: str) -> str:
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", uri)


def _server_environment() -> dict[str, str]:
    # FerretDB reads every flag from FERRETDB_* variables too: none may add a listener here.
    return {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}


class Mongo:
    """A MongoDB server (or a MongoDB-compatible one) for one notebook or grading run.

    Start one with :meth:`Mongo.start`; it runs until :meth:`close` (or the end of the
    ``with`` block, or the end of the Python process, even a killed one)::

        from kafkalab import Mongo
        with Mongo.start() as mongo:
            client = mongo.client()
            client.iabd.personas.insert_one({"nombre": "Ana"})

    The local backend runs ``mongod`` when it is installed, else FerretDB 1.x (the MongoDB
    wire protocol over SQLite, built once with Go), on 127.0.0.1 with a temporary data folder.
    """

    def __init__(
        self,
        *,
        backend: str,
        server: str,
        uri: str,
        root: Path | None = None,
        process: subprocess.Popen | None = None,
        port: int | None = None,
        executable: Path | None = None,
    ):
        self.backend = backend
        self.server = server
        self.port = port
        self.executable = executable
        self._uri = uri
        self._root = root
        self._process = process
        self._closed = False
        self._clients: weakref.WeakSet = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _shutdown, process, root, self._clients)

    # --- starting -----------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        backend: str = "auto",
        server: str = "auto",
        timeout: float = 60,
        progress: bool = True,
    ) -> Mongo:
        """Start (or attach to) a MongoDB server and return once it answers ``ping``.

        Args:
            backend: ``"local"`` (a server on this machine), ``"docker"`` (a container of
                ``$KAFKALAB_MONGO_IMAGE`` or ``mongo:7``), ``"external"`` (the one named by
                ``$MONGODB_URI``; nothing is started, and ``close()`` deletes nothing) or
                ``"auto"``: external when that variable is set, else ``$KAFKALAB_BACKEND``,
                else local.
            server: for the local backend, ``"mongod"``, ``"ferretdb"`` or ``"auto"``
                (``mongod`` when it is on ``PATH``, else FerretDB).
            timeout: seconds to wait for the server to answer.
            progress: print a message while FerretDB is built (the first time only).

        Raises:
            MongoError: no server can be had here; the message says what to install.
            MongoStartError: the server died or did not answer; the message has its log.
        """
        if backend == "auto":
            if os.environ.get(EXTERNAL_MONGO_ENV, "").strip():
                backend = "external"
            else:
                backend = os.environ.get("KAFKALAB_BACKEND", "").strip() or "local"
        if backend == "external":
            return cls._attach(timeout=timeout)
        if backend == "docker":
            from ._docker import DockerMongo

            return DockerMongo.start(timeout=timeout, progress=progress)
        if backend != "local":
            raise MongoError(
                f"El backend «{backend}» no existe; usa 'auto', 'local', 'docker' o 'external'."
            )
        kind, executable = choose_local_server(server, progress=progress)
        _sweep_orphaned_directories()
        last_error: MongoStartError | None = None
        for _ in range(_PORT_ATTEMPTS):
            mongo = cls._launch(kind, executable)
            try:
                mongo._wait_until_ready(timeout=timeout)
            except MongoStartError as error:
                lost_race = "address already in use" in mongo.log_tail().lower()
                mongo.close()
                if not lost_race:
                    raise
                last_error = error  # another program took the free port first: try another
                continue
            except BaseException:
                mongo.close()
                raise
            return mongo
        assert last_error is not None
        raise last_error

    @classmethod
    def _launch(cls, kind: str, executable: Path) -> Mongo:
        root = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
        node = root / "server"
        data = node / "data"
        data.mkdir(parents=True)
        (port,) = _free_ports(1)
        if kind == "mongod":
            command = [
                str(executable),
                "--dbpath",
                str(data),
                "--bind_ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--quiet",
                "--nounixsocket",
                "--wiredTigerCacheSizeGB",
                "0.25",
                "--setParameter",
                "diagnosticDataCollectionEnabled=false",
            ]
        else:
            command = ferretdb_command(executable, port=port, data_dir=data, state_dir=node)
        try:
            with open(node / "server.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(GUARD), str(node), "--", *command],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=node,
                    env=_server_environment(),
                    start_new_session=True,
                )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(
            backend="local",
            server=kind,
            uri=f"mongodb://127.0.0.1:{port}/",
            root=root,
            process=process,
            port=port,
            executable=executable,
        )

    @classmethod
    def _attach(cls, *, timeout: float) -> Mongo:
        uri = os.environ.get(EXTERNAL_MONGO_ENV, "").strip()
        if not uri:
            raise MongoError(
                f"Para usar un MongoDB externo define {EXTERNAL_MONGO_ENV}, por ejemplo "
                f"{EXTERNAL_MONGO_ENV}=mongodb://mongo.aula:27017/."
            )
        mongo = cls(backend="external", server="external", uri=uri)
        try:
            mongo._wait_until_ready(timeout=min(timeout, 30))
        except BaseException:
            mongo.close()
            raise
        return mongo

    def _wait_until_ready(self, *, timeout: float) -> None:
        from pymongo import MongoClient
        from pymongo.errors import ConfigurationError, PyMongoError

        deadline = time.monotonic() + timeout
        probe = None
        last_problem = ""
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise MongoStartError(
                        f"El servidor {self.server} terminó al arrancar (código "
                        f"{self._process.returncode}). Últimas líneas de su registro:\n"
                        f"{self.log_tail()}"
                    )
                if self.port is None or _port_open(self.port):
                    if probe is None:
                        try:
                            probe = MongoClient(
                                self._uri,
                                serverSelectionTimeoutMS=1000,
                                connectTimeoutMS=1000,
                                socketTimeoutMS=5000,
                                appname="kafkalab-ready",
                            )
                        except ConfigurationError as error:
                            raise MongoError(
                                f"La dirección de MongoDB no es válida "
                                f"({_hide_password(self._uri)}): {error}"
                            ) from None
                    try:
                        probe.admin.command("ping")
                        return
                    except PyMongoError as error:
                        last_problem = str(error)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            if probe is not None:
                probe.close()
        if self.backend == "external":
            raise MongoStartError(
                f"No hay respuesta de MongoDB en {_hide_password(self._uri)} "
                f"({EXTERNAL_MONGO_ENV}) tras {timeout:.0f} s. Comprueba la dirección y que el "
                f"servidor esté en marcha, o borra {EXTERNAL_MONGO_ENV} para arrancar uno local."
                + (f"\nDetalle: {last_problem}" if last_problem else "")
            )
        raise MongoStartError(
            f"El servidor {self.server} no respondía tras {timeout:.0f} s. Puede que el "
            "ordenador vaya muy cargado: cierra otros notebooks y vuelve a intentarlo. "
            f"Últimas líneas de su registro:\n{self.log_tail()}"
        )

    # --- using --------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Connection string, ``"mongodb://127.0.0.1:PORT/"`` for a local server."""
        return self._uri

    def client(self, **options):
        """A :class:`pymongo.MongoClient` for this server, with short timeouts.

        Keyword arguments go to ``MongoClient`` and override the defaults
        (``serverSelectionTimeoutMS=5000``, ``connectTimeoutMS=5000``,
        ``socketTimeoutMS=30000``). :meth:`close` closes the clients made here.
        """
        self._require_open()
        from pymongo import MongoClient

        client = MongoClient(self._uri, **{**_CLIENT_TIMEOUTS, **options})
        self._clients.add(client)
        return client

    @property
    def data_dir(self) -> Path | None:
        """The temporary folder with the server's data and log (``None`` when external)."""
        return self._root

    @property
    def log_file(self) -> Path | None:
        return None if self._root is None else self._root / "server" / "server.log"

    @property
    def server_pid(self) -> int | None:
        """Process id of the server itself (the guard's child), where /proc tells it."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(children.read_text().split()[0])
        return None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError, TypeError):
            text = self.log_file.read_text(errors="replace").splitlines()
            if text:
                return "\n".join(text[-lines:])
        return "(sin registros)"

    # --- ending -------------------------------------------------------------------

    def close(self) -> None:
        """Stop the server and delete its data (nothing for an external one). Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    def _require_open(self) -> None:
        if self._closed:
            raise MongoError("Este MongoDB ya está cerrado: arranca otro con Mongo.start().")

    def __enter__(self) -> Mongo:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        uri = _hide_password(self._uri)
        if self._closed:
            return f"<Mongo {self.backend} {self.server}: cerrado>"
        if self.backend == "external":
            return f"<Mongo externo uri={uri}>"
        running = self._process is not None and self._process.poll() is None
        state = "en marcha" if running else "parado"
        return f"<Mongo {self.backend} {self.server} uri={uri} {state}>"


def choose_local_server(server: str = "auto", *, progress: bool = True) -> tuple[str, Path]:
    """Which local server to run, and its executable."""
    if server not in ("auto", "mongod", "ferretdb"):
        raise MongoError(f"El servidor «{server}» no existe; usa 'auto', 'mongod' o 'ferretdb'.")
    mongod = shutil.which("mongod")
    if server in ("auto", "mongod") and mongod:
        return "mongod", Path(mongod)
    if server == "mongod":
        raise MongoError(
            "No encuentro mongod en el PATH. Instala MongoDB Community Server "
            "(https://www.mongodb.com/try/download/community) o usa server='ferretdb'."
        )
    ferretdb = find_ferretdb()
    if ferretdb is not None:
        return "ferretdb", ferretdb
    if find_go() is None:
        raise MongoError(
            "No hay ningún servidor MongoDB disponible en este ordenador. Elige una opción:\n"
            "  - instala MongoDB Community Server, para que «mongod» esté en el PATH;\n"
            f"  - o instala Go 1.21 o posterior (https://go.dev/dl/): kafkalab compilará "
            f"FerretDB {FERRETDB_VERSION} la primera vez (o ejecuta «kafkalab install --mongo»);\n"
            f"  - o define {FERRETDB_ENV} con la ruta a un binario de FerretDB 1.x;\n"
            f"  - o define {EXTERNAL_MONGO_ENV} con la dirección de un MongoDB que ya funcione "
            "(por ejemplo el del aula)."
        )
    try:
        return "ferretdb", ensure_ferretdb(progress=progress)
    except FerretDBError as error:
        raise MongoError(
            f"{error}\nAlternativas: instala MongoDB («mongod») o define {EXTERNAL_MONGO_ENV}."
        ) from None
