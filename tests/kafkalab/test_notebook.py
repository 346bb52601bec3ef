"""Notebook support on real Kafka: one cluster per notebook, magics, live consumers, pictures.

The magics run in a real IPython shell; every command, consumer and picture talks to a real
cluster that ``kafkalab.start_cluster`` started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from traitlets.config import Config

import kafkalab
from kafkalab import KafkaLabError
from tests.support.processes import java_processes_mentioning


@pytest.fixture(scope="module")
def shell():
    """A real IPython shell, as in a notebook's kernel (without history on disk)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()  # later test modules run outside IPython again


@pytest.fixture(scope="module")
def cluster(shell):
    """The notebook's cluster, started the way a notebook's first cell does."""
    saved = {key: os.environ.get(key) for key in ("KAFKALAB_BOOTSTRAP_SERVER", "PATH")}
    started = kafkalab.start_cluster(brokers=3, progress=False)
    yield started
    started.close()
    # Other test modules share the session's cluster3 through these variables.
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run(shell, source: str):
    """Run a cell; return (stdout, stderr, error raised by the cell or None)."""
    with capture_output(display=False) as captured:
        result = shell.run_cell(source)
    return captured.stdout, captured.stderr, result.error_in_exec


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def committed_offsets(cluster, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=5000)
    try:
        found = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in found.items()}


def produce(cluster, topic: str, count: int, partitions: int = 2) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers)
    for index in range(count):
        producer.send(
            topic,
            key=f"k{index}".encode(),
            value=f"v{index}".encode(),
            partition=index % partitions,
        )
    producer.flush(timeout=30)
    producer.close()


# --- magics ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_kafka_magic_creates_lists_and_describes_with_variables(shell, cluster, topic):
    assert "kafka" in shell.magics_manager.magics["line"], "start_cluster loads the magics"
    out, err, error = run(shell, f"%kafka kafka-topics.sh --create --topic {topic} --partitions 2")
    assert error is None and f"Created topic {topic}." in out

    out, _, _ = run(shell, "%kafka kafka-topics.sh --list")
    assert topic in out.split()
    assert not out.startswith(("CommandResult", "'")), "printed as the tool printed it"

    shell.user_ns["nombre"] = topic
    out, _, error = run(shell, "%kafka kafka-topics.sh --describe --topic $nombre")
    assert error is None and "PartitionCount: 2" in out and f"Topic: {topic}" in out
    out, _, _ = run(shell, "%kafka kafka-topics.sh --describe --topic {nombre}")
    assert "PartitionCount: 2" in out


@pytest.mark.slow
def test_failing_kafka_magic_explains_in_spanish_without_traceback(shell, cluster):
    out, err, error = run(shell, "%kafka kafka-topics.sh --describe --topic no-existe-aqui")
    assert error is None
    assert "Topic 'no-existe-aqui' does not exist" in out + err  # Kafka's own words
    assert "kafka-topics.sh terminó con código 1." in err
    assert "El topic «no-existe-aqui» no existe" in err
    assert "Traceback" not in out + err and "\tat org.apache" not in err

    out, err, error = run(shell, "%kafka kafka-inventado.sh --list")
    assert isinstance(error, KafkaLabError)
    assert "No conozco la herramienta «kafka-inventado.sh»" in out + err
    assert "Traceback" not in out + err


@pytest.mark.slow
def test_kafka_produce_sends_each_line_with_its_key(shell, cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3")
    shell.user_ns["destino"] = topic
    out, _, error = run(
        shell,
        "%%kafka_produce $destino --key-separator :\nana:hola\n\nluis:adiós\n  \nana:otra vez\n",
    )
    assert error is None
    assert f"3 mensajes enviados a {topic}" in out

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    records = []
    while len(records) < 3:
        batch = consumer.poll(timeout_ms=10000)
        if not batch:
            break
        records.extend(r for rs in batch.values() for r in rs)
    consumer.close()
    found = sorted((r.key.decode(), r.value.decode()) for r in records)
    assert found == [("ana", "hola"), ("ana", "otra vez"), ("luis", "adiós")]
    assert len({r.partition for r in records if r.key == b"ana"}) == 1

    out, err, error = run(shell, f"%%kafka_produce {topic} --key-separator :\neva:sí\nsinclave\n")
    assert isinstance(error, KafkaLabError)
    assert "La línea 2 («sinclave») no tiene el separador «:»" in out + err
    assert "Traceback" not in out + err


def test_load_ext_registers_the_magics(shell):
    shell.run_line_magic("load_ext", "kafkalab")
    assert "kafka" in shell.magics_manager.magics["line"]
    assert "kafka_produce" in shell.magics_manager.magics["cell"]


# --- live consumers -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_consumers_in_a_group_share_the_partitions_and_commit(shell, cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 2")
    group = f"grupo-{topic}"
    with capture_output() as shown:
        consumers = kafkalab.watch_consumers(topic, count=2, group=group)
    (panes,) = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in panes.data, "live panes displayed"
    assert "Consumidor 2" in panes.data["text/plain"], "and a text form for other frontends"
    assert len(java_processes_mentioning(topic)) == 2

    members = kafkalab.show_group(group)
    assert sorted(m.client_id for m in members.members) == ["consumidor-1", "consumidor-2"]
    assert all(len(m.partitions) == 1 for m in members.members)

    produce(cluster, topic, 10)
    assert consumers.wait_for(total=10, timeout=30), repr(consumers)
    first, second = consumers.lines(0), consumers.lines(1)
    assert first and second and len(first) + len(second) == 10
    partitions = [{line.split("\t")[0] for line in lines} for lines in (first, second)]
    assert sorted(partitions, key=sorted) == [{"Partition:0"}, {"Partition:1"}], partitions
    assert all(line.startswith("Partition:") and line.count("\t") == 2 for line in first + second)
    assert not any("KIP-848" in line or "deprecated" in line for line in first + second)
    assert wait_until(lambda: first[-1] in consumers.widget.children[0].value, timeout=5)
    assert first[0] in repr(consumers) and second[0] in repr(consumers)

    consumers.stop()
    assert java_processes_mentioning(topic) == []
    assert sum(committed_offsets(cluster, group).values()) == 10

    produce(cluster, topic, 3)
    picture = kafkalab.show_group(group, topic)
    assert picture.members == [] and "sin miembros activos" in repr(picture)
    assert "sin miembros activos" in picture._repr_html_()
    assert sorted(row.lag for row in picture.rows) == [1, 2]
    assert picture.total_lag == 3
    assert "LAG" in picture._repr_html_() and "CURRENT-OFFSET" in repr(picture)


@pytest.mark.slow
def test_a_killed_owner_leaves_no_console_consumer(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic}")
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, os, time, kafkalab\n"
            "kafkalab.start_cluster(progress=False)\n"  # attaches to the test's cluster
            f"kafkalab.watch_consumers({topic!r}, count=2)\n"
            "print(json.dumps({'pid': os.getpid()}), flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers},
    )
    try:
        json.loads(owner.stdout.readline())
        assert len(java_processes_mentioning(topic)) == 2
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert wait_until(lambda: java_processes_mentioning(topic) == [], timeout=10)
    finally:
        owner.kill()
        owner.wait()
        owner.stdout.close()


# --- pictures -------------------------------------------------------------------------------


@pytest.mark.slow
def test_show_cluster_draws_brokers_leaders_and_isr_and_sees_a_stopped_broker(cluster, topic):
    cluster.run(f"kafka-topics.sh --create --topic {topic} --partitions 3 --replication-factor 3")
    picture = kafkalab.show_cluster()
    page = picture._repr_html_()
    for broker in cluster.brokers:
        assert f"Broker {broker.node_id}" in page and broker.address in page
    assert "★ controlador activo" in page and picture.active_controller in (1, 2, 3)
    assert f"<code>{topic}</code>" in page and "★ líder" in page and "✓ réplica" in page
    assert "__consumer_offsets" not in page
    assert all(p.isr == [1, 2, 3] for p in picture.topic(topic).partitions)
    assert "<script" not in page

    cluster.stop_broker(2)
    try:

        def isr_shrunk():
            partitions = kafkalab.show_cluster(topic).topic(topic).partitions
            return all(p.isr == [1, 3] for p in partitions)

        assert wait_until(isr_shrunk, timeout=10)
        picture = kafkalab.show_cluster(topic)
        page, text = picture._repr_html_(), repr(picture)
        assert "Broker 2 (parado)" in page
        assert "broker 2" in text and "parado" in text
        partitions = picture.topic(topic).partitions
        assert all(p.isr == [1, 3] and p.leader != 2 for p in partitions)
        assert "✗ fuera del ISR" in page and "fuera del ISR: [2]" in text
    finally:
        cluster.start_broker(2)


# --- quizzes --------------------------------------------------------------------------------


def test_quiz_checks_the_answer_and_hides_it_in_static_html():
    question = kafkalab.quiz(
        "¿Cuántos líderes tiene cada partición?",
        ["Ninguno", "Exactamente uno", "Uno por réplica"],
        correcta=1,
        explicacion="Las escrituras van siempre al `líder` de la partición.",
    )
    question.button.click()
    assert "Elige una opción" in question.feedback.value
    question.choices.value = 2
    question.button.click()
    assert "No es correcto." in question.feedback.value
    assert "<code>líder</code>" in question.feedback.value
    question.choices.value = 1
    question.button.click()
    assert "¡Correcto!" in question.feedback.value

    bundle = question._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Exactamente uno" in bundle["text/plain"] and "escrituras" not in bundle["text/plain"]
    page = bundle["text/html"]
    assert "<details><summary>Ver solución</summary>" in page
    assert page.index("Uno por réplica") < page.index("<details>") < page.index("escrituras")
    with pytest.raises(KafkaLabError, match="no es una opción"):
        kafkalab.quiz("¿?", ["a", "b"], correcta=2, explicacion="")


def test_a_bank_question_comes_in_an_order_of_its_own_for_each_person_always_the_same():
    """``quiz("02-1")``: the lesson's source names only the id; each person sees the options
    in an order seeded by their user name and the id, which never changes."""
    import json

    from kafkalab.notebook import QUIZ_BANK, quiz_order

    entry = json.loads(QUIZ_BANK.read_text())["02-1"]
    question = kafkalab.quiz("02-1")
    assert question.pregunta == entry["pregunta"]
    assert sorted(question.opciones) == sorted([entry["correcta"], *entry["incorrectas"]])
    assert question.opciones[question.correcta] == entry["correcta"]
    assert kafkalab.quiz("02-1").opciones == question.opciones  # the same, every time
    question.choices.value = question.correcta
    question.button.click()
    assert "¡Correcto!" in question.feedback.value
    orders = {tuple(quiz_order("02-1", 4, person)) for person in ("ana", "luis", "eva", "sara")}
    assert len(orders) > 1  # people see different orders
    assert quiz_order("02-1", 4, "ana") == quiz_order("02-1", 4, "ana")
    with pytest.raises(KafkaLabError, match="No hay ninguna pregunta «99-9»"):
        kafkalab.quiz("99-9")


# --- the notebook's one cluster (last: it replaces the module's cluster) ----------------------


@pytest.mark.slow
def test_start_cluster_again_closes_the_previous_cluster(shell, cluster, topic):
    first = kafkalab.start_cluster(brokers=1, progress=False)
    assert cluster._closed, "the module's cluster was replaced"
    first_root = str(first._root)
    assert len(java_processes_mentioning(first_root)) == 1

    second = kafkalab.start_cluster(brokers=1, progress=False)
    try:
        assert java_processes_mentioning(first_root) == []
        assert len(java_processes_mentioning(str(second._root))) == 1
        assert kafkalab.current_cluster() is second
        consumers = kafkalab.watch_consumers(topic, count=1)
        assert len(java_processes_mentioning(topic)) == 1, repr(consumers)
    finally:
        second.close()
    assert wait_until(lambda: java_processes_mentioning(topic) == [], timeout=5), repr(consumers)
    assert wait_until(lambda: not consumers.running, timeout=5), "its guard exits too"
    with pytest.raises(KafkaLabError, match="ejecuta primero la celda que arranca el clúster"):
        kafkalab.current_cluster()
    out, err, error = run(shell, "%kafka kafka-topics.sh --list")
    assert isinstance(error, KafkaLabError)
    assert "ejecuta primero la celda" in out + err and "Traceback" not in out + err
