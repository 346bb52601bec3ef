"""Course notebooks 00-04, executed top to bottom on real clusters; their outputs checked.

Each notebook starts its own cluster. The tests read what the cells printed (the real CLI's
output, kafka-python's results, the live consumer panes) and check the facts each lesson
teaches: new leaders after a broker stops, keys keeping their order, no loss with acks=all,
lag of a group without members...
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict

import pytest
from kafka.partitioner.default import murmur2

from tests.support import hola_kafka
from tests.support.notebooks import (
    COURSE,
    cell_output,
    consumed,
    describe_rows,
    execute_notebook,
    panes,
    plain_output,
)

pytestmark = pytest.mark.slow


def topic_id(text: str) -> str:
    return re.search(r"TopicId: (\S+)", text).group(1)


def end_offsets(text: str, topic: str) -> dict[int, int]:
    """`kafka-get-offsets.sh` lines `topic:partition:offset` as {partition: offset}."""
    found = re.findall(rf"^{re.escape(topic)}:(\d+):(\d+)$", text, flags=re.MULTILINE)
    return {int(partition): int(offset) for partition, offset in found}


def partition_for(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def group_table(text: str) -> list[list[str]]:
    """Data rows of `kafka-consumer-groups.sh --describe` (GROUP TOPIC PARTITION ...)."""
    table = [line.split() for line in text.splitlines() if line.strip()]
    header = next(row for row in table if row[:2] == ["GROUP", "TOPIC"])
    assert header[3:6] == ["CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    return [row for row in table if len(row) >= 6 and row[0] != "GROUP" and row[2].isdigit()]


def group_members(text: str) -> dict[str, int]:
    """`--describe --members`: {CLIENT-ID: #PARTITIONS}."""
    members = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 5 and words[0] == "app1":
            members[words[3]] = int(words[4])
    return members


# --- 00 · Hola Kafka ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hola():
    return execute_notebook(COURSE / hola_kafka.NOTEBOOK)


def test_hola_creates_lists_and_describes_a_topic(hola):
    hola_kafka.check_topic_commands(hola)


def test_hola_reads_from_the_beginning_and_only_new_messages_without_it(hola):
    hola_kafka.check_reading_from_the_beginning(hola)


def test_hola_live_consumer_sees_messages_produced_after_it_started(hola):
    hola_kafka.check_live_consumer(hola)


# --- 01 · Topics, particiones y offsets ------------------------------------------------------


@pytest.fixture(scope="module")
def topics():
    return execute_notebook(COURSE / "01-topics-particiones-offsets.md")


def test_topics_invalid_name_is_refused_in_spanish(topics):
    output = cell_output(topics, "nombre-invalido")
    assert "Topic name is invalid" in output
    assert "no es válido" in output


def test_topics_each_partition_numbers_its_own_offsets(topics):
    assert "PartitionCount: 3" in cell_output(topics, "crear-lecturas")
    assert end_offsets(cell_output(topics, "offsets-finales"), "lecturas") == {0: 4, 1: 2, 2: 3}
    records = consumed(cell_output(topics, "consumir-con-offsets"))
    assert len(records) == 9
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record["Partition"]].append(int(record["Offset"]))
    assert {p: sorted(o) for p, o in by_partition.items()} == {
        "0": [0, 1, 2, 3],
        "1": [0, 1],
        "2": [0, 1, 2],
    }
    from_offset = consumed(cell_output(topics, "consumir-particion-offset"))
    assert [(r["Offset"], r["value"]) for r in from_offset] == [("1", "15.9"), ("2", "16.3")]


def test_topics_order_holds_within_each_partition_only(topics):
    records = consumed(cell_output(topics, "consumir-numeros"))
    assert sorted(int(r["value"]) for r in records) == list(range(1, 13))
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record["Partition"]].append(int(record["value"]))
    for numbers in by_partition.values():
        assert numbers == sorted(numbers), by_partition


def test_topics_retention_delete_records_and_immutability(topics):
    assert "retention.ms=604800000" in cell_output(topics, "retencion")
    assert "retention.ms=86400000" in cell_output(topics, "cambiar-retencion")
    assert "low_watermark: 2" in cell_output(topics, "borrar-registros")
    after = cell_output(topics, "offsets-tras-borrar")
    assert end_offsets(after, "lecturas")[0] == 2
    assert [(r["Offset"], r["value"]) for r in consumed(after)] == [("2", "19.0"), ("3", "19.4")]
    corrected = consumed(cell_output(topics, "corregir"))
    assert [(r["Offset"], r["value"]) for r in corrected] == [
        ("0", "22.1"),
        ("1", "22.0"),
        ("2", "22.4 (corrige a 22.0)"),
    ]


def test_topics_a_running_producer_recreates_a_deleted_topic(topics):
    assert "numeros" not in cell_output(topics, "borrar-numeros").split()
    before = cell_output(topics, "temporal-antes")
    after = cell_output(topics, "temporal-recreado")
    assert "PartitionCount: 3" in before
    assert "PartitionCount: 1" in after
    assert topic_id(before) != topic_id(after)
    content = cell_output(topics, "temporal-contenido")
    assert "mensaje enviado tras el borrado" in content
    assert "mensaje del topic original" not in content


# --- 02 · Brokers y replicación -------------------------------------------------------------


@pytest.fixture(scope="module")
def replication():
    return execute_notebook(COURSE / "02-brokers-replicacion.md")


def test_replication_spreads_partitions_and_refuses_too_many_replicas(replication):
    picture = plain_output(replication, "dibujo-a-b")
    assert "3 brokers, 3 en marcha" in picture
    assert "Topic «topic-a»: 3 particiones" in picture
    leaders_a = re.findall(r"partición \d: líder (\d)", picture.split("Topic «topic-b»")[0])
    assert sorted(leaders_a) == ["1", "2", "3"]
    assert "replication factor of 4 cannot be reached" in cell_output(
        replication, "replicacion-imposible"
    )


def test_replication_stopping_a_broker_moves_leaders_and_shrinks_the_isr(replication):
    before = describe_rows(cell_output(replication, "pagos-antes"))
    stopped = describe_rows(cell_output(replication, "parar-broker"))
    assert sorted(row["Leader"][0] for row in before.values()) == [1, 2, 3]
    for partition, row in stopped.items():
        assert 2 not in row["Isr"] and 2 not in row["Leader"]
        assert row["Replicas"] == before[partition]["Replicas"]
        assert row["Leader"][0] in before[partition]["Isr"]
    assert "parado" in plain_output(replication, "dibujo-parado")
    under_replicated = describe_rows(cell_output(replication, "infrarreplicadas"))
    assert sorted(under_replicated) == [0, 1, 2]
    readable = cell_output(replication, "leer-con-broker-parado")
    assert "Processed a total of 6 messages" in readable


def test_replication_broker_rejoins_isr_and_preferred_leaders_return(replication):
    restarted = describe_rows(cell_output(replication, "arrancar-broker"))
    assert all(sorted(row["Isr"]) == [1, 2, 3] for row in restarted.values())
    elected = describe_rows(cell_output(replication, "eleccion-preferida"))
    assert all(row["Leader"] == row["Replicas"][:1] for row in elected.values())


def test_replication_one_bootstrap_address_reveals_every_broker(replication):
    printed = cell_output(replication, "descubrimiento-python")
    listed = re.findall(r"broker (\d) en 127\.0\.0\.1:\d+", printed)
    assert sorted(listed) == ["1", "2", "3"]
    api_lines = cell_output(replication, "descubrimiento-cli")
    assert sorted(re.findall(r"\(id: (\d)", api_lines)) == ["1", "2", "3"]


# --- 03 · Productores -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def producers():
    return execute_notebook(COURSE / "03-productores.md")


def test_producers_acks_all_loses_nothing_when_the_leader_stops(producers):
    assert describe_rows(cell_output(producers, "crear-topics-acks"))[0]["Leader"] == [1]
    table = {}
    for line in cell_output(producers, "resultado-acks").splitlines():
        words = line.split()
        if words and words[0].startswith("acks-"):
            table[words[0]] = [int(n) for n in words[1:]]
    assert set(table) == {"acks-0", "acks-1", "acks-all"}
    sent, confirmed, stored, lost = table["acks-all"]
    assert (sent, confirmed, stored, lost) == (3000, 3000, 3000, 0)
    for name in ("acks-0", "acks-1"):
        sent, confirmed, stored, lost = table[name]
        assert sent == 3000 and stored <= 3000 and lost == confirmed - stored


def test_producers_console_producer_sends_a_keyless_batch_to_one_partition(producers):
    offsets = end_offsets(cell_output(producers, "consola-sin-clave-offsets"), "sin-clave")
    assert sorted(offsets.values()) == [0, 0, 9]


def test_producers_kafka_python_spreads_keyless_messages(producers):
    printed = cell_output(producers, "python-sin-clave")
    counts = re.search(r"Mensajes por partición: (\{.*\})", printed)
    per_partition = ast.literal_eval(counts.group(1))
    assert sum(per_partition.values()) == 30
    assert len(per_partition) > 1


def test_producers_round_robin_partitioner_uses_every_partition(producers):
    offsets = end_offsets(cell_output(producers, "round-robin"), "por-turnos")
    assert sum(offsets.values()) == 12 and all(offsets.values())


def test_producers_keys_keep_order_and_follow_murmur2(producers):
    records = consumed(cell_output(producers, "consumir-con-clave"))
    assert len(records) == 9
    partition_of: dict[str, set[str]] = defaultdict(set)
    events: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        partition_of[record["key"]].add(record["Partition"])
        events[record["key"]].append((int(record["Offset"]), record["value"]))
    for key in ("ana", "luis", "marta"):
        assert partition_of[key] == {str(partition_for(key, 3))}
        assert [value for _, value in sorted(events[key])] == [
            "pedido creado",
            "pago recibido",
            "pedido enviado",
        ]
    printed = cell_output(producers, "murmur2")
    predicted = dict(re.findall(r"clave '(\w+)'\s+-> partición (\d)", printed))
    assert predicted == {key: next(iter(found)) for key, found in partition_of.items()}


def test_producers_more_partitions_move_a_key(producers):
    output = cell_output(producers, "anadir-particion-resultado")
    ana = consumed("\n".join(line for line in output.splitlines() if line.startswith("Partition:")))
    returned = [r["Partition"] for r in ana if r["value"] == "pedido devuelto"]
    earlier = {r["Partition"] for r in ana if r["value"] != "pedido devuelto"}
    assert returned == [str(partition_for("ana", 4))]
    assert earlier == {str(partition_for("ana", 3))} and returned[0] not in earlier


# --- 04 · Consumidores y grupos -------------------------------------------------------------


@pytest.fixture(scope="module")
def groups():
    return execute_notebook(COURSE / "04-consumidores-grupos.md")


def test_groups_one_consumer_reads_each_partition_in_order(groups):
    records = consumed(cell_output(groups, "un-consumidor"))
    assert len(records) == 9
    for key in ("ana", "luis", "marta"):
        steps = [r["value"] for r in records if r["key"] == key]
        assert steps == ["1 creado", "2 pagado", "3 enviado"]


def test_groups_two_consumers_share_the_partitions(groups):
    two = panes(plain_output(groups, "app1-dos-paneles"))
    assert len(two) == 2
    assert sum(len(pane) for pane in two) == 6
    partitions = [{r["Partition"] for r in pane} for pane in two]
    assert sorted(len(p) for p in partitions) == [1, 2]
    assert not partitions[0] & partitions[1]
    members = plain_output(groups, "app1-dos-grupo")
    assert "2 miembros" in members


def test_groups_a_third_member_joins_and_leaves(groups):
    joined = cell_output(groups, "tercero-entra")
    assert re.search(r"Particiones del tercer consumidor: \[\d\]", joined)
    members = group_members(cell_output(groups, "tercero-miembros"))
    assert sorted(members) == ["consumidor-1", "consumidor-2", "consumidor-python"]
    assert set(members.values()) == {1}
    after = panes(plain_output(groups, "tras-salir-paneles"))
    values = [r["value"] for pane in after for r in pane]
    assert len(values) == 9
    assert {r["key"] for pane in after for r in pane if r["value"].startswith("6 ")} == {
        "ana",
        "luis",
        "marta",
    }


def test_groups_more_consumers_than_partitions_leave_one_idle(groups):
    four = panes(plain_output(groups, "cuatro-consumidores-paneles"))
    assert sorted(len(pane) for pane in four) == [0, 1, 1, 1]
    assert "ninguna partición" in plain_output(groups, "cuatro-consumidores-grupo")


def test_groups_two_groups_both_receive_every_message(groups):
    both = panes(plain_output(groups, "dos-grupos-paneles"))
    assert [len(pane) for pane in both] == [21, 21]
    first, second = ({(r["key"], r["value"]) for r in pane} for pane in both)
    assert first == second and len(first) == 21
    assert "Processed a total of 21 messages" in cell_output(groups, "analitica-desde-el-principio")


def test_groups_committed_offsets_lag_and_no_active_members(groups):
    assert "Processed a total of 0 messages" in cell_output(groups, "analitica-otra-vez")
    listed = cell_output(groups, "listar-grupos").split()
    assert {"analitica", "app1", "app-grande"} <= set(listed)
    described = cell_output(groups, "describir-analitica")
    assert "Consumer group 'analitica' has no active members." in described
    rows = group_table(described)
    assert len(rows) == 3
    assert sum(int(row[5]) for row in rows) == 5
    assert sum(int(row[4]) - int(row[3]) for row in rows) == 5
    assert "LAG total: 5" in plain_output(groups, "dibujo-analitica")
    assert "Processed a total of 5 messages" in cell_output(groups, "analitica-vuelve")
    caught_up = group_table(cell_output(groups, "describir-analitica-al-dia"))
    assert [int(row[5]) for row in caught_up] == [0, 0, 0]
