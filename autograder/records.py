"""The grader's records of a class, under ``<course>/informes/<activity>/``.

``calificacion.json`` (the grading runs), ``eventos/<student>.json`` (what happened to each
submission), ``importacion.json`` and ``participantes.json`` (the Moodle import),
``informe.html`` (the class report) and ``notas.csv`` (the export) all live there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["reports_dir", "write_json"]


def reports_dir(course_root: Path, activity: str) -> Path:
    """The folder of ``activity``'s records."""
    return Path(course_root) / "informes" / activity


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON atomically: a reader never sees half a file (raises OSError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
