"""The shape of the package, checked on its source: backends are known only to themselves,
errors live in one module, no module reaches into another's private names, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import kafkalab
from tests.support.layout import import_cycles

PACKAGE = Path(kafkalab.__file__).parent
REPOSITORY = PACKAGE.parent
BACKEND_NAMES = {"local", "docker", "external"}
BACKEND_MODULES = {f"{kind}/{name}.py" for kind in ("kafka", "mongo") for name in BACKEND_NAMES}


def modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def module_name(relative: str) -> str:
    parts = ["kafkalab", *relative.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_module(relative: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` reads."""
    if not node.level:
        return node.module or ""
    package = module_name(relative).split(".")
    if not relative.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def test_only_backend_modules_know_backends():
    found = []
    for relative, tree in modules().items():
        if relative in BACKEND_MODULES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "hasattr":
                found.append(f"{relative}:{node.lineno} hasattr")
            if isinstance(node, ast.Compare):
                values = [node.left, *node.comparators]
                named = [
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant) and v.value in BACKEND_NAMES
                ]
                if named:
                    found.append(f"{relative}:{node.lineno} compares with {named}")
    assert found == []


def test_every_error_class_is_in_errors_py():
    found = [
        f"{relative}:{node.lineno} {node.name}"
        for relative, tree in modules().items()
        if relative != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", "").endswith(("Error", "Exception")) for base in node.bases)
    ]
    assert found == []


def test_no_private_name_is_imported_across_modules():
    found = []
    sources = [*PACKAGE.rglob("*.py"), *(REPOSITORY / "autograder").rglob("*.py")]
    sources += [*(REPOSITORY / "tests").rglob("*.py"), *(REPOSITORY / "benchmarks").rglob("*.py")]
    for path in sources:
        relative = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else ""
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
                continue
            source = imported_module(relative, node) if node.level else node.module or ""
            if not source.startswith("kafkalab"):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            private += [part for part in source.split(".") if part.startswith("_")]
            if private:
                found.append(f"{path.relative_to(REPOSITORY)}:{node.lineno} {private}")
    assert found == []


def test_no_import_cycles_at_module_level():
    """Imports inside functions (deferred on purpose) do not count."""
    graph: dict[str, set[str]] = {}
    names = {module_name(relative) for relative in modules()}
    for relative, tree in modules().items():
        edges = graph.setdefault(module_name(relative), set())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                source = imported_module(relative, node)
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    edges.add(target if target in names else source)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
    for edges in graph.values():
        edges.intersection_update(names)

    assert import_cycles(graph) == []
