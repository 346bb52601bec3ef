"""The graded activities: one module each, and the student's entry points.

``verificar(activity, grade_id)`` runs one automatic check where it is called (a test cell,
nbgrader's *Validate*); ``comprobar(activity)`` runs them all with a line each. The grader
finds an activity with :func:`activity` and runs its steps in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .. import checks
from .actividad1 import ACTIVITY1
from .actividad2 import ACTIVITY2, GROUP2
from .actividad3 import ACTIVITY3, COLLECTION3, DATABASE3, PERSON_FIELDS, TOPIC3
from .base import Activity, CheckFailed, Context, Limits, Step, failure_lines, topic_name

__all__ = [
    "ACTIVITIES",
    "ACTIVITY1",
    "ACTIVITY2",
    "ACTIVITY3",
    "COLLECTION3",
    "DATABASE3",
    "GROUP2",
    "PERSON_FIELDS",
    "TOPIC3",
    "Activity",
    "CheckFailed",
    "Context",
    "Limits",
    "Step",
    "activity",
    "comprobar",
    "failure_lines",
    "topic_name",
    "verificar",
]

ACTIVITIES: dict[str, Activity] = {a.name: a for a in (ACTIVITY1, ACTIVITY2, ACTIVITY3)}


def activity(name: str) -> Activity | None:
    """The activity called ``name`` (``actividad1`` or ``actividad1-hola-kafka``)."""
    for candidate in ACTIVITIES.values():
        if name in (candidate.name, candidate.short):
            return candidate
    return None


# --- In the student's notebook ----------------------------------------------------------------


def _student_context(datos: dict) -> Context:
    def run_script(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    mongo = datos.pop("mongo", None) or datos.pop("mongo_uri", None)
    answers = {k: (v if isinstance(v, str) else None) for k, v in datos.items()}
    return Context(
        kafka=checks.bootstrap_servers(),
        mongo_uri=mongo,
        answers=answers,
        workdir=Path.cwd(),
        run_script=run_script,
    )


def _find(actividad: str) -> Activity:
    found = activity(actividad)
    if found is None:
        names = ", ".join(a.short for a in ACTIVITIES.values())
        raise ValueError(f"No conozco la actividad «{actividad}». Actividades: {names}.")
    return found


def verificar(actividad: str, paso: str, **datos) -> None:
    """Run one automatic check of an activity here, as a test cell does.

    Prints ✔ and what was found, or raises :class:`CheckFailed` with a Spanish message saying
    what was expected and what was found.
    """
    spec = _find(actividad)
    step = spec.step(paso)
    if step is None:
        raise ValueError(f"La actividad {spec.short} no tiene la comprobación «{paso}».")
    try:
        message = step.run(_student_context(dict(datos)))
    except AssertionError as error:
        raise CheckFailed(step.title, str(error)) from None
    print(f"✔ {message}")


def comprobar(actividad: str, **datos) -> bool:
    """Run every automatic check of an activity and print what passes and what is missing."""
    spec = _find(actividad)
    passed = 0
    for step in spec.steps:
        try:
            step.run(_student_context(dict(datos)))
        except AssertionError as error:
            print(f"✘ {step.title}: {error}")
        else:
            passed += 1
            print(f"✔ {step.title}")
    print(f"{passed} de {len(spec.steps)} comprobaciones superadas.")
    return passed == len(spec.steps)
