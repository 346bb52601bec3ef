"""Shared fixtures: real Kafka clusters (no mocks), unique names, process inspection."""

from __future__ import annotations

import itertools
import os
import subprocess
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


def java_processes_mentioning(text: str) -> list[int]:
    """PIDs of live java processes whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        program = command.split("\0", 1)[0]
        if program.endswith("/java") and text in command and state != "Z":
            found.append(int(entry))
    return found


def listening_sockets(pids: list[int]) -> list[str]:
    """Local addresses of TCP listening sockets owned by ``pids`` (from `ss`)."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = []
    for line in output.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            addresses.append(line.split()[3])
    return addresses
