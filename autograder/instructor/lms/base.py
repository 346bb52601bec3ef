"""What the import and the export share: the course, the activity, the participants."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from ...activities import ACTIVITIES
from ...activities import activity as find_activity
from ...grader.course import Course
from ...grader.records import Participant, Participants, RecordError, read_record

__all__ = ["LMSError", "check_activity", "check_course", "gradebook", "load_participants"]


class LMSError(Exception):
    """A problem with the zip, the activity or the course, in Spanish for the user."""


def check_activity(activity: str) -> str:
    """The activity's full name (``actividad1`` -> ``actividad1-hola-kafka``)."""
    found = find_activity(activity)
    if found is None:
        names = ", ".join(f"{a.short} ({a.name})" for a in ACTIVITIES.values())
        raise LMSError(f"No conozco la actividad «{activity}». Actividades: {names}.")
    return found.name


def check_course(course_root: Path) -> None:
    if not Course(course_root).config_file.is_file():
        raise LMSError(f"{course_root} no es un curso de nbgrader: no tiene nbgrader_config.py.")


def load_participants(course_root: Path, activity: str) -> dict[str, Participant]:
    """Moodle participant id -> student of ``activity`` (``participantes.json``), empty
    before the first import."""
    try:
        record = read_record(Course(course_root).participants(activity), Participants)
    except RecordError as error:
        raise LMSError(str(error)) from None
    return record.participants if record else {}


def gradebook(course_root: Path):
    """The course's nbgrader gradebook (a context manager)."""
    return Course(course_root).api().gradebook


def slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def order(name: str) -> tuple[str, str]:
    """Alphabetical order as a Spanish reader expects it: accents do not come last."""
    return slug(name), name
