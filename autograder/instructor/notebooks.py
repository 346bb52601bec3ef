"""Assignment sources: jupytext Markdown in git, the .ipynb files nbgrader reads made from it."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

from ..grader.course import COURSE_ROOT

__all__ = ["ACTIVITIES", "convert_sources"]

ACTIVITIES = [
    "actividad1-hola-kafka",
    "actividad2-particiones-y-grupos",
    "actividad3-kafka-a-mongodb",
]


def convert_sources(root: Path = COURSE_ROOT) -> list[Path]:
    """Write ``source/<activity>/<name>.ipynb`` from each ``.md`` next to it (if changed)."""
    written = []
    for source in sorted((root / "source").glob("*/*.md")):
        notebook = jupytext.read(source)
        notebook.metadata.pop("jupytext", None)
        target = source.with_suffix(".ipynb")
        text = nbformat.writes(notebook)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written
