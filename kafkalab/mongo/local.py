"""The local backend: ``mongod`` when it is installed, else FerretDB 1.x (the MongoDB wire
protocol over SQLite, built once with Go), on 127.0.0.1 under the guard
(:mod:`kafkalab.processes`) with a temporary data folder."""

from __future__ import annotations

import os
import shutil
import weakref
from pathlib import Path

from ..errors import FerretDBError, MongoError, MongoStartError
from ..processes import (
    child_pid,
    free_ports,
    log_tail,
    owned_temp_dir,
    release_guarded,
    spawn_guarded,
    sweep_orphaned_dirs,
)
from .base import EXTERNAL_MONGO_ENV, Mongo
from .ferretdb import (
    FERRETDB_ENV,
    FERRETDB_VERSION,
    ensure_ferretdb,
    ferretdb_command,
    find_ferretdb,
    find_go,
)

TEMP_PREFIX = "kafkalab-mongo-"
PORT_ATTEMPTS = 3  # a free port can be taken by another program before the server binds it


class LocalMongo(Mongo):
    """mongod or FerretDB on this machine; see :class:`kafkalab.Mongo`."""

    backend = "local"

    def __init__(self, server: str, executable: Path, port: int, root: Path, process):
        super().__init__(server=server, port=port)
        self.executable = executable
        self.data_dir = root
        self._process = process
        self._finalizer = weakref.finalize(self, release_guarded, [process], root)

    @classmethod
    def _start(cls, *, timeout: float, progress: bool, server: str = "auto") -> LocalMongo:
        kind, executable = choose_local_server(server, progress=progress)
        sweep_orphaned_dirs(TEMP_PREFIX)
        attempts = PORT_ATTEMPTS
        while True:
            mongo = cls._launch(kind, executable)
            try:
                mongo._wait_until_ready(timeout)
                return mongo
            except MongoStartError as error:
                attempts -= 1
                # Another program took the free port first: try another one.
                if not attempts or "address already in use" not in str(error).lower():
                    raise

    @classmethod
    def _launch(cls, kind: str, executable: Path) -> LocalMongo:
        root = owned_temp_dir(TEMP_PREFIX)
        node = root / "server"
        data = node / "data"
        data.mkdir(parents=True)
        (port,) = free_ports(1)
        if kind == "mongod":
            command = [
                str(executable),
                *("--dbpath", str(data), "--bind_ip", "127.0.0.1", "--port", str(port)),
                *("--quiet", "--nounixsocket", "--wiredTigerCacheSizeGB", "0.25"),
                *("--setParameter", "diagnosticDataCollectionEnabled=false"),
            ]
        else:
            command = ferretdb_command(executable, port=port, data_dir=data, state_dir=node)
        # FerretDB reads every flag from FERRETDB_* variables too: none may add a listener.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}
        try:
            with open(node / "server.log", "ab") as log:
                process = spawn_guarded(command, cleanup=node, stdout=log, cwd=node, env=env)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(kind, executable, port, root, process)

    def _exit_code(self) -> int | None:
        return self._process.poll()

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server" / "server.log"

    @property
    def server_pid(self) -> int | None:
        """Process id of the server itself (the guard's child), where /proc tells it."""
        return child_pid(self._process)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_file, lines)

    def _release(self) -> None:
        self._finalizer()


BACKEND = LocalMongo


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
