"""Where everything of an nbgrader course lives: one object, :class:`Course`, asked everywhere.

nbgrader's :class:`~nbgrader.coursedir.CourseDirectory` names the folder of each step
(``source``, ``release``, ``submitted``, ``autograded``, ``feedback``) and builds its paths
with ``format_path``; the gradebook is ``gradebook.db``; the grader's own records, the class
report and the grade export live in ``informes/<activity>/``. Every module asks a
:class:`Course` for these paths and for nbgrader's API on the course, instead of joining
folder names itself; the grader finds its course in nbgrader's configuration
(:meth:`Course.from_config`), never in the gradebook's URL.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COURSE_ROOT", "Course"]

# The course of this repository: assignments/, beside the package.
COURSE_ROOT = Path(__file__).resolve().parents[2] / "assignments"
STEPS = ("source", "release", "submitted", "autograded", "feedback")


@dataclass(frozen=True)
class Course:
    """An nbgrader course: the folder that holds its ``nbgrader_config.py``."""

    root: Path = COURSE_ROOT

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).absolute())

    @classmethod
    def of(cls, course: Course | Path | str) -> Course:
        """``course`` as a :class:`Course` (a path names its root)."""
        return course if isinstance(course, Course) else cls(Path(course))

    @classmethod
    def from_config(cls, config) -> Course:
        """The course an nbgrader command or preprocessor works on: its configured
        ``CourseDirectory.root`` (the course's ``nbgrader_config.py`` sets its own folder;
        nbgrader's default is the working directory)."""
        from nbgrader.coursedir import CourseDirectory

        return cls(Path(CourseDirectory(config=config).root))

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    # -- nbgrader's folders ------------------------------------------------------------------

    def folder(self, step: str, activity: str, student: str = ".") -> Path:
        """The folder of ``activity`` at ``step`` (one of :data:`STEPS`) for ``student``
        (none for ``source`` and ``release``), as nbgrader builds it."""
        from nbgrader.coursedir import CourseDirectory

        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        coursedir = CourseDirectory(root=str(self.root))
        return Path(
            coursedir.format_path(getattr(coursedir, f"{step}_directory"), student, activity)
        )

    def notebook(self, step: str, activity: str, student: str = ".") -> Path:
        """The activity's notebook at ``step``: ``<folder>/<activity>.ipynb``."""
        return self.folder(step, activity, student) / f"{activity}.ipynb"

    def feedback_page(self, activity: str, student: str) -> Path:
        return self.folder("feedback", activity, student) / f"{activity}.html"

    def students(self, activity: str) -> list[str]:
        """The students with a submission folder of ``activity``, sorted."""
        submitted = self.folder("submitted", activity, "*").parent.parent
        return sorted(p.name for p in submitted.glob("*") if (p / activity).is_dir())

    # -- the gradebook and nbgrader's API ----------------------------------------------------

    @property
    def gradebook_file(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def gradebook_url(self) -> str:
        # Several grading processes may write at once: wait for the file lock, do not fail.
        return f"sqlite:///{self.gradebook_file}?timeout=300"

    def api(self, **trusted):
        """nbgrader's API on this course, configured by its ``nbgrader_config.py``;
        ``trusted`` sets options of :class:`~autograder.grader.trusted.TrustedExecute`
        (``cell_timeout``, ``reuse_servers``, ``sandbox``...); None leaves one as it is."""
        from nbgrader.apps import NbGraderAPI
        from traitlets.config.loader import PyFileConfigLoader

        # nbgrader runs `alembic` for its database: it lives beside this Python.
        scripts = str(Path(sys.executable).parent)
        if scripts not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
        config = PyFileConfigLoader(self.config_file.name, path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.db_url = self.gradebook_url
        for name, value in trusted.items():
            if value is not None:
                setattr(config.TrustedExecute, name, value)
        return NbGraderAPI(config=config)

    # -- informes/<activity>/: the grader's records, the report, the export -------------------

    def reports(self, activity: str) -> Path:
        return self.root / "informes" / activity

    def grading_record(self, activity: str) -> Path:
        """``calificacion.json``: the grading runs (:class:`~.records.GradingRun`)."""
        return self.reports(activity) / "calificacion.json"

    def events_dir(self, activity: str) -> Path:
        """``eventos/``: one :class:`~.records.Events` record per submission."""
        return self.reports(activity) / "eventos"

    def events(self, activity: str, student: str) -> Path:
        return self.events_dir(activity) / f"{student}.json"

    def import_record(self, activity: str) -> Path:
        """``importacion.json``: the last Moodle import (:class:`~.records.ImportRecord`)."""
        return self.reports(activity) / "importacion.json"

    def participants(self, activity: str) -> Path:
        """``participantes.json``: Moodle id -> student (:class:`~.records.Participants`)."""
        return self.reports(activity) / "participantes.json"

    def replaced(self, activity: str, student: str) -> Path:
        """``anteriores/<student>/``: submissions an import replaced, kept."""
        return self.reports(activity) / "anteriores" / student

    def report_page(self, activity: str) -> Path:
        return self.reports(activity) / "informe.html"

    def grades_csv(self, activity: str) -> Path:
        """``notas.csv``: the grades as Moodle's grading worksheet."""
        return self.reports(activity) / "notas.csv"
