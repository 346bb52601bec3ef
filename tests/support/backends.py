"""What a backend left running, seen from outside kafkalab: processes, folders, containers,
listening sockets. The contract tests ask these questions of every backend alike."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from kafkalab.docker_engine import LABEL
from tests.support.processes import java_processes_mentioning


def _engine():
    import docker

    return docker.from_env()


def cluster_leftovers(backend: str, *, data_dir: str | None, cluster_id: str) -> list[str]:
    """What of a cluster still exists: broker JVMs and the data folder (local), containers,
    networks and volumes carrying its label (docker). Empty when nothing is left."""
    if backend == "local":
        found = [f"java {pid}" for pid in java_processes_mentioning(data_dir)]
        return found + ([f"folder {data_dir}"] if Path(data_dir).exists() else [])
    engine = _engine()
    label = {"label": f"{LABEL}={cluster_id}"}
    try:
        containers = engine.containers.list(all=True, filters=label)
        volumes = [
            mount["Name"]
            for container in containers
            for mount in container.attrs["Mounts"]
            if mount["Type"] == "volume"
        ]
        return (
            [f"container {c.name}" for c in containers]
            + [f"network {n.name}" for n in engine.networks.list(filters=label)]
            + [f"volume {v}" for v in volumes]
        )
    finally:
        engine.close()


def mongo_leftovers(backend: str, *, pid: int | None, data_dir: str | None, container: str | None):
    """What of a MongoDB server still exists: its process and folder, or its container."""
    if backend == "local":
        alive = pid is not None and Path(f"/proc/{pid}").exists()
        if alive and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            alive = False
        return ([f"server {pid}"] if alive else []) + (
            [f"folder {data_dir}"] if Path(data_dir).exists() else []
        )
    engine = _engine()
    try:
        found = engine.containers.list(all=True, filters={"id": container})
        return [f"container {c.name}" for c in found]
    finally:
        engine.close()


def listening_addresses(cluster) -> list[str]:
    """The addresses on this machine where the cluster's brokers take connections: the
    JVMs' listening sockets (local) or the containers' published ports (docker)."""
    listening = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    if cluster.backend == "local":
        pids = [broker.java_pid for broker in cluster.brokers]
        assert all(pids), pids
        return [line.split()[3] for line in listening if any(f"pid={p}," in line for p in pids)]
    engine = _engine()
    try:
        addresses = []
        for broker in cluster.brokers:
            ports = engine.containers.get(broker.container_id).attrs["NetworkSettings"]["Ports"]
            for bindings in ports.values():
                for binding in bindings or []:
                    port = binding["HostPort"]
                    # What really listens on that port, on any address of this machine.
                    addresses += [
                        line.split()[3]
                        for line in listening
                        if line.split()[3].rsplit(":", 1)[1] == port
                    ]
        return addresses
    finally:
        engine.close()


def containers_on(text: str) -> list[str]:
    """kafkalab containers (any state) publishing a port of the cluster reprs in ``text``.

    Other sessions may run docker clusters meanwhile, so only these ports say what is ours.
    """
    ports = {
        port
        for servers in re.findall(r"<Cluster docker .*?bootstrap=(\S+)", text)
        for port in re.findall(r":(\d+)", servers)
    }
    assert ports, "no docker cluster repr in the output"
    engine = _engine()
    try:
        containers = engine.containers.list(all=True, filters={"label": LABEL})
    finally:
        engine.close()
    found = []
    for container in containers:
        bindings = container.attrs["HostConfig"].get("PortBindings") or {}
        published = {b.get("HostPort") for spec in bindings.values() for b in spec or []}
        if published & ports:
            found.append(container.name)
    return found


# The two local MongoDB servers the course runs on: the real mongod (the wheel's on Linux
# x86_64) and FerretDB, the fallback elsewhere. Tests that touch MongoDB run on both.
MONGO_SERVERS = ("mongod", "ferretdb")


@contextlib.contextmanager
def mongo_server(kind: str) -> Iterator[None]:
    """Make every ``Mongo.start()`` of this process and its children (kernels, graders) use
    ``kind``, through ``$KAFKALAB_MONGO_SERVER``; put the variable back afterwards."""
    from kafkalab.mongo.local import SERVER_ENV

    before = os.environ.get(SERVER_ENV)
    os.environ[SERVER_ENV] = kind
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SERVER_ENV, None)
        else:
            os.environ[SERVER_ENV] = before
