"""The warm tool JVM (kafkalab.tooljvm): a tool run in it must be indistinguishable from the
same tool in a fresh JVM, on the same real cluster: output byte for byte, exit code, standard
input, signals; and it must never outlive its cluster or its owner."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kafkalab import Cluster
from kafkalab.errors import failure_message
from kafkalab.tooljvm import SOCKET_VARIABLE
from tests.support.kafka import wait_for
from tests.support.processes import owner_killed_after

pytestmark = pytest.mark.slow

CONSUMER_CALL = "call org.apache.kafka.tools.consumer.ConsoleConsumer"
# log4j's time stamp: the only thing two runs of one command may print differently.
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]", re.MULTILINE)


class Tools:
    """Runs launch scripts against a cluster, in its warm tool JVM or in a fresh one."""

    def __init__(self, cluster: Cluster, *, fill_bootstrap: bool = True):
        self.cluster = cluster
        self.fresh_env = cluster.distribution.tool_environment()
        self.fresh_env.pop(SOCKET_VARIABLE, None)
        self.fresh_env.pop("KAFKALAB_BOOTSTRAP_SERVER", None)
        if fill_bootstrap:
            self.fresh_env["KAFKALAB_BOOTSTRAP_SERVER"] = cluster.bootstrap_servers
        self.warm_env = self.fresh_env | cluster.tool_environment()

    def command(self, tool: str, *args: str) -> list[str]:
        return [str(self.cluster.distribution.tool(tool)), *args]

    def run(self, warm: bool, tool: str, *args: str, input: str | None = None, **options):
        completed = subprocess.run(
            self.command(tool, *args),
            env=self.warm_env if warm else self.fresh_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            **options,
        )
        return completed.returncode, completed.stdout, STAMP.sub("[T]", completed.stderr)

    def popen(self, warm: bool, tool: str, *args: str, **options) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(tool, *args),
            env=self.warm_env if warm else self.fresh_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **options,
        )

    def log(self) -> str:
        return self.cluster._warm_tools.log_file.read_text()

    def calls(self) -> int:
        """Calls the warm JVM ran so far."""
        if not self.cluster._warm_tools.log_file.exists():
            return 0
        return sum(" call " in line for line in self.log().splitlines())


@pytest.fixture(scope="module")
def tools(cluster3):
    return Tools(cluster3)


def test_the_first_call_starts_the_jvm_and_the_next_ones_reuse_it(cluster3, tools):
    tools.run(True, "kafka-topics.sh", "--list")
    pid = cluster3.tool_jvm_pid
    assert pid is not None
    before = tools.calls()
    for _ in range(3):
        assert tools.run(True, "kafka-topics.sh", "--list")[0] == 0
    assert cluster3.tool_jvm_pid == pid
    assert tools.calls() == before + 3


def syllabus(name: str, bootstrap: list[str]) -> list[tuple[list[str], str | None]]:
    """The syllabus's commands in today's Kafka (``--reader-property`` since 4.2), with its
    topic and group names made unique by ``name``: (arguments, standard input)."""
    b = bootstrap
    return [
        (["kafka-topics.sh", "--create", "--topic", f"{name}-topic", *b], None),
        (["kafka-topics.sh", "--describe", "--topic", f"{name}-topic", *b], None),
        (["kafka-console-producer.sh", "--topic", f"{name}-topic", *b], "hola\nadiós\n"),
        (
            [
                "kafka-console-consumer.sh",
                "--topic",
                f"{name}-topic",
                "--from-beginning",
                "--max-messages",
                "2",
                *b,
            ],
            None,
        ),
        (["kafka-topics.sh", "--create", "--topic", f"{name}-p3", "--partitions", "3", *b], None),
        (["kafka-topics.sh", "--delete", "--topic", f"{name}-p3", *b], None),
        (
            [
                "kafka-topics.sh",
                "--create",
                "--topic",
                f"{name}-A",
                "--partitions",
                "2",
                "--replication-factor",
                "2",
                *b,
            ],
            None,
        ),
        (
            [
                "kafka-console-producer.sh",
                "--topic",
                f"{name}-topic",
                "--reader-property",
                "parse.key=true",
                "--reader-property",
                "key.separator=:",
                *b,
            ],
            "uno:1\ndos:2\n",
        ),
        (
            [
                "kafka-topics.sh",
                "--create",
                "--topic",
                f"{name}-group",
                "--partitions",
                "2",
                "--replication-factor",
                "2",
                *b,
            ],
            None,
        ),
        (["kafka-topics.sh", "--describe", "--topic", f"{name}-group", *b], None),
        (["kafka-console-producer.sh", "--topic", f"{name}-group", *b], "a\nb\nc\n"),
        (
            [
                "kafka-console-consumer.sh",
                "--topic",
                f"{name}-group",
                "--group",
                f"{name}-app1",
                "--from-beginning",
                "--max-messages",
                "3",
                "--formatter-property",
                "print.key=true",
                *b,
            ],
            None,
        ),
        (["kafka-consumer-groups.sh", "--list", *b], None),
        (["kafka-consumer-groups.sh", "--describe", "--group", f"{name}-app1", *b], None),
    ]


# What differs between two topics made alike: their ids, and where the brokers put them.
PLACEMENT = re.compile(r"(TopicId|Leader|Replicas|Isr): [\w,-]+")


def comparable(args: list[str], result: tuple[int, str, str], name: str) -> tuple[int, str, str]:
    """A run's result with what two alike runs may differ in made alike: the names, the
    placement of partitions, and so the order of messages and rows across partitions."""
    code, out, err = result
    out, err = out.replace(name, "NAME"), err.replace(name, "NAME")
    out = PLACEMENT.sub(r"\1: _", out)
    if args[0] == "kafka-console-consumer.sh":
        out = "".join(sorted(out.splitlines(keepends=True)))
    if args[:2] == ["kafka-consumer-groups.sh", "--describe"]:
        lines = out.splitlines(keepends=True)
        # Partition, its offset and its end: where the producer's batches went.
        number = r"(\s+)\d+"
        pattern = r"^(\S+\s+\S+)" + number * 3
        rows = {re.sub(pattern, r"\1\2_\3_\4_", row) for row in lines[2:]}
        # A partition without messages may have no committed offset, and then no row.
        out = "".join(lines[:2] + sorted(rows))
    return code, out, err


def without_other_runs_names(listing: str, keep: str) -> str:
    return "\n".join(line for line in listing.splitlines() if line.startswith(keep))


@pytest.mark.parametrize("fill", [False, True], ids=["with-bootstrap", "filled-by-kafkalab"])
def test_the_syllabus_commands_print_what_a_fresh_jvm_prints(cluster3, topic, fill):
    tools = Tools(cluster3, fill_bootstrap=fill)
    bootstrap = [] if fill else ["--bootstrap-server", cluster3.bootstrap_servers]
    before = tools.calls()
    results = {}
    for warm in (False, True):
        # Names of one length: tables are as wide as their longest name.
        name = f"{topic}-{'warm' if warm else 'cold'}"
        results[warm] = [
            comparable(args, tools.run(warm, *args, input=stdin), name)
            for args, stdin in syllabus(name, bootstrap)
        ]
    commands = syllabus("NAME", bootstrap)
    for (args, _), fresh, warm in zip(commands, results[False], results[True], strict=True):
        if args[:2] in (["kafka-topics.sh", "--list"], ["kafka-consumer-groups.sh", "--list"]):
            # Both runs' names are listed by both: compare each run's own lines.
            fresh = (fresh[0], without_other_runs_names(fresh[1], "NAME"), fresh[2])
            warm = (warm[0], without_other_runs_names(warm[1], "NAME"), warm[2])
        assert warm == fresh, " ".join(args)
        assert fresh[0] == 0, (args, fresh)
    # Every warm command ran in the warm JVM, none fell back to a fresh one.
    assert tools.calls() == before + len(commands)
    assert "fresh JVM" not in tools.log()


OTHER_COMMANDS = [
    ["kafka-topics.sh", "--help"],
    ["kafka-topics.sh", "--version"],
    ["kafka-topics.sh", "--bogus-option"],
    ["kafka-topics.sh", "--describe", "--topic", "does-not-exist"],
    ["kafka-topics.sh", "--create", "--topic", "rf-too-high", "--replication-factor", "4"],
    ["kafka-console-consumer.sh"],
    ["kafka-console-consumer.sh", "--topic", "TOPIC", "--formatter", "no.such.Formatter"],
    ["kafka-configs.sh", "--describe", "--entity-type", "topics", "--entity-name", "TOPIC"],
    [
        "kafka-configs.sh",
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        "TOPIC",
        "--add-config",
        "retention.ms=abc",
    ],
    ["kafka-get-offsets.sh", "--topic", "TOPIC"],
    ["kafka-consumer-groups.sh", "--describe", "--group", "no-such-group"],
    ["kafka-acls.sh", "--list"],
    ["kafka-broker-api-versions.sh"],
    ["kafka-dump-log.sh", "--files", "/does/not/exist.log"],
    ["kafka-storage.sh", "info", "-c", "/does/not/exist.properties"],
    ["kafka-storage.sh", "--help"],
]


def in_any_broker_order(args: list[str], result: tuple[int, str, str]) -> tuple[int, str, str]:
    """kafka-broker-api-versions.sh prints one block per broker in the order its metadata
    lists them, which differs from one call to the next: compare the blocks as a set."""
    if args[0] != "kafka-broker-api-versions.sh":
        return result
    code, out, err = result
    blocks = re.split(r"(?m)^(?=\S+:\d+ \(id: )", out)
    return code, "".join(sorted(blocks)), err


def test_other_tools_and_their_errors_print_what_a_fresh_jvm_prints(cluster3, tools, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    cluster3.run(f"kafka-console-producer.sh --topic {topic}", input="x\ny\n")
    before = tools.calls()
    for template in OTHER_COMMANDS:
        args = [arg.replace("TOPIC", topic) for arg in template]
        fresh, warm = tools.run(False, *args), tools.run(True, *args)
        assert in_any_broker_order(args, warm) == in_any_broker_order(args, fresh), " ".join(args)
        # And kafkalab's Spanish explanation of a failure is the same.
        if fresh[0]:
            explained = failure_message(args[0], fresh[0], fresh[1] + fresh[2])
            assert failure_message(args[0], warm[0], warm[1] + warm[2]) == explained
    assert tools.calls() == before + len(OTHER_COMMANDS)


def test_a_segment_dump_of_this_cluster_reads_the_same(cluster3, tools, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 1")
    cluster3.run(f"kafka-console-producer.sh --topic {topic}", input="uno\ndos\n")

    def written() -> list[Path]:
        # Every replica's segment, once it holds both records (a follower may be behind).
        found = sorted(cluster3.data_dir.glob(f"broker-*/data/{topic}-0/*.log"))
        return [segment for segment in found if b"dos" in segment.read_bytes()]

    assert wait_for(written, timeout=30)
    args = ["kafka-dump-log.sh", "--files", str(written()[0]), "--print-data-log"]
    fresh, warm = tools.run(False, *args), tools.run(True, *args)
    assert warm == fresh
    assert "payload: dos" in warm[1]


def test_two_calls_at_once_keep_their_outputs_apart(cluster3, tools, topic):
    """Two consumers (the second one runs in a fresh JVM: the console consumer keeps its count
    in a static field) and a topic listing, all at once."""
    for suffix in ("a", "b"):
        cluster3.run(f"kafka-topics.sh --create --topic {topic}-{suffix} --partitions 1")
        lines = "".join(f"{suffix}-{i}\n" for i in range(300))
        cluster3.run(f"kafka-console-producer.sh --topic {topic}-{suffix}", input=lines)
    results = {}

    def consume(suffix: str) -> None:
        results[suffix] = tools.run(
            True,
            "kafka-console-consumer.sh",
            "--topic",
            f"{topic}-{suffix}",
            "--from-beginning",
            "--max-messages",
            "300",
        )

    threads = [threading.Thread(target=consume, args=(suffix,)) for suffix in ("a", "b")]
    for thread in threads:
        thread.start()
    listing = [tools.run(True, "kafka-topics.sh", "--list") for _ in range(3)]
    for thread in threads:
        thread.join(timeout=120)
    for suffix in ("a", "b"):
        code, out, err = results[suffix]
        assert code == 0, err
        assert out == "".join(f"{suffix}-{i}\n" for i in range(300))
        assert err.endswith("Processed a total of 300 messages\n")
    for code, out, _ in listing:
        assert code == 0
        assert f"{topic}-a\n" in out and f"{topic}-b\n" in out
        assert not re.search(r"^[ab]-\d+$", out, re.MULTILINE)


def test_a_long_consumer_does_not_block_the_next_command(cluster3, tools, topic):
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 1")
    started = tools.log().count(CONSUMER_CALL)
    consumer = tools.popen(True, "kafka-console-consumer.sh", "--topic", topic)
    try:
        wait_for(lambda: tools.log().count(CONSUMER_CALL) > started, timeout=30)
        for _ in range(2):
            code, out, _ = tools.run(True, "kafka-topics.sh", "--describe", "--topic", topic)
            assert code == 0 and f"Topic: {topic}" in out
        assert consumer.poll() is None
    finally:
        consumer.send_signal(signal.SIGINT)
        consumer.communicate(timeout=60)
    assert consumer.returncode == 130


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_console_consumer_behaves_like_a_jvm(cluster3, tools, topic, signum):
    """It prints its count, commits what it read and exits with 128 + the signal."""
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 1")
    cluster3.run(f"kafka-console-producer.sh --topic {topic}", input="a\nb\nc\n")
    outcomes = {}
    for warm in (False, True):
        group = f"{topic}-{'warm' if warm else 'fresh'}"
        consumer = tools.popen(
            warm,
            "kafka-console-consumer.sh",
            *("--topic", topic, "--group", group, "--from-beginning"),
        )
        read = [consumer.stdout.readline() for _ in range(3)]
        consumer.send_signal(signum)
        rest, err = _communicate_or_explain(consumer, signum, warm)
        described = cluster3.run(f"kafka-consumer-groups.sh --describe --group {group}")
        offsets = [
            line.split()[3:6]
            for line in described.stdout.splitlines()
            if line.startswith(f"{group} ")
        ]
        outcomes[warm] = (consumer.returncode, read, rest, err.splitlines()[-1:], offsets)
    assert outcomes[True] == outcomes[False]
    assert outcomes[True][0] == 128 + signum
    assert outcomes[True][3] == ["Processed a total of 3 messages"]
    assert outcomes[True][4] == [["3", "3", "0"]]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_consumer_started_with_sigint_ignored_ignores_it_like_a_jvm(cluster3, tools, topic):
    """A command run with `&` by a script starts with SIGINT ignored, and a JVM then never
    hears it: the warm call must not either. SIGINT, then SIGTERM: both end with 143 (SIGTERM),
    not 130 (SIGINT), and print their count."""
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 1")
    cluster3.run(f"kafka-console-producer.sh --topic {topic}", input="a\nb\nc\n")
    outcomes = {}
    for warm in (False, True):
        consumer = tools.popen(
            warm,
            "kafka-console-consumer.sh",
            *("--topic", topic, "--group", f"{topic}-{warm}", "--from-beginning"),
            preexec_fn=_ignore_sigint,
        )
        read = [consumer.stdout.readline() for _ in range(3)]
        consumer.send_signal(signal.SIGINT)
        consumer.send_signal(signal.SIGTERM)
        _rest, err = _communicate_or_explain(consumer, signal.SIGTERM, warm)
        outcomes[warm] = (consumer.returncode, read, err.splitlines()[-1:])
    assert outcomes[True] == outcomes[False]
    assert outcomes[True][0] == 128 + signal.SIGTERM
    assert outcomes[True][2] == ["Processed a total of 3 messages"]


def _communicate_or_explain(process: subprocess.Popen, signum: int, warm: bool):
    """``communicate()`` within 60 s; else fail with what the process was doing: whether it
    ignored or caught the signal (``/proc/PID/status``) and, for a JVM, its threads (SIGQUIT
    makes a JVM print them on its standard output)."""
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        status = ""
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{process.pid}/status").read_text()
        masks = {
            line.split(":")[0]: int(line.split()[1], 16)
            for line in status.splitlines()
            if line.startswith(("SigIgn", "SigCgt", "SigBlk", "SigPnd", "ShdPnd"))
        }
        bits = {name: bool(mask >> (signum - 1) & 1) for name, mask in masks.items()}
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        time.sleep(3)
        process.kill()
        out, err = process.communicate()
        pytest.fail(
            f"{'warm' if warm else 'fresh'} console consumer still running 60 s after "
            f"{signal.Signals(signum).name}; signal bits {bits}; "
            f"stdout (a JVM's threads):\n{out[-20000:]}\nstderr:\n{err[-5000:]}"
        )


def test_arguments_naming_relative_files_and_jvm_options_run_in_a_fresh_jvm(tools, tmp_path):
    (tmp_path / "client.properties").write_text("client.id=relativo\n")
    before = tools.calls()
    code, out, err = tools.run(
        True, "kafka-topics.sh", "--list", "--command-config", "client.properties", cwd=tmp_path
    )
    assert code == 0, err
    env = tools.warm_env | {"KAFKA_OPTS": "-Dkafkalab.test=1"}
    completed = subprocess.run(
        tools.command("kafka-topics.sh", "--list"), env=env, capture_output=True, timeout=120
    )
    assert completed.returncode == 0
    assert tools.calls() == before


def test_another_locale_runs_in_a_fresh_jvm(tools):
    before = tools.calls()
    env = tools.warm_env | {"LC_ALL": "C", "LANG": "C"}
    if os.environ.get("LC_ALL") == "C":
        env["LC_ALL"] = "C.UTF-8"
    completed = subprocess.run(
        tools.command("kafka-topics.sh", "--version"), env=env, capture_output=True, timeout=120
    )
    assert completed.returncode == 0
    assert tools.calls() == before
    assert "fresh JVM for org.apache.kafka.tools.TopicCommand" in tools.log()


def test_the_tool_jvm_crashing_mid_call_fails_that_call_in_spanish_and_the_next_works(topic):
    with Cluster.start(1, progress=False) as cluster:
        tools = Tools(cluster)
        cluster.run(f"kafka-topics.sh --create --topic {topic}")
        consumer = tools.popen(True, "kafka-console-consumer.sh", "--topic", topic)
        wait_for(lambda: "ConsoleConsumer" in tools.log(), timeout=30)
        crashed = cluster.tool_jvm_pid
        os.kill(crashed, signal.SIGKILL)
        out, err = consumer.communicate(timeout=60)
        assert consumer.returncode == 1
        assert "la JVM de herramientas de este clúster se detuvo" in err
        # The next calls work: in a fresh JVM until the cluster has started another warm one.
        code, out, _ = tools.run(True, "kafka-topics.sh", "--list")
        assert code == 0 and f"{topic}\n" in out
        assert wait_for(
            lambda: (
                tools.run(True, "kafka-topics.sh", "--list")[0] == 0
                and cluster.tool_jvm_pid not in (None, crashed)
            )
        )


def test_closing_the_cluster_or_killing_its_owner_leaves_no_tool_jvm(tmp_path):
    with Cluster.start(1, progress=False) as cluster:
        # As a notebook does once its cluster is up: the JVM starts before any call.
        cluster.start_tool_jvm()
        assert wait_for(lambda: cluster.tool_jvm_pid is not None, timeout=30)
        pid, folder = cluster.tool_jvm_pid, cluster._warm_tools.socket_path.parent
        assert cluster.run("kafka-topics.sh --list").returncode == 0
        assert cluster.tool_jvm_pid == pid
        assert pid and folder.exists()
    assert not Path(f"/proc/{pid}").exists() and not folder.exists()

    script = tmp_path / "owner.py"
    script.write_text(
        "import json, time\n"
        "from kafkalab import Cluster\n"
        "cluster = Cluster.start(1, progress=False)\n"
        "cluster.run('kafka-topics.sh --list')\n"
        "print(json.dumps([cluster.tool_jvm_pid, str(cluster._warm_tools.socket_path)]),\n"
        "      flush=True)\n"
        "time.sleep(600)\n"
    )
    with owner_killed_after(script) as (pid, socket_path):
        assert Path(f"/proc/{pid}").exists()
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30)
    assert wait_for(lambda: not Path(socket_path).parent.exists(), timeout=30)


def test_warm_tools_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("KAFKALAB_WARM_TOOLS", "0")
    with Cluster.start(1, progress=False) as cluster:
        assert cluster.tool_environment() == {}
        assert cluster.run("kafka-topics.sh --list").returncode == 0
        assert cluster.tool_jvm_pid is None


THROWER = """\
public class Thrower {
    public static void main(String[] args) throws Exception {
        run();
    }

    static void run() throws Exception {
        try {
            inner();
        } catch (Exception cause) {
            RuntimeException outer = new RuntimeException("fuera", cause);
            outer.addSuppressed(new IllegalStateException("suprimida"));
            throw outer;
        }
    }

    static void inner() throws Exception {
        throw new java.io.IOException("dentro");
    }
}
"""


def test_an_uncaught_exception_reads_as_in_a_fresh_jvm(tmp_path):
    """Causes and suppressed exceptions end in "... N more", counted with the frames below
    main: the server's own frames are left out of the count as they are of the trace."""
    from kafkalab.distribution import TOOL_CLIENT, ensure_kafka
    from kafkalab.tooljvm import ECJ

    distribution = ensure_kafka(progress=False)
    compiler = distribution.home.parent / "ecj" / ECJ.jars[0].file_name
    (tmp_path / "Thrower.java").write_text(THROWER)
    java = str(distribution.java.executable)
    subprocess.run(
        [java, "-jar", str(compiler), "-17", "-nowarn", "-d", str(tmp_path), "Thrower.java"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    clients = next(jar for jar in distribution.jars if jar.name.startswith("kafka-clients-"))
    classpath = os.pathsep.join([str(clients), str(distribution.tool_server_jar), str(tmp_path)])
    fresh = subprocess.run(
        [java, "-cp", classpath, "Thrower"], capture_output=True, text=True, timeout=60
    )
    assert "\t... 1 more\n" in fresh.stderr

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "tools.sock"
    listener.bind(str(path))
    listener.listen(8)
    server = subprocess.Popen(
        [java, "-cp", classpath, "kafkalab.ToolServer", "Thrower"],
        stdin=listener.fileno(),
        stdout=subprocess.DEVNULL,
    )
    listener.close()
    try:
        warm = subprocess.run(
            [sys.executable, "-I", "-S", str(TOOL_CLIENT), str(path), "/bin/false", "Thrower"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.kill()
        server.wait()
    assert (warm.returncode, warm.stdout, warm.stderr) == (1, fresh.stdout, fresh.stderr)


def test_a_console_producer_sends_every_line_before_its_call_ends(cluster3, tools, topic):
    """Its shutdown hook closes the producer, which sends what it still holds: the call ends
    after that, as a JVM runs its hooks before it exits."""
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    for _ in range(3):
        lines = "".join(f"linea-{i}\n" for i in range(2000))
        assert tools.run(True, "kafka-console-producer.sh", "--topic", topic, input=lines)[0] == 0
    code, out, _ = tools.run(True, "kafka-get-offsets.sh", "--topic", topic)
    assert code == 0
    assert sum(int(line.rsplit(":", 1)[1]) for line in out.split()) == 6000


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))


def test_calls_leave_no_threads_behind(cluster3, tools, topic):
    """Clients a tool opens are closed when its call ends: the JVM does not grow with use."""
    cluster3.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")

    def round_of_calls() -> None:
        tools.run(True, "kafka-topics.sh", "--describe", "--topic", topic)
        tools.run(True, "kafka-console-producer.sh", "--topic", topic, input="a\nb\n")
        tools.run(
            True,
            "kafka-console-consumer.sh",
            "--topic",
            topic,
            "--max-messages",
            "1",
            "--from-beginning",
            "--group",
            f"{topic}-g",
        )
        tools.run(True, "kafka-consumer-groups.sh", "--describe", "--group", f"{topic}-g")
        tools.run(True, "kafka-topics.sh", "--describe", "--topic", "does-not-exist")

    round_of_calls()
    pid = cluster3.tool_jvm_pid
    before = threads_of(pid)
    for _ in range(8):
        round_of_calls()
    assert cluster3.tool_jvm_pid == pid
    assert wait_for(lambda: threads_of(pid) <= before + 2, timeout=30), threads_of(pid)


def test_a_deep_temporary_folder_still_gets_a_socket(tmp_path, monkeypatch):
    """A Unix socket's path is at most 107 bytes: under a deep $TMPDIR (pytest's, a
    JupyterLab's) the socket goes to /tmp, still in a folder of its own only its user enters."""
    import tempfile

    from kafkalab.distribution import ensure_kafka
    from kafkalab.tooljvm import WarmTools

    deep = tmp_path / ("muy-profunda-" * 8)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    warm = WarmTools(ensure_kafka(progress=False))
    try:
        assert len(str(warm.socket_path)) <= 100
        assert warm.socket_path.is_socket()
        assert warm.socket_path.parent.parent.parent == Path("/tmp")
        assert oct(warm.socket_path.parent.parent.stat().st_mode & 0o777) == "0o700"
    finally:
        warm.close()
    assert not warm.socket_path.parent.parent.exists()
