"""Shared fixtures: real Kafka clusters (no mocks), unique names."""

from __future__ import annotations

import itertools
import signal
import uuid

import pytest

from kafkalab import Cluster

# The tests stand for a person at a terminal, whose Ctrl+C reaches the programs they run. A run
# started in the background by a script (`make test &`) inherits SIGINT ignored, and so would
# every JVM it starts (a JVM keeps a signal ignored that was ignored when it started): give
# SIGINT back its usual handler, which the programs the tests start see as the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
