"""Signals that a submission tried to change its grade instead of doing the work.

The grade never depends on them (test cells are decided by the grader, see
:mod:`autograder.grader.trusted`); they are listed in the class report
(:mod:`autograder.instructor.report`) so the instructor can look at the notebook. Two
sources: locked cells (test cells, the statement) edited or deleted, found by nbgrader's
checksums in the gradebook, and code in the answer cells that touches the grader (patching
``autograder``/``kafka``/``pymongo``, changing the servers' environment variables, killing
the kernel).
"""

from __future__ import annotations

import ast
import re

from nbformat.notebooknode import NotebookNode
from nbgrader import utils

__all__ = ["locked_cells", "tamper_signals"]


# Packages whose objects the grader (or the student's view of it) relies on: assigning to
# their attributes from an answer cell is patching them.
_GRADER_PACKAGES = ("autograder", "kafka", "pymongo", "kafkalab", "nbgrader", "IPython")
_GRADER_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "KAFKALAB_BOOTSTRAP_SERVER")
_IPYTHON_HOOKS = {
    "input_transformers_post",
    "input_transformers_cleanup",
    "ast_transformers",
    "showtraceback",
    "set_custom_exc",
    "register_magic_function",
}
_KILL_COMMAND = re.compile(r"(^|[\s;&|(])(kill|pkill|killall)\b")
_ENVIRON_METHODS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__"}


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - any node unparses; be safe with odd trees
        return "?"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _unpacked(targets: list[ast.AST]) -> list[ast.AST]:
    """Assignment targets with tuples and lists (``a.b, c[0] = ...``) taken apart."""
    found: list[ast.AST] = []
    todo = list(targets)
    while todo:
        target = todo.pop()
        if isinstance(target, ast.Tuple | ast.List):
            todo.extend(target.elts)
        elif isinstance(target, ast.Starred):
            todo.append(target.value)
        else:
            found.append(target)
    return found


def _code_signals(source: str) -> list[str]:
    """Signals in one answer cell's code that it reaches for the grader (Spanish)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        python = TransformerManager().transform_cell(source)
        tree = ast.parse(python)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        found = []
        if any(v in source for v in _GRADER_VARIABLES) and "environ" in source:
            found.append("modifica variables de entorno del corrector")
        if "os._exit" in source or _KILL_COMMAND.search(source):
            found.append("termina procesos (os._exit / kill)")
        return found
    # The packages themselves (the notebook imports autograder in a locked cell) and any name
    # this cell imports from them.
    protected: set[str] = set(_GRADER_PACKAGES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _GRADER_PACKAGES:
                    protected.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] in _GRADER_PACKAGES
        ):
            protected.update(alias.asname or alias.name for alias in node.names)
    found: list[str] = []

    def add(text: str) -> None:
        if text not in found:
            found.append(text)

    def mentions_variable(node: ast.AST) -> bool:
        text = _dotted(node)
        return any(v in text for v in _GRADER_VARIABLES)

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for part in _unpacked(targets):
            if isinstance(part, ast.Attribute) and _root_name(part) in protected:
                add(f"reasigna {_dotted(part)}")
            elif isinstance(part, ast.Attribute) and part.attr in _IPYTHON_HOOKS:
                add(f"altera IPython ({_dotted(part)})")
            elif (
                isinstance(part, ast.Subscript)
                and _dotted(part.value).endswith("environ")
                and mentions_variable(part.slice)
            ):
                add(f"cambia {_dotted(part.slice).strip(chr(39) + chr(34))} en os.environ")
        if not isinstance(node, ast.Call):
            continue
        function = _dotted(node.func)
        name = node.func.attr if isinstance(node.func, ast.Attribute) else function
        if name in ("setattr", "delattr", "__setattr__", "__delattr__"):
            add(f"modifica atributos con {function}()")
        elif isinstance(node.func, ast.Attribute) and (
            _dotted(node.func.value).endswith("environ") and name in _ENVIRON_METHODS
        ):
            if mentions_variable(node):
                add("cambia variables de entorno del corrector en os.environ")
        elif function in ("os.putenv", "os.unsetenv", "putenv", "unsetenv") and mentions_variable(
            node
        ):
            add("cambia variables de entorno del corrector (putenv)")
        elif function in ("os._exit", "_exit", "os.abort"):
            add(f"termina el kernel ({function})")
        elif function in ("os.kill", "os.killpg", "signal.pthread_kill", "kill", "killpg"):
            add(f"envía señales a procesos ({function})")
        elif name == "run_line_magic" and node.args and mentions_variable(node):
            add("cambia variables de entorno del corrector (%env)")
        elif name in ("system", "getoutput", "run", "Popen", "call", "check_call", "check_output"):
            for argument in node.args:
                for constant in ast.walk(argument):
                    if (
                        isinstance(constant, ast.Constant)
                        and isinstance(constant.value, str)
                        and _KILL_COMMAND.search(constant.value)
                    ):
                        add("termina procesos con kill")
        if (
            isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr in _IPYTHON_HOOKS
        ):
            add(f"altera IPython ({_dotted(node.func.value)})")
    return found


def locked_cells(db_url: str, assignment: str, notebook: str) -> dict[str, tuple[str, bool]]:
    """The locked cells of a released notebook as the gradebook has them: ``grade_id`` ->
    (nbgrader checksum, whether it is a test cell). Empty when the notebook is unknown."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gradebook:
        try:
            stored = gradebook.find_notebook(notebook, assignment)
        except MissingEntry:
            return {}
        tests = {cell.name for cell in stored.grade_cells}
        return {
            cell.name: (cell.checksum, cell.name in tests)
            for cell in stored.source_cells
            if cell.locked
        }


def tamper_signals(notebook: NotebookNode, locked: dict[str, tuple[str, bool]]) -> list[dict]:
    """Signals that a submitted notebook tried to reach the grader (not verdicts).

    ``locked`` maps each locked cell's ``grade_id`` to (its nbgrader checksum, whether it is a
    test cell), as the gradebook has them. Returns ``{"kind", "cell", "detail"}`` dicts with
    Spanish ``detail``: locked cells deleted or edited, and answer cells whose code patches
    ``autograder``/``kafka``/``pymongo``/IPython, changes the servers' environment variables
    or kills processes.
    """
    signals: list[dict] = []
    seen: set[str] = set()
    for number, cell in enumerate(notebook.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        label = grade_id or f"celda {number}"
        if grade_id in locked:
            seen.add(grade_id)
            checksum, is_test = locked[grade_id]
            try:
                edited = utils.compute_checksum(cell) != checksum
            except Exception:  # metadata the student mangled
                edited = True
            if edited:
                what = "celda de comprobación" if is_test else "celda bloqueada"
                signals.append(
                    {
                        "kind": "test-editado" if is_test else "celda-bloqueada-editada",
                        "cell": label,
                        "detail": f"{what} modificada por el estudiante (nbgrader la restaura)",
                    }
                )
            continue
        if cell.get("cell_type") != "code":
            continue
        for detail in _code_signals(cell.get("source", "")):
            signals.append({"kind": "codigo", "cell": label, "detail": detail})
    for grade_id, (_checksum, is_test) in locked.items():
        if grade_id not in seen:
            what = "celda de comprobación" if is_test else "celda bloqueada"
            signals.append(
                {
                    "kind": "test-borrado" if is_test else "celda-bloqueada-borrada",
                    "cell": grade_id,
                    "detail": f"{what} borrada del cuaderno (nbgrader la restaura)",
                }
            )
    return signals
