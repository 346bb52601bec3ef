"""What the layout tests of each package share: finding import cycles in a module graph."""

from __future__ import annotations

__all__ = ["import_cycles"]


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """The cycles of ``graph`` (module -> modules it imports at module level), as
    ``a -> b -> a``. A package's ``__init__`` importing its own submodules, which import their
    siblings through the package, is how packages work and is not counted."""
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for target in sorted(graph.get(name, ())):
            if target in path:
                cycle = path[path.index(target) :] + [target]
                if not any(cycle[0].startswith(f"{step}.") for step in cycle[1:-1]):
                    cycles.append(" -> ".join(cycle))
            elif len(path) < 20:
                visit(target, [*path, target])

    for name in sorted(graph):
        visit(name, [name])
    return cycles
