"""The shape of the autograder package, checked on its source: it follows its trust boundary.

* the student side (``autograder/__init__.py``, ``checks.py``, ``activities/``: what a
  student's notebook imports, and all the grading sandbox mounts) imports nothing of the
  grader's side or the instructor's;
* the grader's side (``grader/``: trusted execution, sandbox, servers, signals, records)
  imports nothing of the instructor's (``instructor/``: the class loop, the LMS, the report);
* no import cycles at module level, no private name imported from another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import autograder
from tests.support.layout import import_cycles

PACKAGE = Path(autograder.__file__).parent
REPOSITORY = PACKAGE.parent
STUDENT_SIDE = {"autograder", "autograder.checks", "autograder.activities"}
SIDES = ("autograder.grader", "autograder.instructor")


def modules() -> dict[str, ast.Module]:
    """Module name -> its parsed source, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["autograder", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return found


def is_package(name: str) -> bool:
    return (PACKAGE.joinpath(*name.split(".")[1:]) / "__init__.py").is_file()


def imports(name: str, tree: ast.Module, *, top_level_only: bool = False) -> list[tuple]:
    """(line, imported module, imported names) of every import in ``tree``."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = name.split(".") if is_package(name) else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.append((node.lineno, source, [alias.name for alias in node.names]))
    return found


def side(module: str) -> str | None:
    """``student``, ``autograder.grader`` or ``autograder.instructor``; None outside. The
    command line (``python -m autograder``) is the instructor's."""
    if not module.startswith("autograder"):
        return None
    if module == "autograder.__main__":
        return "autograder.instructor"
    for name in SIDES:
        if module == name or module.startswith(name + "."):
            return name
    return "student"


def targets(source: str, names: list[str], known: set[str]) -> set[str]:
    """The modules an import reads: ``from a import b`` reads ``a.b`` when that is one."""
    modules_read = {f"{source}.{n}" for n in names if f"{source}.{n}" in known}
    if not names or len(modules_read) < len(names):
        modules_read.add(source)  # names defined in ``source`` itself
    return modules_read


def test_the_student_side_imports_nothing_of_the_grader_or_the_instructor():
    known = set(modules())
    assert known >= STUDENT_SIDE
    found = []
    for name, tree in modules().items():
        if side(name) != "student":
            continue
        for line, source, names in imports(name, tree):
            reached = {side(t) for t in targets(source, names, known)} - {None, "student"}
            if reached:
                found.append(f"{name}:{line} imports {source} ({sorted(reached)})")
    assert found == []


def test_the_grader_imports_nothing_of_the_instructor():
    known = set(modules())
    found = [
        f"{name}:{line} imports {source}"
        for name, tree in modules().items()
        if side(name) == "autograder.grader"
        for line, source, names in imports(name, tree)
        if "autograder.instructor" in {side(t) for t in targets(source, names, known)}
    ]
    assert found == []


def test_every_module_is_on_one_side():
    outside = {
        name
        for name in modules()
        if side(name) == "student" and name not in STUDENT_SIDE
        if not name.startswith("autograder.activities.")
    }
    assert outside == set(), "a module at the top level is on the student side: say which"


def test_no_private_name_is_imported_across_modules():
    found = []
    sources = [*PACKAGE.rglob("*.py"), *(REPOSITORY / "tests").rglob("*.py")]
    sources += [*(REPOSITORY / "benchmarks").rglob("*.py")]
    for path in sources:
        tree = ast.parse(path.read_text())
        name = "outside"
        if path.is_relative_to(PACKAGE):
            name = ".".join(["autograder", *path.relative_to(PACKAGE).with_suffix("").parts])
        for line, source, names in imports(name.removesuffix(".__init__"), tree):
            if not source.startswith("autograder"):
                continue
            private = [n for n in names if n.startswith("_")]
            private += [part for part in source.split(".") if part.startswith("_")]
            private = [p for p in private if p != "__main__"]
            if private:
                found.append(f"{path.relative_to(REPOSITORY)}:{line} {private}")
    assert found == []


def test_no_import_cycles_at_module_level():
    """Imports inside functions (deferred on purpose) do not count; nor does a package's
    ``__init__`` importing its own submodules, which import their siblings through it."""
    known = set(modules())
    graph = {
        name: {
            t
            for _line, source, names in imports(name, tree, top_level_only=True)
            for t in targets(source, names, known)
            if t in known and t != name
        }
        for name, tree in modules().items()
    }
    assert import_cycles(graph) == []
