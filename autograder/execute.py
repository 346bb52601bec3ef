"""nbgrader's Execute, made to grade a submission whose kernel dies.

nbgrader stops autograding a notebook when its kernel dies (``os._exit()``, a crash, the
memory killer), so the submission gets no grade at all. Here the cell that killed the kernel
and every code cell after it get an error output instead, so the notebook is graded on the
cells that did run: tests that could not run count as failed, never as passed.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute

__all__ = ["KernelSafeExecute"]

_MESSAGE = (
    "El kernel se detuvo durante esta celda (¿os._exit(), sys.exit() en un hilo, falta de "
    "memoria?). Las celdas siguientes no se han ejecutado."
)


def _error(text: str) -> NotebookNode:
    return NotebookNode(
        output_type="error",
        ename="KernelMuerto",
        evalue=text,
        traceback=[f"\x1b[0;31mKernelMuerto\x1b[0m: {text}"],
    )


class KernelSafeExecute(Execute):
    _kernel_died = False

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code":
            return cell
        if self._kernel_died:
            cell.outputs = [
                _error("No se ha ejecutado: el kernel se detuvo en una celda anterior.")
            ]
            return cell
        try:
            return await super().async_execute_cell(
                cell, cell_index, execution_count=execution_count, store_history=store_history
            )
        except DeadKernelError:
            self._kernel_died = True
            cell.outputs.append(_error(_MESSAGE))
            return cell

    # nbclient binds the synchronous entry point to its own coroutine: bind it to ours.
    execute_cell = run_sync(async_execute_cell)
