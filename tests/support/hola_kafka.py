"""What notebook 00-hola-kafka.md must show once it has run, whichever backend ran it."""

from __future__ import annotations

from .notebooks import cell_output, describe_rows, panes, plain_output

NOTEBOOK = "00-hola-kafka.md"
# What the notebook sends to «saludos» before its live consumer starts, in order.
MESSAGES = [
    "Hola, Kafka",
    "Este es el segundo mensaje",
    "Y este, el tercero",
    "Un cuarto mensaje, enviado desde la shell",
]


def check_topic_commands(notebook) -> None:
    """kafka-topics.sh creates, lists and describes «saludos»: one partition, one replica."""
    assert "Created topic saludos." in cell_output(notebook, "crear-topic")
    assert "saludos" in cell_output(notebook, "listar-topics").split()
    description = cell_output(notebook, "describir-topic")
    assert "PartitionCount: 1" in description and "ReplicationFactor: 1" in description
    assert describe_rows(description) == {0: {"Leader": [1], "Replicas": [1], "Isr": [1]}}


def check_reading_from_the_beginning(notebook) -> None:
    """The console consumer reads every message with --from-beginning, none without it."""
    output = cell_output(notebook, "consumir-desde-el-principio")
    assert [line for line in output.splitlines() if line in MESSAGES] == MESSAGES
    assert "Processed a total of 4 messages" in output
    assert "Processed a total of 0 messages" in cell_output(notebook, "consumir-sin-from-beginning")


def check_live_consumer(notebook) -> None:
    """The live consumer's pane shows the old messages, then those produced after it started."""
    (records,) = panes(plain_output(notebook, "consumidor-en-vivo"))
    values = [record["value"] for record in records]
    assert values[: len(MESSAGES)] == MESSAGES
    assert values[len(MESSAGES) :] == ["¿Me lees?", "Sí, al momento"]
