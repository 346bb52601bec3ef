"""Record which classes Kafka loads, so that later JVMs map them instead of loading them.

A broker JVM spends most of its first second reading and verifying classes from jars. Class
data sharing keeps them, parsed and verified, in an archive the next JVMs map into memory:

* Java 17 to 24: AppCDS. A training run lists the classes a broker and the common tools
  load (``-XX:DumpLoadedClassList``); one static archive is dumped from the merged list
  (``-Xshare:dump``) and used by brokers and tools alike.
* Java 25 and newer: the AOT cache (JEP 483 and 514), which also keeps classes linked and
  some of them initialised. One cache per kind, each written when its training JVM exits
  (``-XX:AOTCacheOutput``).

Training runs once per Kafka version and Java runtime (``kafkalab install`` does it) and
takes about 15 seconds. Archives are named by the runtime's identity (its path and exact
build, :attr:`kafkalab.java.Java.identity`), and each one is proven usable by a JVM started
in strict mode (``-XX:AOTMode=on``, ``-Xshare:on``), which refuses to start when it cannot
map the archive: a JVM in the default mode would ignore it without a word. An archive that
fails the proof is recorded again. ``KAFKALAB_CLASS_SHARING=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from .distribution import Distribution, install_lock

# What a student does most: create and describe topics, produce and consume, look at groups.
_TRAINING = [
    ("kafka-topics.sh --create --topic entrenamiento --partitions 2", None),
    ("kafka-topics.sh --describe --topic entrenamiento", None),
    (
        "kafka-console-producer.sh --topic entrenamiento "
        "--reader-property parse.key=true --reader-property key.separator=:",
        "a:uno\nb:dos\n",
    ),
    (
        "kafka-console-consumer.sh --topic entrenamiento --from-beginning --max-messages 2 "
        "--group entrenamiento --formatter-property print.key=true",
        None,
    ),
    ("kafka-consumer-groups.sh --describe --group entrenamiento", None),
]


def enabled() -> bool:
    return os.environ.get("KAFKALAB_CLASS_SHARING", "1").strip().lower() not in ("0", "no", "off")


def prepare_class_sharing(distribution: Distribution, *, progress: bool = False) -> bool:
    """Record the class archives of ``distribution`` unless usable ones exist (archives that
    this Java cannot map are recorded again). True if recorded."""
    if not enabled() or _usable(distribution):
        return False
    folder = distribution.home / "cds"
    folder.mkdir(parents=True, exist_ok=True)
    with install_lock(folder / ".lock"):
        if _usable(distribution):
            return False
        _discard(distribution)
        # The training cluster finds its Java as every cluster does: make it this one.
        with (
            tempfile.TemporaryDirectory(prefix="kafkalab-cds-") as scratch,
            _environment(KAFKALAB_JAVA=str(distribution.java.executable)),
        ):
            _record(distribution, Path(scratch), progress=progress)
        distribution.write_launchers()
        if not _usable(distribution):
            # Never leave JVMs an archive they would pay for and not use.
            _discard(distribution)
            return False
    return True


def archives_map(distribution: Distribution) -> bool:
    """Whether this Java maps the class archives of ``distribution``: a JVM per kind with
    its launch options and the strict mode, which exits with an error instead of running
    without the archive."""
    strict = "-XX:AOTMode=on" if distribution.java.supports_aot_cache else "-Xshare:on"
    for kind in distribution.archive_kinds:
        completed = subprocess.run(
            [
                str(distribution.java.executable),
                f"@{distribution.config_dir / f'{kind}.jvmargs'}",
                strict,
                "-version",
            ],
            capture_output=True,
            timeout=60,
        )
        if completed.returncode != 0:
            return False
    return True


def _usable(distribution: Distribution) -> bool:
    if not distribution.class_sharing_ready():
        return False
    # The launch options must name the archives before a JVM can prove it maps them.
    distribution.write_launchers()
    return archives_map(distribution)


def _discard(distribution: Distribution) -> None:
    for kind in distribution.archive_kinds:
        distribution.archive(kind).unlink(missing_ok=True)
    distribution.write_launchers()


def _record(distribution: Distribution, scratch: Path, *, progress: bool) -> None:
    from .kafka import Cluster  # kafka imports distribution; avoid a cycle

    aot = distribution.java.supports_aot_cache
    if aot:
        broker_options = [f"-XX:AOTCacheOutput={scratch / 'broker.aot'}"]
    else:
        broker_options = [f"-XX:DumpLoadedClassList={scratch / 'broker.classlist'}"]
    cluster = Cluster.start(1, progress=progress, jvm_options=broker_options)
    try:
        for index, (command, stdin) in enumerate(_TRAINING):
            if aot:
                # An AOT cache comes from one run: the topic tool is the one used most.
                options = f"-XX:AOTCacheOutput={scratch / 'tools.aot'}" if index == 0 else ""
            else:
                options = f"-XX:DumpLoadedClassList={scratch / f'tool-{index}.classlist'}"
            _run_with_options(cluster, command, stdin, options)
        if aot:
            _record_tool_server(cluster, scratch / "toolserver.aot")
        # A clean stop: the archive is written as the JVM exits.
        cluster.stop_broker(1, timeout=120)
    finally:
        cluster.close()
    if aot:
        for kind in distribution.archive_kinds:
            _install(scratch / f"{kind}.aot", distribution.archive(kind))
        return
    merged = scratch / "merged.classlist"
    merged.write_text(_merge_class_lists(sorted(scratch.glob("*.classlist"))))
    target = scratch / "kafka.jsa"
    completed = subprocess.run(
        [
            str(distribution.java.executable),
            f"@{distribution.config_dir / 'tools.jvmargs'}",
            "-Xshare:dump",
            f"-XX:SharedClassListFile={merged}",
            f"-XX:SharedArchiveFile={target}",
            "-Xlog:cds=off",
            "-Xlog:cds+dynamic=off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if completed.returncode == 0:
        _install(target, distribution.archive("broker"))


def _record_tool_server(cluster, output: Path) -> None:
    """The warm tool JVM's AOT cache: its own classes and those of every training command,
    all run in one such JVM; written as it exits after SIGTERM."""
    from .tooljvm import WarmTools

    distribution = cluster.distribution
    if not distribution.tool_server_jar.exists():
        return
    warm = WarmTools(distribution, jvm_options=[f"-XX:AOTCacheOutput={output}"])
    try:
        for command, stdin in _TRAINING:
            tool, *args = shlex.split(command)
            distribution.run_tool(
                tool,
                ["--bootstrap-server", cluster.bootstrap_servers, *args],
                input=stdin,
                timeout=120,
                env=warm.environment(),
            )
    finally:
        warm.close(clean=True)


def _run_with_options(cluster, command: str, stdin: str | None, options: str) -> None:
    options = f"{os.environ.get('KAFKA_OPTS', '')} {options}".strip()
    with _environment(KAFKA_OPTS=options):
        cluster.run(command, input=stdin, timeout=120, check=False)


@contextlib.contextmanager
def _environment(**values: str):
    """Set environment variables for the block, then put back what was there."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _merge_class_lists(paths: list[Path]) -> str:
    """One class list from several: each class once, numeric ids dropped (they clash)."""
    seen: dict[str, None] = {}
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                entry = line
            else:
                # "name id: 12" for the built-in loaders; other loaders' classes have a
                # "source:" and cannot be archived from a list without their jar: skip them.
                if " source: " in line:
                    continue
                entry = line.split(" id:", 1)[0]
            seen.setdefault(entry, None)
    return "\n".join(seen) + "\n"


def _install(recorded: Path, archive: Path) -> None:
    if recorded.exists() and recorded.stat().st_size > 0:
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.replace(recorded, archive)
