"""Course notebook 00 on the docker backend: its kernel's cluster runs in containers."""

from __future__ import annotations

import pytest

from tests.support import hola_kafka
from tests.support.backends import containers_on
from tests.support.kafka import wait_for
from tests.support.notebooks import COURSE, execute_notebook

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_notebook_00_runs_on_docker_brokers(monkeypatch):
    monkeypatch.setenv("KAFKALAB_BACKEND", "docker")  # the kernel started below inherits it
    hola = execute_notebook(COURSE / hola_kafka.NOTEBOOK)
    started = [
        "".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
        for cell in hola.cells
        if "start_cluster" in cell.source
    ]
    assert any("<Cluster docker Kafka" in text for text in started), started

    hola_kafka.check_topic_commands(hola)
    hola_kafka.check_reading_from_the_beginning(hola)
    hola_kafka.check_live_consumer(hola)
    # The notebook's last cell closed its cluster, and the kernel has ended.
    assert wait_for(lambda: not containers_on("".join(started)), timeout=30)
