"""Apache Kafka assembled from its Maven Central jars, cached per user, verified by lock file.

The lock file (``kafkalab/locks/kafka-<version>.json``) names every jar of the distribution
with its size and SHA-256. The first use downloads the jars into the user cache with a
progress bar; later uses only verify them, so Kafka works offline after that. ``KAFKA_HOME``
pointing at an unpacked Kafka uses its ``libs/`` instead. Either way the launch scripts with
the official names (``kafka-topics.sh``...) are written to ``<distribution>/bin``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ChecksumError, DownloadError, KafkaLabError
from .java import Java, find_java

__all__ = [
    "Distribution",
    "ensure_kafka",
    "ensure_connect",
    "DEFAULT_KAFKA_VERSION",
    "TOOLS",
    "cache_root",
]

DEFAULT_KAFKA_VERSION = "4.4.0"
LOCK_DIR = Path(__file__).parent / "locks"
# The warm tool JVM (kafkalab.tooljvm): its source, compiled per distribution, and the client
# the launch scripts run to reach it (named to them by the cluster's environment, so that the
# scripts are the same whichever Python wrote them).
TOOL_SERVER_SOURCE = Path(__file__).parent / "toolserver" / "ToolServer.java"
TOOL_CLIENT = Path(__file__).parent / "_tool_client.py"

# Launch script name -> (main class, whether it talks to brokers through --bootstrap-server).
TOOLS: dict[str, tuple[str, bool]] = {
    "kafka-topics.sh": ("org.apache.kafka.tools.TopicCommand", True),
    "kafka-console-producer.sh": ("org.apache.kafka.tools.ConsoleProducer", True),
    "kafka-console-consumer.sh": ("org.apache.kafka.tools.consumer.ConsoleConsumer", True),
    "kafka-consumer-groups.sh": (
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        True,
    ),
    "kafka-console-share-consumer.sh": (
        "org.apache.kafka.tools.consumer.ConsoleShareConsumer",
        True,
    ),
    "kafka-share-groups.sh": ("org.apache.kafka.tools.consumer.group.ShareGroupCommand", True),
    "kafka-configs.sh": ("org.apache.kafka.tools.ConfigCommand", True),
    "kafka-get-offsets.sh": ("org.apache.kafka.tools.GetOffsetShell", True),
    "kafka-metadata-quorum.sh": ("org.apache.kafka.tools.MetadataQuorumCommand", True),
    "kafka-features.sh": ("org.apache.kafka.tools.FeatureCommand", True),
    "kafka-cluster.sh": ("org.apache.kafka.tools.ClusterTool", True),
    "kafka-broker-api-versions.sh": ("org.apache.kafka.tools.BrokerApiVersionsCommand", True),
    "kafka-leader-election.sh": ("org.apache.kafka.tools.LeaderElectionCommand", True),
    "kafka-reassign-partitions.sh": (
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        True,
    ),
    "kafka-delete-records.sh": ("org.apache.kafka.tools.DeleteRecordsCommand", True),
    "kafka-log-dirs.sh": ("org.apache.kafka.tools.LogDirsCommand", True),
    "kafka-transactions.sh": ("org.apache.kafka.tools.TransactionsCommand", True),
    "kafka-consumer-perf-test.sh": ("org.apache.kafka.tools.ConsumerPerformance", True),
    "kafka-producer-perf-test.sh": ("org.apache.kafka.tools.ProducerPerformance", True),
    "kafka-acls.sh": ("org.apache.kafka.tools.AclCommand", True),
    "kafka-storage.sh": ("kafka.tools.StorageTool", False),
    "kafka-dump-log.sh": ("org.apache.kafka.tools.DumpLogSegments", False),
}
# The options by which a tool is given a client properties file (credentials for a class's
# shared Kafka): Kafka 4.4 takes --command-config everywhere, the others are older names some
# tools still accept. Neither the launch scripts nor Cluster.run add one when any is given.
CLIENT_CONFIG_OPTIONS = (
    "--command-config",
    "--producer.config",
    "--consumer.config",
    "--consumer-config",
    "--admin.config",
)
_GIVEN_CLIENT_CONFIG = "|".join(f'*" {option}"*' for option in CLIENT_CONFIG_OPTIONS)

BROKER_MAIN = "kafka.Kafka"
CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"
# Connect plugins the lock file names, and the connectors each one offers, listed for Java's
# ServiceLoader (see ensure_connect): a worker with plugin.discovery=service_load finds them
# without scanning every class of every jar.
CONNECT_PLUGIN_SERVICES: dict[str, dict[str, list[str]]] = {
    "mongodb": {
        "org.apache.kafka.connect.sink.SinkConnector": [
            "com.mongodb.kafka.connect.MongoSinkConnector"
        ],
    },
}

# The JVM is tuned for a laptop or a 2 GB Binder pod: small heaps, serial GC, the quick C1
# compiler only, and class data sharing (see Distribution.sharing_options).
BROKER_JVM_OPTIONS = [
    "-Xms64m",
    "-Xmx224m",
    "-XX:MaxDirectMemorySize=64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:CICompilerCount=1",
    "-Xss512k",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    # Plain IPv4 sockets: listeners bind 127.0.0.1, not an IPv6 socket mapped onto it.
    "-Djava.net.preferIPv4Stack=true",
]
CONNECT_JVM_OPTIONS = [
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
]
TOOL_JVM_OPTIONS = [
    "-Xmx128m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
]

_BROKER_LOG4J = """\
# Broker logs go to files in kafka.logs.dir, like the official distribution.
status = warn
appender.server.type = File
appender.server.name = server
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

TOOLS_LOG4J = """\
# Command line tools print only warnings and errors, to stderr.
status = error
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
# A console consumer in a group prints a note on Kafka 4's new group protocol (KIP-848) on
# stderr unless this logger is at INFO, where the consumer logs it instead. The course keeps
# the classic protocol (kafka-python 3.0 has no other, and lesson 04 says so once): at INFO,
# shown from WARN on, the note is left out of every output and warnings still show.
logger.classic.name = org.apache.kafka.clients.consumer.internals.ClassicKafkaConsumer
logger.classic.level = INFO
logger.classic.additivity = false
logger.classic.appenderRef.stderr.ref = stderr
logger.classic.appenderRef.stderr.level = WARN
"""

# A Connect worker logs at INFO on its standard output, like the official distribution's
# connect-log4j2.yaml (kafkalab.connect sends that output to the worker's log file).
_CONNECT_LOG4J = """\
status = error
appender.stdout.type = Console
appender.stdout.name = stdout
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %X{connector.context}%m (%c:%L)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = stdout
logger.classgraph.name = io.github.classgraph
logger.classgraph.level = ERROR
"""

# The warm tool JVM: the same, written through System.err as it is when each line is logged
# (the server gives every call its own System.err), and without the warning a second client
# with the same client.id gives in one JVM (its metrics MBean name is taken), which a tool in
# a JVM of its own never prints.
_TOOL_SERVER_LOG4J = (
    TOOLS_LOG4J
    + """appender.stderr.follow = true
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = ERROR
"""
)


def cache_root() -> Path:
    """``$KAFKALAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/kafkalab``, else ``~/.cache/kafkalab``."""
    if os.environ.get("KAFKALAB_CACHE_DIR"):
        return Path(os.environ["KAFKALAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kafkalab"


@dataclass(frozen=True)
class Jar:
    coordinates: str
    path: str
    sha256: str
    size: int

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Lock:
    """A lock file: the jars of brokers and tools (``jars``), what a Kafka Connect worker
    adds to them (``connect``) and the Connect plugins, one folder each (``connect_plugins``,
    name -> jars). ``tools/lock_kafka.py`` writes it."""

    kafka_version: str
    repository: str
    jars: tuple[Jar, ...]
    connect: tuple[Jar, ...] = ()
    connect_plugins: tuple[tuple[str, tuple[Jar, ...]], ...] = ()

    @classmethod
    def load(cls, path: Path) -> Lock:
        data = json.loads(path.read_text())
        return cls(
            kafka_version=data["kafka_version"],
            repository=data["repository"],
            jars=tuple(Jar(**jar) for jar in data["jars"]),
            connect=tuple(Jar(**jar) for jar in data.get("connect", ())),
            connect_plugins=tuple(
                (name, tuple(Jar(**jar) for jar in jars))
                for name, jars in data.get("connect_plugins", {}).items()
            ),
        )

    def part(self, jars: tuple[Jar, ...]) -> Lock:
        """The same repository and version with only ``jars`` (for :func:`ensure_jars`)."""
        return Lock(self.kafka_version, self.repository, jars)


def available_versions() -> list[str]:
    return sorted(p.stem.removeprefix("kafka-") for p in LOCK_DIR.glob("kafka-*.json"))


@dataclass
class Distribution:
    """A Kafka ready to run: its jars, launch scripts and JVM settings.

    Attributes:
        version: the Kafka version, e.g. ``"4.4.0"``.
        home: the folder that holds ``bin/``, ``config/`` and (for a downloaded Kafka) ``libs/``.
        jars: the class path, in order.
        java: the Java runtime that runs it.
    """

    version: str
    home: Path
    jars: list[Path]
    java: Java
    kafka_home: Path | None = None
    _verified: bool = field(default=False, repr=False)

    @property
    def bin_dir(self) -> Path:
        # Per Java runtime (its path and build, not just its major version): the JVM options
        # and the class archive they name only suit the runtime they were made for.
        return self.home / self.java.identity / "bin"

    @property
    def config_dir(self) -> Path:
        return self.home / self.java.identity / "config"

    def tool(self, name: str) -> Path:
        """The launch script of a Kafka CLI tool, e.g. ``tool("kafka-topics.sh")``."""
        return self.bin_dir / (name if name.endswith(".sh") else f"{name}.sh")

    @property
    def archive_kinds(self) -> tuple[str, ...]:
        """The kinds of JVM with a class archive of their own: brokers, tools, and (Java 25+)
        the warm tool JVM, whose AOT cache also holds its own classes."""
        if self.java.supports_aot_cache:
            return ("broker", "tools", "toolserver")
        return ("broker", "tools")

    def archive(self, kind: str) -> Path:
        """The class archive for ``kind`` (one of :attr:`archive_kinds`) with this Java.

        Java 25 and newer: one AOT cache (JEP 483/514) per kind, recorded by a training run.
        Java 17 to 24: one static AppCDS archive shared by every kind, dumped from
        the classes both loaded during training (see :mod:`kafkalab.training`). Named by the
        runtime's identity: an archive recorded by another build of the same Java version
        would be ignored (or half used) without a word.
        """
        if self.java.supports_aot_cache:
            return self.home / "cds" / f"{kind}-{self.java.identity}.aot"
        return self.home / "cds" / f"kafka-{self.java.identity}.jsa"

    @property
    def tool_server_jar(self) -> Path:
        """The warm tool JVM's server, compiled from its source (see :mod:`kafkalab.tooljvm`)."""
        digest = hashlib.sha256(TOOL_SERVER_SOURCE.read_bytes()).hexdigest()[:12]
        return self.home / "toolserver" / f"toolserver-{digest}.jar"

    def class_sharing_ready(self) -> bool:
        return all(self.archive(kind).exists() for kind in self.archive_kinds)

    def sharing_options(self, kind: str) -> list[str]:
        """JVM options that map the recorded classes of ``kind``, when there is an archive.

        A stale archive (other jars, other JVM build) is ignored by the JVM, silently.
        """
        archive = self.archive(kind)
        if not archive.exists():
            return []
        # The JVM's own messages about the archive go to stdout, where a tool's output is
        # read: all of them off (``aot*``: Java 25 warns under [aot,codecache,stubs] about
        # adapters it regenerates, on every start, while still using the cache).
        if self.java.supports_aot_cache:
            return [f"-XX:AOTCache={archive}", "-Xlog:aot*=off", "-Xlog:cds*=off"]
        return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto", "-Xlog:cds*=off"]

    def broker_command(
        self,
        properties: Path,
        logs_dir: Path,
        *,
        extra: Sequence[str] = (),
        argfile: Path | None = None,
    ) -> list[str]:
        """The java command line of a broker or controller reading ``properties``.

        ``argfile`` replaces the tuned JVM options of ``config/broker.jvmargs``.
        """
        return [
            str(self.java.executable),
            f"@{argfile or self.config_dir / 'broker.jvmargs'}",
            *extra,
            f"-Dkafka.logs.dir={logs_dir}",
            BROKER_MAIN,
            str(properties),
        ]

    def tool_environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose PATH finds the launch scripts first."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        env["KAFKALAB_JAVA"] = str(self.java.executable)
        return env

    def run_tool(
        self,
        tool: str,
        args: Sequence[str],
        *,
        input: str | None,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> tuple[int | None, str, str]:
        """Run a CLI tool here: ``(exit code, stdout, stderr)``, the code None when it was
        stopped after ``timeout`` seconds. ``env``: variables to add (a warm tool JVM's)."""
        try:
            done = subprocess.run(
                [str(self.tool(tool)), *args],
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.tool_environment() | (env or {}),
            )
        except subprocess.TimeoutExpired as expired:
            said = [
                text.decode(errors="replace") if isinstance(text, bytes) else text or ""
                for text in (expired.stdout, expired.stderr)
            ]
            return None, *said
        return done.returncode, done.stdout, done.stderr

    def bootstrap_checkpoint(self) -> Path:
        """The bootstrap metadata checkpoint that ``kafka-storage.sh format`` writes.

        It depends only on the Kafka version, so it is made once and copied into each new
        controller's metadata directory: formatting every node with a JVM would add about a
        second per node to every cluster start.
        """
        template = self.home / "bootstrap"
        found = sorted(template.glob("__cluster_metadata-0/*.checkpoint"))
        if found:
            return found[0]
        with tempfile.TemporaryDirectory(prefix="kafkalab-format-") as scratch:
            data = Path(scratch) / "data"
            properties = Path(scratch) / "controller.properties"
            properties.write_text(
                "process.roles=controller\nnode.id=1\n"
                "controller.quorum.voters=1@127.0.0.1:9093\n"
                "listeners=CONTROLLER://127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n"
                f"log.dirs={data}\n"
            )
            completed = subprocess.run(
                [
                    str(self.tool("kafka-storage.sh")),
                    "format",
                    "--cluster-id",
                    "AAAAAAAAAAAAAAAAAAAAAA",
                    "--config",
                    str(properties),
                ],
                capture_output=True,
                text=True,
                env=self.tool_environment(),
                timeout=120,
            )
            made = sorted(data.glob("__cluster_metadata-0/*.checkpoint"))
            if completed.returncode != 0 or not made:
                raise KafkaLabError(
                    "kafka-storage.sh format no pudo preparar los metadatos iniciales:\n"
                    + (completed.stdout + completed.stderr)[-3000:]
                )
            staging = Path(tempfile.mkdtemp(prefix="bootstrap-", dir=self.home))
            (staging / "__cluster_metadata-0").mkdir()
            shutil.copy(made[0], staging / "__cluster_metadata-0" / made[0].name)
            with contextlib.suppress(OSError):
                # Another process may have won the race: keep theirs.
                staging.rename(template)
            shutil.rmtree(staging, ignore_errors=True)
        return sorted(template.glob("__cluster_metadata-0/*.checkpoint"))[0]

    # --- files written next to the jars ---------------------------------------------

    def write_launchers(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        classpath = os.pathsep.join(str(jar) for jar in self.jars)
        _write_if_changed(self.config_dir / "log4j2.properties", _BROKER_LOG4J)
        _write_if_changed(self.config_dir / "tools-log4j2.properties", TOOLS_LOG4J)
        _write_if_changed(self.config_dir / "toolserver-log4j2.properties", _TOOL_SERVER_LOG4J)
        for kind, options, log4j in [
            ("broker", BROKER_JVM_OPTIONS, "log4j2.properties"),
            ("tools", TOOL_JVM_OPTIONS, "tools-log4j2.properties"),
        ]:
            lines = [
                *options,
                *(_argfile_quote(option) for option in self.sharing_options(kind)),
                f"-Dlog4j2.configurationFile={_argfile_quote(str(self.config_dir / log4j))}",
                "-cp",
                _argfile_quote(classpath),
            ]
            _write_if_changed(self.config_dir / f"{kind}.jvmargs", "\n".join(lines) + "\n")
        # The warm tool JVM: the tools' options, its own class archive (AppCDS: the tools'
        # one, which a class path that extends the archive's keeps usable), its own log4j
        # settings, and its jar after Kafka's.
        server_lines = [
            *TOOL_JVM_OPTIONS,
            *(_argfile_quote(option) for option in self.sharing_options("toolserver")),
            "-Dlog4j2.configurationFile="
            + _argfile_quote(str(self.config_dir / "toolserver-log4j2.properties")),
            "-cp",
            _argfile_quote(os.pathsep.join([classpath, str(self.tool_server_jar)])),
        ]
        _write_if_changed(self.config_dir / "toolserver.jvmargs", "\n".join(server_lines) + "\n")
        run_class = f"""#!/bin/sh
# Generated by kafkalab for Apache Kafka {self.version}: runs a Kafka main class.
# JVM options and class path: {self.config_dir}/tools.jvmargs (tools) and broker.jvmargs.
JAVA={shlex.quote(str(self.java.executable))}
ARGS="${{KAFKALAB_JVMARGS:-{self.config_dir}/tools.jvmargs}}"
exec "$JAVA" "@$ARGS" $KAFKA_OPTS "$@"
"""
        _write_if_changed(self.bin_dir / "kafka-run-class.sh", run_class, executable=True)
        run = shlex.quote(str(self.bin_dir / "kafka-run-class.sh"))
        for name, (main_class, takes_bootstrap) in TOOLS.items():
            default_bootstrap = ""
            if takes_bootstrap:
                default_bootstrap = f"""\
# Inside a notebook kafkalab sets KAFKALAB_BOOTSTRAP_SERVER to the running cluster.
if [ -n "$KAFKALAB_BOOTSTRAP_SERVER" ]; then
  case " $* " in
    *" --bootstrap-server"*|*" --bootstrap-controller"*|*" --help"*|*" --version"*) ;;
    *) set -- --bootstrap-server "$KAFKALAB_BOOTSTRAP_SERVER" "$@" ;;
  esac
fi
# On a class's shared Kafka the student's credentials (a client properties file) go with
# every tool, as the bootstrap servers do.
if [ -n "$KAFKALAB_CLIENT_CONFIG" ]; then
  case " $* " in
    {_GIVEN_CLIENT_CONFIG}|*" --help"*|*" --version"*) ;;
    *) set -- --command-config "$KAFKALAB_CLIENT_CONFIG" "$@" ;;
  esac
fi
"""
            warm = f"""\
# In a notebook, the cluster's warm tool JVM runs the tool (kafkalab.tooljvm): its owner names
# the socket, its Python and the client; the client starts a fresh JVM itself where the warm
# one cannot stand in for it.
if [ -n "$KAFKALAB_TOOL_SERVER" ] && [ -z "$KAFKA_OPTS$KAFKALAB_JVMARGS" ] \\
   && [ -x "$KAFKALAB_TOOL_PYTHON" ] && [ -f "$KAFKALAB_TOOL_CLIENT" ]; then
  exec "$KAFKALAB_TOOL_PYTHON" -I -S "$KAFKALAB_TOOL_CLIENT" "$KAFKALAB_TOOL_SERVER" \\
    {run} {main_class} "$@"
fi
"""
            script = (
                f"#!/bin/sh\n# {name}: Apache Kafka {self.version} ({main_class}), "
                f"generated by kafkalab.\n{default_bootstrap}{warm}"
                f'exec {run} {main_class} "$@"\n'
            )
            _write_if_changed(self.bin_dir / name, script, executable=True)
        server_start = f"""#!/bin/sh
# kafka-server-start.sh: Apache Kafka {self.version} broker/controller, generated by kafkalab.
# Usage: kafka-server-start.sh server.properties   (logs go to $LOG_DIR, default ./logs)
if [ $# -lt 1 ]; then
  echo "USAGE: $0 server.properties [--override property=value]*" >&2
  exit 1
fi
LOG_DIR="${{LOG_DIR:-$PWD/logs}}"
mkdir -p "$LOG_DIR"
KAFKALAB_JVMARGS={shlex.quote(str(self.config_dir / "broker.jvmargs"))} \\
  exec {run} -Dkafka.logs.dir="$LOG_DIR" {BROKER_MAIN} "$@"
"""
        _write_if_changed(self.bin_dir / "kafka-server-start.sh", server_start, executable=True)

    @property
    def connect_dir(self) -> Path:
        """Kafka Connect's jars (``libs/``) and plugin folders (``plugins/``, the worker's
        ``plugin.path``), once :func:`ensure_connect` has put them there."""
        return self.home / "connect"

    def write_connect_launcher(self, connect_jars: Sequence[Path]) -> None:
        """``bin/connect-standalone.sh``: a Connect worker on Kafka's jars plus
        ``connect_jars`` (none for a ``KAFKA_HOME``, whose ``libs/`` has them)."""
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        _write_if_changed(self.config_dir / "connect-log4j2.properties", _CONNECT_LOG4J)
        classpath = os.pathsep.join(str(jar) for jar in [*self.jars, *connect_jars])
        lines = [
            *CONNECT_JVM_OPTIONS,
            "-Dlog4j2.configurationFile="
            + _argfile_quote(str(self.config_dir / "connect-log4j2.properties")),
            "-cp",
            _argfile_quote(classpath),
        ]
        _write_if_changed(self.config_dir / "connect.jvmargs", "\n".join(lines) + "\n")
        run = shlex.quote(str(self.bin_dir / "kafka-run-class.sh"))
        script = f"""#!/bin/sh
# connect-standalone.sh: a Kafka Connect worker in standalone mode, Apache Kafka {self.version}
# ({CONNECT_MAIN}), generated by kafkalab. It logs to its standard output.
if [ $# -lt 1 ]; then
  echo "USAGE: $0 connect-standalone.properties [connector1.properties connector2.json ...]" >&2
  exit 1
fi
KAFKALAB_JVMARGS={shlex.quote(str(self.config_dir / "connect.jvmargs"))} \\
  exec {run} {CONNECT_MAIN} "$@"
"""
        _write_if_changed(self.bin_dir / "connect-standalone.sh", script, executable=True)


def _argfile_quote(value: str) -> str:
    # Java @argfiles treat backslashes inside quotes as escapes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_if_changed(path: Path, content: str, *, executable: bool = False) -> None:
    if not path.exists() or path.read_text() != content:
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(content)
        if executable:
            temporary.chmod(0o755)
        os.replace(temporary, path)


@contextlib.contextmanager
def install_lock(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - closed below
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        # A read-only cache (a graded submission's sandbox): nobody can change it, so there
        # is nothing to lock; a missing jar still fails when it is written.
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total: int, enabled: bool, description: str):
    if not enabled:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=description)


def _download(jar: Jar, repository: str, target: Path, bar) -> None:
    url = f"{repository.rstrip('/')}/{jar.path}"
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                if bar is not None:
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"No se pudo descargar {jar.coordinates} desde {repository}: {reason}.\n"
            "La primera vez kafkalab necesita red para descargar Kafka (unos 59 MB con "
            "Kafka Connect); "
            "después funciona sin red. Comprueba tu conexión (o el proxy: HTTPS_PROXY) y "
            "vuelve a intentarlo, define KAFKALAB_MAVEN_REPOSITORY con un espejo de Maven "
            "Central, o define KAFKA_HOME apuntando a un Kafka ya instalado."
        ) from None
    if digest.hexdigest() != jar.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"{jar.file_name} descargado de {repository} no coincide con la suma SHA-256 del "
            f"fichero de bloqueo (esperada {jar.sha256[:16]}…, obtenida "
            f"{digest.hexdigest()[:16]}…). La descarga se ha descartado: puede ser una "
            "conexión cortada o un proxy que altera ficheros. Vuelve a intentarlo; si se "
            "repite, revisa KAFKALAB_MAVEN_REPOSITORY."
        )
    os.replace(partial, target)


def ensure_jars(
    lock: Lock,
    libs: Path,
    *,
    progress: bool,
    verify: bool,
    download: bool = True,
    description: str | None = None,
) -> tuple[list[Path], bool]:
    """Download missing or damaged jars; return the class path in lock order and whether
    any jar was (re)downloaded."""
    libs.mkdir(parents=True, exist_ok=True)
    missing = []
    for jar in lock.jars:
        path = libs / jar.file_name
        intact = path.exists() and path.stat().st_size == jar.size
        if intact and verify:
            intact = _sha256(path) == jar.sha256
        if not intact:
            path.unlink(missing_ok=True)
            missing.append(jar)
    if missing and not download:
        raise DownloadError(f"Kafka {lock.kafka_version} no está descargado en {libs}.")
    if missing:
        repository = os.environ.get("KAFKALAB_MAVEN_REPOSITORY") or lock.repository
        total = sum(jar.size for jar in missing)
        description = description or (
            f"Descargando Kafka {lock.kafka_version} ({len(missing)} jars)"
        )
        with _progress(total, progress, description) as bar, ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(_download, jar, repository, libs / jar.file_name, bar)
                for jar in missing
            ]
            for future in futures:
                future.result()
    return [libs / jar.file_name for jar in lock.jars], bool(missing)


_READY: dict[tuple, Distribution] = {}


def ensure_kafka(
    version: str | None = None,
    *,
    progress: bool = True,
    cache_dir: Path | None = None,
    lock_file: Path | None = None,
    download: bool = True,
) -> Distribution:
    """Return a runnable Kafka, downloading and verifying it on first use (``download``
    False: raise DownloadError instead of downloading).

    Args:
        version: Kafka version; default ``$KAFKA_VERSION`` or DEFAULT_KAFKA_VERSION.
        progress: show a progress bar while downloading.
        cache_dir: where distributions live; default :func:`cache_root`.
        lock_file: a lock file to use instead of the bundled one for ``version``.

    Raises:
        JavaError, DownloadError, ChecksumError, KafkaLabError (unknown version).
    """
    java = find_java()
    root = Path(cache_dir) if cache_dir else cache_root()
    kafka_home = os.environ.get("KAFKA_HOME")
    key = (version, str(root), str(lock_file), kafka_home, str(java.executable))
    if key in _READY:
        ready = _READY[key]
        if all(jar.exists() for jar in ready.jars):
            return ready
    if kafka_home:
        distribution = _from_kafka_home(Path(kafka_home), root, java)
    else:
        version = version or os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
        lock_path = Path(lock_file) if lock_file else LOCK_DIR / f"kafka-{version}.json"
        if not lock_path.exists():
            raise KafkaLabError(
                f"No hay fichero de bloqueo para Kafka {version}. Versiones disponibles: "
                f"{', '.join(available_versions())}. (Quien mantiene el curso puede añadir "
                f"otra con: python tools/lock_kafka.py {version})"
            )
        lock = Lock.load(lock_path)
        home = root / f"kafka-{lock.kafka_version}"
        with install_lock(root / f".kafka-{lock.kafka_version}.lock"):
            jars, changed = ensure_jars(
                lock, home / "libs", progress=progress, verify=True, download=download
            )
            if changed:
                # Class archives remember the jars they were made from.
                shutil.rmtree(home / "cds", ignore_errors=True)
            distribution = Distribution(lock.kafka_version, home, jars, java)
            distribution.write_launchers()
    from . import tooljvm  # it builds on this module

    if tooljvm.enabled():
        try:
            tooljvm.ensure_tool_server(distribution, progress=progress)
        except KafkaLabError as error:
            # Kafka works without it: every tool then starts a JVM of its own, as before.
            warnings.warn(
                "kafkalab no pudo preparar la JVM de herramientas, así que cada herramienta de "
                f"Kafka arrancará una JVM propia (más lenta). Motivo: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
    _READY[key] = distribution
    return distribution


def ensure_connect(
    distribution: Distribution | None = None, *, progress: bool = True, download: bool = True
) -> Path:
    """Make Kafka Connect runnable with ``distribution`` (default: :func:`ensure_kafka`'s):
    download and verify, on first use, the worker's jars and the Connect plugins of the lock
    file (the MongoDB connector and its driver), and write ``bin/connect-standalone.sh``.
    Return the folder of plugin folders, a worker's ``plugin.path``.

    With ``KAFKA_HOME`` the worker's jars are that Kafka's (its ``libs/``); the plugins still
    come from the lock file of the default Kafka version.

    Raises:
        DownloadError, ChecksumError (as :func:`ensure_kafka`), KafkaLabError (a KAFKA_HOME
        without Connect).
    """
    distribution = distribution or ensure_kafka(progress=progress, download=download)
    lock_path = LOCK_DIR / f"kafka-{distribution.version}.json"
    if not lock_path.exists():
        lock_path = LOCK_DIR / f"kafka-{DEFAULT_KAFKA_VERSION}.json"
    lock = Lock.load(lock_path)
    plugins = distribution.connect_dir / "plugins"
    with install_lock(distribution.home.parent / f".{distribution.home.name}-connect.lock"):
        if distribution.kafka_home is None:
            jars, _ = ensure_jars(
                lock.part(lock.connect),
                distribution.connect_dir / "libs",
                progress=progress,
                verify=True,
                download=download,
                description=f"Descargando Kafka Connect {lock.kafka_version} "
                f"({len(lock.connect)} jars)",
            )
        elif any(jar.name.startswith("connect-runtime-") for jar in distribution.jars):
            jars = []
        else:
            raise KafkaLabError(
                f"El Kafka de KAFKA_HOME={distribution.kafka_home} no trae Kafka Connect (falta "
                "libs/connect-runtime-*.jar). Usa la distribución oficial completa de Kafka o "
                "borra KAFKA_HOME para que kafkalab descargue Kafka y Kafka Connect."
            )
        for name, plugin_jars in lock.connect_plugins:
            ensure_jars(
                lock.part(plugin_jars),
                plugins / name,
                progress=progress,
                verify=True,
                download=download,
                description=f"Descargando el conector {name} de Kafka Connect "
                f"({len(plugin_jars)} jars)",
            )
            services = CONNECT_PLUGIN_SERVICES.get(name)
            if services:
                _write_service_manifest(plugins / name / "kafkalab-services.jar", services)
        distribution.write_connect_launcher(jars)
    return plugins


def _write_service_manifest(path: Path, services: dict[str, list[str]]) -> None:
    """A jar with only ``META-INF/services`` entries (what Kafka's ``connect-plugin-path.sh
    sync-manifests`` adds to a plugin), rewritten only when its content changes."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for interface, classes in sorted(services.items()):
            entry = zipfile.ZipInfo(f"META-INF/services/{interface}", (1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, "".join(f"{name}\n" for name in classes))
    content = buffer.getvalue()
    with contextlib.suppress(OSError):
        if path.read_bytes() == content:
            return
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _from_kafka_home(kafka_home: Path, root: Path, java: Java) -> Distribution:
    jars = sorted((kafka_home / "libs").glob("*.jar"))
    clients = [j for j in jars if re.fullmatch(r"kafka-clients-[\d.]+\.jar", j.name)]
    if not clients:
        raise KafkaLabError(
            f"KAFKA_HOME={kafka_home} no parece una instalación de Kafka: falta "
            f"{kafka_home}/libs/kafka-clients-*.jar. Corrige KAFKA_HOME o bórrala para que "
            "kafkalab descargue Kafka."
        )
    version = clients[0].name.removeprefix("kafka-clients-").removesuffix(".jar")
    tag = hashlib.sha256(str(kafka_home.resolve()).encode()).hexdigest()[:10]
    home = root / f"kafka-home-{version}-{tag}"
    with install_lock(root / f".kafka-home-{tag}.lock"):
        distribution = Distribution(version, home, jars, java, kafka_home=kafka_home)
        distribution.write_launchers()
    return distribution
