"""The instructor's JupyterLab: ``make instructor`` (``python -m autograder.instructor``).

JupyterLab with nbgrader's formgrader (Nbgrader › Formgrader) on the nbgrader course in
``assignments/``. The server runs in the course folder, which is also its root: there
nbgrader finds ``nbgrader_config.py`` (course ``kafka-iabd``, the trusted autograde pipeline,
the local exchange folder ``assignments/exchange``). Kafka's command line tools and this
virtualenv's scripts (``alembic`` for the gradebook, ``nbgrader``) are on its PATH, so
Generate, Autograde and Generate Feedback in the browser grade exactly as the command line
does. It listens on 127.0.0.1 only.

    python -m autograder.instructor [--course DIR] [jupyter lab options, e.g. --port=8890]

This module is the one place that says how: ``make instructor`` runs it, and so does
``tests/autograder/test_formgrader.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..grader.course import COURSE_ROOT, Course
from .notebooks import convert_sources

__all__ = ["command", "environment", "exchange_root", "main"]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: Kafka's tools and this virtualenv's scripts first on PATH."""
    from kafkalab.distribution import ensure_kafka

    env = dict(os.environ if base is None else base)
    scripts = str(Path(sys.executable).parent)
    kafka = str(ensure_kafka(progress=sys.stderr.isatty()).bin_dir)
    env["PATH"] = os.pathsep.join([kafka, scripts, env.get("PATH", "")])
    # A cluster address inherited from a notebook must not leak into the grader.
    for name in ("KAFKALAB_BOOTSTRAP_SERVER", "KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"):
        env.pop(name, None)
    return env


def command(course: Path, extra: Sequence[str] = ()) -> list[str]:
    """``jupyter lab`` for ``course``; the options that make it work come after ``extra``."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        *extra,
        # Last, so that nothing in ``extra`` changes them: the formgrader needs the course
        # inside the server's root, and the grader's pages are for this machine only.
        f"--ServerApp.root_dir={course}",
        "--ServerApp.ip=127.0.0.1",
    ]


def exchange_root(course: Path) -> Path:
    """The exchange folder the course's ``nbgrader_config.py`` sets (and creates)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return Path(config.Exchange.root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.instructor",
        description="JupyterLab del profesor: el curso nbgrader con el formgrader "
        "(Nbgrader › Formgrader), solo en 127.0.0.1.",
        epilog="Las demás opciones pasan tal cual a jupyter lab (por ejemplo --port=8890 "
        "--no-browser).",
    )
    parser.add_argument(
        "--course", type=Path, default=COURSE_ROOT, help="carpeta del curso nbgrader"
    )
    args, extra = parser.parse_known_args(argv)
    course = args.course.resolve()
    if not Course(course).config_file.is_file():
        print(f"No hay un curso nbgrader en {course} (falta nbgrader_config.py).", file=sys.stderr)
        return 2

    from kafkalab.errors import KafkaLabError

    try:
        env = environment()
    except KafkaLabError as error:
        print(f"{error.title}: {error}", file=sys.stderr)
        return 1
    # nbgrader reads source/<activity>/*.ipynb: write them from the Markdown sources.
    convert_sources(course)
    print(f"Curso nbgrader: {course}")
    print(f"Carpeta de intercambio (Release, Collect): {exchange_root(course)}")
    print("En JupyterLab: Nbgrader › Formgrader.", flush=True)
    os.chdir(course)  # nbgrader loads nbgrader_config.py from the working directory
    arguments = command(course, extra)
    sys.stderr.flush()
    os.execve(arguments[0], arguments, env)  # the server takes this process's place (and PID)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
