"""Shared fixtures: real Kafka clusters (no mocks), unique names."""

from __future__ import annotations

import itertools
import uuid

import pytest

from kafkalab import Cluster

_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster3():
    """A 3-broker cluster shared by tests that do not stop or kill brokers."""
    with Cluster.start(brokers=3, progress=False) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def docker_cluster3():
    """A 3-broker cluster of the docker backend, shared like ``cluster3``."""
    with Cluster.start(brokers=3, backend="docker", progress=False) as cluster:
        yield cluster


@pytest.fixture
def topic():
    """A topic name no other test uses."""
    return f"t-{next(_counter)}-{uuid.uuid4().hex[:6]}"
