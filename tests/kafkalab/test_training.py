"""Class data sharing: the training session records an archive that tools and brokers map.

The archive is recorded into a private cache (KAFKA_HOME pointing at the cached jars), so the
test proves the whole path: training with a real broker and real tools, the archive, the
launchers that use it, and JVMs that refuse to start unless they can map it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from kafkalab import Cluster, ensure_kafka
from kafkalab import distribution as dist_module
from kafkalab.training import prepare_class_sharing

pytestmark = pytest.mark.slow


@pytest.fixture
def private_distribution(tmp_path, monkeypatch):
    cached = ensure_kafka(progress=False)
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    for jar in cached.jars:
        (libs / jar.name).symlink_to(jar)
    monkeypatch.setattr(dist_module, "_READY", {})
    monkeypatch.setenv("KAFKA_HOME", str(tmp_path / "kafka"))
    monkeypatch.setenv("KAFKALAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KAFKALAB_CLASS_SHARING", raising=False)
    return ensure_kafka(progress=False)


def _strict_sharing(distribution) -> str:
    """A JVM option that makes start-up fail when the archive cannot be mapped."""
    return "-XX:AOTMode=on" if distribution.java.supports_aot_cache else "-Xshare:on"


def test_training_records_an_archive_that_tools_and_brokers_map(private_distribution):
    distribution = private_distribution
    assert not distribution.class_sharing_ready()

    assert prepare_class_sharing(distribution) is True
    assert distribution.class_sharing_ready()
    assert prepare_class_sharing(distribution) is False  # once is enough

    for kind in ("broker", "tools"):
        argfile = (distribution.config_dir / f"{kind}.jvmargs").read_text()
        assert str(distribution.archive(kind)) in argfile

    env = distribution.tool_environment()
    env["KAFKA_OPTS"] = _strict_sharing(distribution)
    tool = subprocess.run(
        [str(distribution.tool("kafka-topics.sh")), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert tool.returncode == 0, tool.stdout + tool.stderr
    assert distribution.version in tool.stdout

    with Cluster.start(1, progress=False, jvm_options=[_strict_sharing(distribution)]) as cluster:
        assert cluster.distribution.home == distribution.home
        created = cluster.run("kafka-topics.sh --create --topic compartido --partitions 2")
        assert created.returncode == 0


def test_class_sharing_can_be_turned_off(private_distribution, monkeypatch):
    monkeypatch.setenv("KAFKALAB_CLASS_SHARING", "0")
    assert prepare_class_sharing(private_distribution) is False
    assert not private_distribution.class_sharing_ready()
    assert not os.path.exists(private_distribution.home / "cds")
