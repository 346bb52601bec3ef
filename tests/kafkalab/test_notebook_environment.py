"""The notebook layer publishes its cluster to the shell (``!kafka-topics.sh``) and takes it
back on close (that ``Cluster.start`` alone publishes nothing is a contract test)."""

from __future__ import annotations

import os
import subprocess

import pytest

import kafkalab

pytestmark = pytest.mark.slow

NAMES = ("KAFKALAB_BOOTSTRAP_SERVER", "PATH", "KAFKALAB_JAVA")


@pytest.fixture
def environment(monkeypatch):
    """A known starting environment, put back by monkeypatch whatever the test does."""
    monkeypatch.setenv("KAFKALAB_BOOTSTRAP_SERVER", "antes:9092")
    monkeypatch.delenv("KAFKALAB_JAVA", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    return {name: os.environ.get(name) for name in NAMES}


def test_start_cluster_publishes_and_close_restores_everything(environment, topic):
    first = kafkalab.start_cluster(brokers=1, progress=False)
    try:
        assert os.environ["KAFKALAB_BOOTSTRAP_SERVER"] == first.bootstrap_servers
        assert os.environ["PATH"].split(os.pathsep)[0] == str(first.distribution.bin_dir)
        assert os.environ["KAFKALAB_JAVA"] == str(first.distribution.java.executable)
        # As `!kafka-topics.sh --create ...` in a notebook cell: no --bootstrap-server.
        created = subprocess.run(
            f"kafka-topics.sh --create --topic {topic}",
            shell=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"Created topic {topic}." in created.stdout, created.stderr
        # Re-running the first cell: the first cluster closes, the second is published.
        second = kafkalab.start_cluster(brokers=1, progress=False)
        assert first.closed
        assert os.environ["KAFKALAB_BOOTSTRAP_SERVER"] == second.bootstrap_servers
        assert os.environ["PATH"].count(str(second.distribution.bin_dir)) == 1
        second.close()
        assert {name: os.environ.get(name) for name in NAMES} == environment
    finally:
        first.close()
