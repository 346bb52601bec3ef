"""Execute course notebooks (jupytext MyST Markdown) top to bottom and read their outputs.

    notebook = execute_notebook(COURSE / "00-hola-kafka.md")
    assert "Created topic" in cell_output(notebook, "crear-topic")

Cells are found by a tag given in the Markdown source (```{code-cell} ipython3 / :tags: [x]).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from .paths import COURSE

__all__ = [
    "COURSE",
    "cell_output",
    "consumed",
    "describe_rows",
    "execute_notebook",
    "execute_runs",
    "last_run_seconds",
    "panes",
    "plain_output",
]

_timings: dict[str, float] = {}


def execute_notebook(path: Path, *, timeout: int = 180) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, in the notebook's folder; fail on any cell error."""
    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    began = time.perf_counter()
    client.execute()
    _timings[path.name] = time.perf_counter() - began
    return notebook


def execute_runs(
    path: Path, runs: Sequence[Mapping[str, str]], *, timeout: int = 120
) -> list[nbformat.NotebookNode]:
    """Run the notebook top to bottom once per item of ``runs``, all in ONE kernel.

    Each item maps cell tags to a source that replaces those cells' code in that run (an
    empty mapping runs the notebook as written). A cell that waits forever on a re-run fails
    with nbclient's timeout; any cell error fails the run. Returns one executed copy per run.
    """
    original = jupytext.read(path)
    original.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = NotebookClient(
        copy.deepcopy(original),
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    executed = []
    with client.setup_kernel():
        for number, replacements in enumerate(runs, start=1):
            notebook = copy.deepcopy(original)
            for cell in notebook.cells:
                for tag in set(cell.get("metadata", {}).get("tags", [])) & set(replacements):
                    cell.source = replacements[tag]
            client.nb = notebook
            began = time.perf_counter()
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            _timings[f"{path.name}#{number}"] = time.perf_counter() - began
            executed.append(notebook)
    return executed


def last_run_seconds(name: str) -> float:
    return _timings[name]


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return data.get("text/plain", "") + data.get("text/html", "")


def cell_output(notebook: nbformat.NotebookNode, tag: str) -> str:
    """All text a tagged cell printed or displayed (stdout, stderr, repr, HTML)."""
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise KeyError(f"no cell tagged {tag!r}")
    return "".join(_text(o) for c in cells for o in c.get("outputs", []))


def describe_rows(text: str) -> dict[int, dict[str, list[int]]]:
    """Partition lines of `kafka-topics.sh --describe`: {partition: {Leader, Replicas, Isr}}."""
    rows = {}
    for line in text.splitlines():
        if "Partition:" not in line or "Leader:" not in line:
            continue
        fields = dict(re.findall(r"(\w+): ?([^\t]*)", line.strip()))
        rows[int(fields["Partition"])] = {
            name: [int(n) for n in fields[name].split(",") if n.strip()]
            for name in ("Leader", "Replicas", "Isr")
        }
    return rows


def plain_output(notebook, tag: str) -> str:
    """What a tagged cell printed, and the text form of what it displayed (no HTML)."""
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise KeyError(f"no cell tagged {tag!r}")
    texts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            elif "data" in output:
                texts.append(output["data"].get("text/plain", "") + "\n")
    return "".join(texts)


def consumed(text: str) -> list[dict[str, str]]:
    """Console consumer lines printed with print.partition/offset/key, as dicts."""
    records = []
    for line in text.splitlines():
        if not line.startswith(("Partition:", "Offset:")):
            continue
        fields = line.split("\t")
        record: dict[str, str] = {}
        while fields and re.match(r"^(Partition|Offset):\d+$", fields[0]):
            name, value = fields.pop(0).split(":")
            record[name] = value
        if len(fields) == 2:
            record["key"] = fields.pop(0)
        record["value"] = "\t".join(fields)
        records.append(record)
    return records


def panes(text: str) -> list[list[dict[str, str]]]:
    """The text form of kafkalab.watch_consumers: one list of records per consumer."""
    result: list[list[dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("── Consumidor "):
            result.append([])
        elif line.startswith("  ") and result:
            result[-1].extend(consumed(line[2:]))
    return result
