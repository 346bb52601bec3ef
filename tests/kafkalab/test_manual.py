"""kafkalab.manual.Terminal: commands shown as typed, bounded, and nothing left behind.

The whole "Kafka by hand" path (format --standalone, a server started in the background, the
dynamic quorum) runs in lesson 07's test; these cover the shell's failures and its cleanup.
"""

from __future__ import annotations

import time

import pytest

from kafkalab import KafkaLabError
from kafkalab.manual import Terminal
from tests.support.processes import processes_mentioning


def test_commands_run_in_the_folder_and_print_as_typed(capsys):
    with Terminal("prueba") as terminal:
        terminal.write("hola.txt", "hola\n")
        output = terminal.run("cat hola.txt && kafka-storage.sh random-uuid")
        folder = terminal.folder
        assert folder.is_dir() and folder.name == "prueba"
    printed = capsys.readouterr().out
    assert "$ cat hola.txt\nhola" in printed
    assert "$ cat hola.txt && kafka-storage.sh random-uuid" in printed
    cluster_id = output.splitlines()[-1]
    assert len(cluster_id) == 22
    assert not folder.exists()
    assert f"(carpeta {folder} borrada)" in printed


def test_a_failing_command_and_a_slow_one_end_with_spanish_errors():
    with Terminal(echo=False) as terminal:
        with pytest.raises(KafkaLabError, match="ha terminado con código 3"):
            terminal.run("echo salida; exit 3")
        assert terminal.run("exit 3", check=False) == ""
        began = time.monotonic()
        with pytest.raises(KafkaLabError, match="no ha terminado en 1 s"):
            terminal.run("sleep 30 && echo kafkalab-lento", timeout=1)
        assert time.monotonic() - began < 10
        assert not processes_mentioning("kafkalab-lento")


def test_a_new_terminal_closes_one_left_open_and_a_closed_one_refuses_commands():
    left_open = Terminal(echo=False)
    folder = left_open.folder
    replacement = Terminal(echo=False)
    try:
        assert left_open.closed and not folder.exists()
        with pytest.raises(KafkaLabError, match="ya está cerrado"):
            left_open.run("true")
    finally:
        replacement.close()
    assert replacement.closed
