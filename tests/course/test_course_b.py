"""Course notebooks 05-08, executed top to bottom on real clusters; their outputs checked.

Each notebook runs in a copy inside a temporary folder, so the programs and databases it
writes (`cobrador.py`, `cobros-*.db`, `guardar_personas.py`...) do not land in `course/`.
The tests read what the cells printed and check the facts each lesson teaches: a consumer
killed between commit and processing loses or repeats exactly one payment, transactions hide
aborted messages, a new quorum leader takes over and two lost controllers block metadata
changes, JSON round-trips through kafka-python, and MongoDB ends with one document per
message even after the topic is read again.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.support.backends import MONGO_SERVERS, mongo_server
from tests.support.notebooks import COURSE, cell_output, describe_rows, execute_notebook

pytestmark = pytest.mark.slow


def execute_copy(name: str, tmp_path_factory) -> object:
    folder = tmp_path_factory.mktemp(name.removesuffix(".md"))
    shutil.copy(COURSE / name, folder / name)
    return execute_notebook(folder / name)


def all_outputs(notebook) -> str:
    """Everything every code cell printed or displayed, tagged or not."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            elif output.get("output_type") == "error":
                texts.append("\n".join(output.get("traceback", [])))
            else:
                texts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(texts)


def group_rows(text: str, group: str) -> dict[int, tuple[str, str, str]]:
    """`kafka-consumer-groups.sh --describe` rows: {partition: (current, log end, lag)}."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[2].isdigit():
            rows[int(fields[2])] = (fields[3], fields[4], fields[5])
    return rows


def quorum_field(text: str, name: str) -> int:
    return int(re.search(rf"^{name}:\s+(-?\d+)", text, flags=re.MULTILINE).group(1))


def java_string_hash(text: str) -> int:
    """abs(String.hashCode()) as Kafka computes it to place a group in __consumer_offsets."""
    code = 0
    for character in text:
        code = (31 * code + ord(character)) & 0xFFFFFFFF
    signed = code - (1 << 32) if code & 0x80000000 else code
    return abs(signed)


def test_readme_lists_every_notebook():
    readme = (COURSE / "README.md").read_text()
    notebooks = sorted(p.name for p in COURSE.glob("0*.md"))
    assert len(notebooks) == 9
    for name in notebooks:
        assert f"]({name})" in readme, name
    assert "make lab" in readme


# --- 05 · offsets and delivery semantics -----------------------------------------------------


@pytest.fixture(scope="module")
def semantics(tmp_path_factory):
    return execute_copy("05-offsets-semantica.md", tmp_path_factory)


def test_semantics_commit_is_stored_in_consumer_offsets(semantics):
    assert "pagos:0:20" in cell_output(semantics, "producir-pagos")
    leidos = cell_output(semantics, "leer-cinco")
    assert "['pago-00', 'pago-01', 'pago-02', 'pago-03', 'pago-04']" in leidos
    rows = group_rows(cell_output(semantics, "describir-contabilidad"), "contabilidad")
    assert rows == {0: ("5", "20", "15")}
    assert "cleanup.policy=compact" in cell_output(semantics, "describir-consumer-offsets")
    located = re.search(
        r"está en la partición (\d) de __consumer_offsets, que tiene (\d+) registros",
        cell_output(semantics, "particion-del-grupo"),
    )
    assert int(located.group(1)) == java_string_hash("contabilidad") % 10
    assert int(located.group(2)) >= 1
    record = cell_output(semantics, "leer-consumer-offsets")
    assert '"group":"contabilidad","topic":"pagos","partition":0' in record
    assert '"offset":5' in record
    assert "Processed a total of" in record


def test_semantics_commit_before_processing_loses_the_payment(semantics):
    assert "código de salida: -9" in cell_output(semantics, "antes-caida")
    rows = group_rows(cell_output(semantics, "antes-grupo"), "cobros-antes")
    assert rows[0][0] == "8"  # offset 7 confirmed, never processed
    resumed = cell_output(semantics, "antes-reanudar")
    assert "empiezo en el offset 8" in resumed
    assert "19 cobros apuntados para 20 pagos" in resumed
    assert "sin cobrar: ['pago-07']" in resumed
    assert "cobrados más de una vez: ninguno" in resumed


def test_semantics_commit_after_processing_repeats_the_payment(semantics):
    assert "código de salida: -9" in cell_output(semantics, "despues-caida")
    rows = group_rows(cell_output(semantics, "despues-grupo"), "cobros-despues")
    assert rows[0][0] == "7"  # offset 7 processed, never confirmed
    resumed = cell_output(semantics, "despues-reanudar")
    assert "empiezo en el offset 7" in resumed
    assert "21 cobros apuntados para 20 pagos" in resumed
    assert "sin cobrar: ninguno" in resumed
    assert "cobrados más de una vez: ['pago-07']" in resumed


def test_semantics_idempotent_producer_numbers_its_batches(semantics):
    batches = re.findall(
        r"count: (\d+) baseSequence: (-?\d+) lastSequence: (-?\d+) producerId: (-?\d+)",
        cell_output(semantics, "dump-recibos"),
    )
    idempotent = [b for b in batches if int(b[3]) >= 0]
    plain = [b for b in batches if int(b[3]) == -1]
    assert sum(int(b[0]) for b in idempotent) == 10
    assert sum(int(b[0]) for b in plain) == 10
    assert all(int(b[1]) >= 0 for b in idempotent)
    assert all(b[1] == b[2] == "-1" for b in plain)


def test_semantics_read_committed_skips_the_aborted_transaction(semantics):
    read = cell_output(semantics, "leer-movimientos")
    assert "read_uncommitted: 5 mensajes" in read
    assert "read_committed: 3 mensajes ['ingreso 100', 'ingreso 50', 'retirada 30']" in read
    assert "movimientos:0:7" in cell_output(semantics, "offsets-movimientos")  # 5 + 2 markers
    transactions = cell_output(semantics, "listar-transacciones")
    assert re.search(r"caja-1\s+\d+\s+\d+\s+CompleteAbort", transactions)


def test_semantics_idempotent_writes_survive_the_crash_exactly_once(semantics):
    text = cell_output(semantics, "idempotente-caida")
    assert "código de salida: -9" in text
    assert "empiezo en el offset 7" in text  # the payment was read twice...
    assert "20 cobros apuntados para 20 pagos" in text  # ...and written once
    assert "sin cobrar: ninguno" in text
    assert "cobrados más de una vez: ninguno" in text


def test_semantics_shows_no_python_warnings_or_tracebacks(semantics):
    text = all_outputs(semantics)
    assert "DeprecationWarning" not in text
    assert "Traceback" not in text


# --- 06 · ZooKeeper and KRaft ----------------------------------------------------------------


@pytest.fixture(scope="module")
def kraft(tmp_path_factory):
    return execute_copy("06-zookeeper-kraft.md", tmp_path_factory)


def test_kraft_nodes_are_combined_voters_and_zookeeper_is_gone(kraft):
    config = cell_output(kraft, "configuracion-kraft")
    assert "process.roles=broker,controller" in config
    voters = re.search(r"controller.quorum.voters=(\S+)", config).group(1)
    assert [v.split("@")[0] for v in voters.split(",")] == ["1", "2", "3"]
    assert "zookeeper is not a recognized option" in cell_output(kraft, "sin-zookeeper")


def test_kraft_a_new_quorum_leader_takes_over(kraft):
    status = cell_output(kraft, "quorum-estado")
    first = quorum_field(status, "LeaderId")
    assert first in (1, 2, 3)
    replication = cell_output(kraft, "quorum-replicacion")
    assert re.search(rf"^{first}\s.*Leader\s*$", replication, flags=re.MULTILINE)
    assert f"Controlador activo: {first}" in cell_output(kraft, "lider-actual")

    elected = re.search(
        r"Controlador activo: (\d+) \(antes: (\d+)\)", cell_output(kraft, "nuevo-lider")
    )
    second, before = int(elected.group(1)), int(elected.group(2))
    assert before == first and second != first

    after = cell_output(kraft, "quorum-tras-caida")
    assert quorum_field(after, "LeaderId") == second
    assert quorum_field(after, "LeaderEpoch") > quorum_field(status, "LeaderEpoch")
    assert re.search(rf"^{second}\s.*Leader\s*$", after, flags=re.MULTILINE)
    assert re.search(rf"^{first}\s.*Follower\s*$", after, flags=re.MULTILINE)


def test_kraft_topics_keep_working_with_two_controllers(kraft):
    first = quorum_field(cell_output(kraft, "quorum-estado"), "LeaderId")
    assert "Created topic tras-la-caida." in cell_output(kraft, "crear-tras-caida")
    rows = describe_rows(cell_output(kraft, "pedidos-tras-caida"))
    assert len(rows) == 3
    for row in rows.values():
        assert row["Leader"] != [first]
        assert first not in row["Isr"]
    read = cell_output(kraft, "leer-tras-caida")
    for number in range(1, 5):
        assert f"pedido {number}" in read
    assert "Processed a total of 4 messages" in read


def test_kraft_without_a_majority_metadata_changes_time_out(kraft):
    failed = cell_output(kraft, "crear-sin-quorum")
    assert "TimeoutException" in failed
    assert "kafka-topics.sh terminó con código" in failed
    assert "Created topic" not in failed
    assert quorum_field(cell_output(kraft, "quorum-recuperado"), "LeaderId") in (1, 2, 3)
    assert "Created topic con-quorum." in cell_output(kraft, "crear-con-quorum")


# --- 07 · kafka-python -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_clients(tmp_path_factory):
    return execute_copy("07-kafka-python.md", tmp_path_factory)


def test_python_json_serializer_round_trip(python_clients):
    assert "kafka-python 3." in cell_output(python_clients, "version")
    text = cell_output(python_clients, "serializador")
    assert 'b\'{"nombre": "Ana", "edad": 31}\'' in text
    assert "{'nombre': 'Ana', 'edad': 31}" in text


def test_python_producer_flushes_and_the_console_reads_json(python_clients):
    assert "10 mensajes confirmados" in cell_output(python_clients, "enviar-diez")
    console = cell_output(python_clients, "consola-lee-json")
    numbers = sorted(json.loads(line)["numero"] for line in console.splitlines() if line[:1] == "{")
    assert numbers == list(range(10))
    assert "Processed a total of 10 messages" in console


def test_python_futures_and_callbacks_report_where_messages_went(python_clients):
    assert re.search(
        r"Escrito en socios, partición [0-2], offset \d+", cell_output(python_clients, "futuro")
    )
    callbacks = cell_output(python_clients, "callbacks")
    confirmed = re.search(r"Confirmados \(partición, offset\): (\[.*\])", callbacks).group(1)
    assert len(re.findall(r"\(\d, \d+\)", confirmed)) == 5
    assert "Fallidos: []" in callbacks
    assert "MessageSizeTooLargeError" in cell_output(python_clients, "errback")


def test_python_consumer_gets_dictionaries_and_commits(python_clients):
    text = cell_output(python_clients, "consumidor-json")
    assert len(re.findall(r"^partición \d offset \d+: \{", text, flags=re.MULTILINE)) == 16
    assert "16 mensajes; el primero es un dict" in text
    rows = group_rows(cell_output(python_clients, "grupo-al-dia"), "lectores-de-socios")
    assert len(rows) == 3 and all(lag == "0" for _, _, lag in rows.values())
    assert sum(int(current) for current, _, _ in rows.values()) == 16


def test_python_group_members_share_partitions_and_keys(python_clients):
    shares = re.search(
        r"\{'ana': (\[[\d, ]*\]), 'luis': (\[[\d, ]*\])\}", cell_output(python_clients, "reparto")
    )
    ana, luis = json.loads(shares.group(1)), json.loads(shares.group(2))
    assert len(ana) == len(luis) == 2 and sorted(ana + luis) == [0, 1, 2, 3]

    cooked = dict(
        (name, (int(count), set(re.findall(r"mesa-\d", tables))))
        for name, count, tables in re.findall(
            r"^(\w+): (\d+) comandas de las particiones \[[\d, ]*\], mesas (\[.*\])$",
            cell_output(python_clients, "quien-cocina"),
            flags=re.MULTILINE,
        )
    )
    assert cooked["ana"][0] + cooked["luis"][0] == 20
    assert not cooked["ana"][1] & cooked["luis"][1]  # each table is cooked by one member
    assert cooked["ana"][1] | cooked["luis"][1] == {f"mesa-{n}" for n in range(1, 6)}

    picture = cell_output(python_clients, "dibujo-cocina")
    assert "ana" in picture and "luis" in picture
    assert "La caja ha leído 20 comandas" in cell_output(python_clients, "grupo-caja")
    rows = group_rows(cell_output(python_clients, "parar-cocineros"), "cocina")
    assert sum(int(current) for current, _, _ in rows.values()) == 20
    assert all(lag == "0" for _, _, lag in rows.values())


def test_python_shows_no_deprecation_warnings(python_clients):
    text = all_outputs(python_clients)
    assert "DeprecationWarning" not in text
    assert "Traceback" not in text


# --- 08 · Kafka to MongoDB -------------------------------------------------------------------


@pytest.fixture(scope="module", params=MONGO_SERVERS)
def pipeline(request, tmp_path_factory):
    """Notebook 08 on a real mongod, then on FerretDB (the fallback where the wheel's mongod
    does not run): the same outputs on both."""
    with mongo_server(request.param):
        notebook = execute_copy("08-kafka-mongodb.md", tmp_path_factory)
    assert f"MongoDB ({request.param}) en mongodb://127.0.0.1:" in cell_output(notebook, "arrancar")
    return notebook


def test_pipeline_every_message_becomes_one_document(pipeline):
    assert "esperando personas" in cell_output(pipeline, "lanzar-consumidor")
    run = cell_output(pipeline, "tuberia")
    assert "60 personas enviadas" in run
    counts = [int(n) for n in re.findall(r"documentos en MongoDB: (\d+)", run)]
    assert counts == sorted(counts) and counts[-1] == 60
    stopped = cell_output(pipeline, "parar-consumidor")
    assert "parada limpia: 60 mensajes guardados" in stopped
    assert "código de salida: 0" in stopped
    counted = cell_output(pipeline, "contar-documentos")
    assert "Documentos en curso.personas: 60" in counted
    assert "Mensajes enviados: 60" in counted


def test_pipeline_documents_keep_the_json_fields(pipeline):
    document = cell_output(pipeline, "un-documento")
    assert "'_id': 'personas-0-0'" in document
    for field in ("dni", "nombre", "email", "edad", "profesion", "ciudad", "provincia", "alta"):
        assert f"'{field}':" in document
    console = [
        json.loads(line)
        for line in cell_output(pipeline, "consola-personas").splitlines()
        if line[:1] == "{"
    ]
    assert len(console) == 2 and all(isinstance(p["edad"], int) for p in console)
    assert "'personas':" in cell_output(pipeline, "por-provincia")


def test_pipeline_reading_everything_again_adds_no_duplicates(pipeline):
    reset = re.findall(
        r"^guardar-personas\s+personas\s+(\d)\s+(\d+)\s*$",
        cell_output(pipeline, "reiniciar-offsets"),
        flags=re.MULTILINE,
    )
    assert sorted(reset) == [("0", "0"), ("1", "0"), ("2", "0")]
    again = cell_output(pipeline, "releer")
    assert "parada limpia: 60 mensajes guardados" in again
    assert "Documentos en curso.personas: 60" in again


def test_pipeline_shows_no_deprecation_warnings(pipeline):
    text = all_outputs(pipeline)
    assert "DeprecationWarning" not in text
    assert "Traceback" not in text
