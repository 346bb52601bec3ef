"""Where the tests find the repository and write what a person looks at afterwards."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"  # the course notebooks (MyST Markdown)
OUTPUT = REPO / "tests" / "output"  # screenshots of the browser tests (not in git)


def output_file(name: str) -> Path:
    """``tests/output/<name>``, with its folder created."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT / name
