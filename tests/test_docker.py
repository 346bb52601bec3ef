"""The docker backend on a real Docker engine: brokers and MongoDB in containers.

The syllabus commands run against it too: see the ``docker`` cases of tests/test_cli.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import docker
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from testcontainers.core.labels import SESSION_ID

from kafkalab import Cluster, Mongo
from kafkalab._docker import LABEL, DockerUnavailableError
from kafkalab.errors import CommandError

from .test_cli import describe_partitions
from .test_failover import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def failover_cluster():
    """A 3-broker cluster of its own: these tests stop and kill brokers."""
    with Cluster.start(brokers=3, backend="docker", progress=False) as cluster:
        yield cluster


def leftovers(engine, cluster_id: str) -> dict[str, list[str]]:
    """Containers and networks that carry this cluster's label."""
    label = {"label": f"{LABEL}={cluster_id}"}
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters=label)],
        "networks": [n.name for n in engine.networks.list(filters=label)],
    }


def anonymous_volumes(engine, cluster) -> list[str]:
    names = []
    for broker in cluster.brokers:
        attrs = engine.containers.get(broker.container_id).attrs
        names += [m["Name"] for m in attrs["Mounts"] if m["Type"] == "volume"]
    return names


def test_one_broker_starts_serves_metadata_and_closes_without_a_trace(engine):
    cluster = Cluster.start(brokers=1, backend="docker", progress=False)
    try:
        assert cluster.backend == "docker"
        assert re.fullmatch(r"127\.0\.0\.1:\d+", cluster.bootstrap_servers)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            brokers = admin.describe_cluster()["brokers"]
        finally:
            admin.close()
        assert [(b["broker_id"], b["host"], b["port"]) for b in brokers] == [
            (1, "127.0.0.1", cluster.broker(1).port)
        ]
        assert "1*@" in repr(cluster) and "en marcha" in repr(cluster)
        assert os.environ["KAFKALAB_BOOTSTRAP_SERVER"] == cluster.bootstrap_servers
        found = leftovers(engine, cluster.cluster_id)
        assert len(found["containers"]) == 1 and len(found["networks"]) == 1
        volumes = anonymous_volumes(engine, cluster)
        assert volumes  # the image's data volume
    finally:
        cluster.close()
    assert leftovers(engine, cluster.cluster_id) == {"containers": [], "networks": []}
    assert not [v for v in volumes if v in {v.name for v in engine.volumes.list()}]
    assert "cerrado" in repr(cluster)
    assert "KAFKALAB_BOOTSTRAP_SERVER" not in os.environ
    cluster.close()  # twice is fine


def test_three_brokers_form_a_three_controller_quorum(docker_cluster3):
    assert [b.node_id for b in docker_cluster3.brokers] == [1, 2, 3]
    assert all(b.controller and b.state == "running" for b in docker_cluster3.brokers)
    quorum = docker_cluster3.run("kafka-metadata-quorum.sh describe --status").stdout
    voters = next(line for line in quorum.splitlines() if line.startswith("CurrentVoters"))
    assert sorted(int(i) for i in re.findall(r'"id":\s*(\d+)', voters)) == [1, 2, 3]
    # The CLI runs inside a container and talks to the brokers on the Docker network.
    assert docker_cluster3.internal_bootstrap_servers == (
        "kafka-1:19092,kafka-2:19092,kafka-3:19092"
    )


def test_kafka_python_on_the_host_produces_and_consumes_with_keys(docker_cluster3, topic):
    docker_cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    producer = KafkaProducer(bootstrap_servers=docker_cluster3.bootstrap_servers, acks="all")
    sent = [(f"alumno{i % 3}".encode(), f"mensaje {i}".encode()) for i in range(30)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=docker_cluster3.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10000,
    )
    received, partitions_of_key = [], {}
    try:
        for record in consumer:
            received.append((record.key, record.value))
            partitions_of_key.setdefault(record.key, set()).add(record.partition)
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert sorted(received) == sorted(sent)
    assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key


def test_a_tool_that_runs_too_long_is_killed_inside_the_container(docker_cluster3, topic):
    docker_cluster3.run(f"kafka-topics.sh --create --topic {topic}")
    with pytest.raises(CommandError, match="--max-messages"):
        docker_cluster3.run(f"kafka-console-consumer.sh --topic {topic}", timeout=4)
    # docker exec has no kill of its own: the consumer's JVM must not go on in the container.
    container = docker.from_env().containers.get(docker_cluster3.broker(1).container_id)
    processes = [" ".join(row) for row in container.top(ps_args="-eo pid,args")["Processes"]]
    assert not [p for p in processes if "ConsoleConsumer" in p and topic in p], processes


def test_every_published_port_is_on_loopback(docker_cluster3, engine):
    listening = subprocess.run(
        ["ss", "-ltnH"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    local_addresses = [line.split()[3] for line in listening if line.strip()]
    containers = [engine.containers.get(b.container_id) for b in docker_cluster3.brokers]
    containers += engine.containers.list(filters={"name": f"testcontainers-ryuk-{SESSION_ID}"})
    published = []
    for container in containers:
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            for binding in bindings or []:
                published.append(binding)
                assert binding["HostIp"] == "127.0.0.1", (container.name, binding)
                port = binding["HostPort"]
                assert f"127.0.0.1:{port}" in local_addresses
                assert not [
                    a
                    for a in local_addresses
                    if a.endswith(f":{port}") and not a.startswith("127.0.0.1:")
                ], port
    # Three brokers and Ryuk; the INTERNAL and CONTROLLER listeners are not published.
    assert len(published) == 4, published
    assert sorted(int(b["HostPort"]) for b in published[:3]) == sorted(
        b.port for b in docker_cluster3.brokers
    )


def test_stopping_the_leader_moves_leadership_and_shrinks_the_isr(failover_cluster, topic):
    cluster = failover_cluster
    cluster.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 3")
    (before,) = describe_partitions(cluster, topic)
    leader = int(before["Leader"])
    assert sorted(before["Isr"].split(",")) == ["1", "2", "3"]

    cluster.stop_broker(leader)
    assert cluster.broker(leader).state == "stopped"
    assert cluster.broker(leader).container_status() == "exited"
    (after,) = describe_partitions(cluster, topic)
    assert int(after["Leader"]) != leader
    assert str(leader) not in after["Isr"].split(",")
    assert str(leader) in after["Replicas"].split(",")

    cluster.start_broker(leader)
    assert cluster.broker(leader).state == "running"
    rejoined = wait_for(
        lambda: str(leader) in describe_partitions(cluster, topic)[0]["Isr"].split(",")
    )
    assert rejoined, describe_partitions(cluster, topic)


def test_kill_broker_kills_the_container_and_it_comes_back(failover_cluster, topic):
    cluster = failover_cluster
    victim = cluster.broker(2)
    cluster.kill_broker(2)
    assert victim.state == "killed"
    assert victim.container_status() == "exited"
    container = docker.from_env().containers.get(victim.container_id)
    assert container.attrs["State"]["ExitCode"] == 137  # SIGKILL
    assert "2*@" in repr(cluster) and "matado" in repr(cluster)
    with pytest.raises(Exception, match="no está en marcha"):
        cluster.stop_broker(2)
    cluster.start_broker(2)
    assert victim.state == "running"
    created = cluster.run(f"kafka-topics.sh --create --topic {topic} --replication-factor 3")
    assert f"Created topic {topic}." in created.stdout


def test_sigkill_of_the_owner_leaves_no_container_and_no_network(engine, tmp_path):
    """Ryuk removes everything of a process that died without closing its cluster."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import json, sys, time\n"
        "from testcontainers.core.labels import SESSION_ID\n"
        "from kafkalab import Cluster, Mongo\n"
        "cluster = Cluster.start(brokers=1, backend='docker', progress=False)\n"
        "mongo = Mongo.start(backend='docker')\n"
        "print(json.dumps({'cluster': cluster.cluster_id, 'session': SESSION_ID,\n"
        "                  'mongo': mongo.container_id}), flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        started = json.loads(owner.stdout.readline())
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    session = {"label": f"org.testcontainers.session-id={started['session']}"}
    assert engine.containers.list(all=True, filters=session)  # still there right after
    killed_at = time.monotonic()

    def everything_gone() -> bool:
        return (
            leftovers(engine, started["cluster"]) == {"containers": [], "networks": []}
            and not engine.containers.list(all=True, filters=session)
            and not engine.containers.list(
                all=True, filters={"name": f"testcontainers-ryuk-{started['session']}"}
            )
        )

    assert wait_for(everything_gone, timeout=30), "containers outlived their owner"
    assert time.monotonic() - killed_at < 30


def test_docker_mongo_stores_and_finds_documents(engine):
    with Mongo.start(backend="docker") as mongo:
        assert mongo.backend == "docker"
        assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+/", mongo.uri)
        collection = mongo.client()["iabd"]["kafka_personas"]
        collection.insert_many([{"nombre": "Ana", "edad": 30}, {"nombre": "Luis", "edad": 41}])
        found = collection.find_one({"nombre": "Luis"}, {"_id": False})
        assert found == {"nombre": "Luis", "edad": 41}
        assert collection.count_documents({}) == 2
        container_id = mongo.container_id
        ports = engine.containers.get(container_id).attrs["NetworkSettings"]["Ports"]
        assert [b["HostIp"] for b in ports["27017/tcp"]] == ["127.0.0.1"]
    assert not engine.containers.list(all=True, filters={"id": container_id})
    assert "cerrado" in repr(mongo)


@pytest.fixture
def no_docker_engine(tmp_path, monkeypatch):
    """DOCKER_HOST at a unix socket nobody listens on."""
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


def test_without_an_engine_the_error_is_spanish_and_says_what_to_do(no_docker_engine, monkeypatch):
    with pytest.raises(DockerUnavailableError) as raised:
        Cluster.start(brokers=1, backend="docker", progress=False)
    message = str(raised.value)
    assert "ningún motor de Docker responde" in message
    assert str(no_docker_engine) in message
    assert "backend='local'" in message
    with pytest.raises(DockerUnavailableError, match="ningún motor de Docker responde"):
        Mongo.start(backend="docker")
    # backend="auto" follows $KAFKALAB_BACKEND.
    monkeypatch.setenv("KAFKALAB_BACKEND", "docker")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(DockerUnavailableError):
        Cluster.start(brokers=1, progress=False)


def test_an_image_that_cannot_be_had_is_explained(engine):
    from kafkalab._docker import DockerCluster

    with pytest.raises(DockerUnavailableError) as raised:
        DockerCluster.start(1, image="kafkalab/no-existe:0", progress=False)
    message = str(raised.value)
    assert "La imagen «kafkalab/no-existe:0» no está en este Docker" in message
    assert "images/build.sh" in message
    assert not engine.containers.list(all=True, filters={"ancestor": "kafkalab/no-existe:0"})


# --- notebooks and grading on the docker backend ---------------------------------------------


@pytest.fixture
def docker_backend_for_kernels():
    """KAFKALAB_BACKEND=docker in the environment that kernels started now inherit."""
    saved = os.environ.get("KAFKALAB_BACKEND")
    os.environ["KAFKALAB_BACKEND"] = "docker"
    yield
    if saved is None:
        os.environ.pop("KAFKALAB_BACKEND", None)
    else:
        os.environ["KAFKALAB_BACKEND"] = saved


def containers_on(engine, text: str) -> list[str]:
    """kafkalab containers (any state) publishing a port of the cluster reprs in ``text``.

    Other sessions may run docker clusters meanwhile, so only these ports say what is ours.
    """
    ports = {
        port
        for servers in re.findall(r"<Cluster docker .*?bootstrap=(\S+)", text)
        for port in re.findall(r":(\d+)", servers)
    }
    assert ports, "no docker cluster repr in the output"
    found = []
    for container in engine.containers.list(all=True, filters={"label": LABEL}):
        bindings = container.attrs["HostConfig"].get("PortBindings") or {}
        published = {b.get("HostPort") for spec in bindings.values() for b in spec or []}
        if published & ports:
            found.append(container.name)
    return found


def test_notebook_00_runs_on_docker_brokers(engine, docker_backend_for_kernels):
    from .notebooks import COURSE, cell_output, execute_notebook
    from .test_course_a import describe_rows, panes, plain_output

    hola = execute_notebook(COURSE / "00-hola-kafka.md")
    started = [
        "".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
        for cell in hola.cells
        if "start_cluster" in cell.source
    ]
    assert any("<Cluster docker Kafka" in text for text in started), started

    assert "Created topic saludos." in cell_output(hola, "crear-topic")
    assert "saludos" in cell_output(hola, "listar-topics").split()
    description = cell_output(hola, "describir-topic")
    assert "PartitionCount: 1" in description and "ReplicationFactor: 1" in description
    assert describe_rows(description) == {0: {"Leader": [1], "Replicas": [1], "Isr": [1]}}
    output = cell_output(hola, "consumir-desde-el-principio")
    expected = [
        "Hola, Kafka",
        "Este es el segundo mensaje",
        "Y este, el tercero",
        "Un cuarto mensaje, enviado desde la shell",
    ]
    assert [line for line in output.splitlines() if line in expected] == expected
    assert "Processed a total of 4 messages" in output
    assert "Processed a total of 0 messages" in cell_output(hola, "consumir-sin-from-beginning")
    (records,) = panes(plain_output(hola, "consumidor-en-vivo"))
    assert [record["value"] for record in records] == [*expected, "¿Me lees?", "Sí, al momento"]
    # The notebook's last cell closed its cluster, and the kernel has ended.
    assert wait_for(lambda: not containers_on(engine, "".join(started)), timeout=30)


def test_activity1_is_graded_exactly_with_docker_clusters(
    engine, docker_backend_for_kernels, tmp_path
):
    import shutil

    from autograder.grading import grade_class, prepare_course
    from autograder.notebooks import COURSE_ROOT
    from tests.fixtures.submissions import ACTIVITY1, SUBMISSIONS, write_submission

    root = tmp_path / "curso"
    root.mkdir()
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root)
    shutil.copytree(
        COURSE_ROOT / "source", root / "source", ignore=shutil.ignore_patterns("*.ipynb")
    )
    prepare_course(root)
    students = ["correcto", "sin-nombre"]
    for student in students:
        write_submission(root, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1][student][0])
    from autograder.servers import default_pool

    default_pool().close()
    # KAFKALAB_BACKEND=docker: the grader's own clusters are docker ones, lent to the kernels.
    results = grade_class(
        ACTIVITY1, course_root=root, mode="warm", students=students, progress=lambda _: None
    )
    for result in results:
        assert result.ok, f"{result.student}: {result.error}"
    assert {r.student: r.score for r in results} == pytest.approx(
        {student: SUBMISSIONS[ACTIVITY1][student][1] for student in students}
    )
    idle = [c for clusters in default_pool()._clusters.values() for c, _settings in clusters]
    assert len(idle) == 1 and idle[0].backend == "docker", idle
    reprs = repr(idle[0])
    for student in students:
        text = (root / "autograded" / student / ACTIVITY1 / f"{ACTIVITY1}.ipynb").read_text()
        # Each kernel attached to the grader's docker cluster.
        assert f"<Cluster externo bootstrap={idle[0].bootstrap_servers} " in text, student
    assert containers_on(engine, reprs)
    default_pool().close()
    graded = reprs
    # The pool closed its clusters: their containers are gone.
    assert wait_for(lambda: not containers_on(engine, graded), timeout=30)
