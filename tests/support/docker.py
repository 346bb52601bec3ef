"""The Docker engine as the docker backend's tests see it: which containers are a cluster's."""

from __future__ import annotations

import re

import docker

from kafkalab.docker_engine import LABEL


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
    engine = docker.from_env()
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
