"""Clusters of every backend for the contract tests (tests/kafkalab/kafka/test_contract.py)."""

from __future__ import annotations

import pytest

from kafkalab import Cluster

OWNED = ["local", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(params=OWNED)
def owned(request):
    """The shared 3-broker cluster of each backend that starts its own brokers."""
    return request.getfixturevalue("cluster3" if request.param == "local" else "docker_cluster3")


@pytest.fixture(params=[*OWNED, "external"])
def cluster(request, monkeypatch):
    """A 3-broker cluster of each backend: the shared local and docker ones, and the local
    one again through the external backend (``$KAFKA_BOOTSTRAP_SERVERS``)."""
    if request.param != "external":
        yield request.getfixturevalue("cluster3" if request.param == "local" else "docker_cluster3")
        return
    local = request.getfixturevalue("cluster3")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", local.bootstrap_servers)
    with Cluster.start(3, progress=False) as attached:
        yield attached


@pytest.fixture(scope="module", params=OWNED)
def failover(request):
    """A 3-broker cluster of its own per backend: these tests stop and kill brokers."""
    with Cluster.start(brokers=3, backend=request.param, progress=False) as started:
        yield started
