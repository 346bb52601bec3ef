"""The activities as a student runs them: the instructor's notebook, top to bottom, in a kernel.

Activity 2 shows, before asking for it, how to start console consumers in a group from the
notebook and stop them (``kafkalab.watch_consumers`` on a topic and group of its own). Here
that example runs, then the solution with the same tool, then ``comprobar()``, then the
example again (a student re-runs cells): every check passes and nothing waits forever.
"""

from __future__ import annotations

import copy
import shutil
import time

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from autograder.grader.course import COURSE_ROOT

pytestmark = pytest.mark.slow

ACTIVITY2 = "actividad2-particiones-y-grupos"
CELL_TIMEOUT = 120  # seconds: a cell that waits forever fails the test instead of hanging it


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_activity2_example_shows_a_tool_that_works_and_can_run_again(tmp_path):
    folder = tmp_path / ACTIVITY2
    folder.mkdir()
    source = COURSE_ROOT / "source" / ACTIVITY2 / f"{ACTIVITY2}.md"
    shutil.copy(source, folder)
    notebook = jupytext.read(folder / source.name)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    ids = [_grade_id(cell) for cell in notebook.cells]
    example = notebook.cells[ids.index("ejemplo-consumidores")]
    # The statement shows the example before the cell where the student starts consumers.
    assert ids.index("ejemplo-consumidores") < ids.index("consumidores")
    assert "watch_consumers" in example.source and ".stop()" in example.source
    notebook.cells.append(copy.deepcopy(example))  # the student runs the example once more
    notebook.cells.append(nbformat.v4.new_code_cell("cluster.close()"))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    began = time.perf_counter()
    client.execute()
    print(f"activity 2 run as a student: {time.perf_counter() - began:.1f} s")

    runs = [cell for cell in notebook.cells if _grade_id(cell) == "ejemplo-consumidores"]
    assert len(runs) == 2
    for run in runs:
        printed = _printed(run)
        # Both consumers were in the group and stopped; together they read both messages,
        # only the new ones on the second run (the group committed the first two).
        assert printed.count("hola") == 1 and printed.count("adiós") == 1, printed
        assert "Consumidor 1:" in printed and "Consumidor 2:" in printed, printed
    checked = _printed(next(c for c in notebook.cells if _grade_id(c) == "comprobar"))
    assert "4 de 4 comprobaciones superadas." in checked, checked
