"""The round trip with Moodle: submissions in, grades out.

* :mod:`.importer`: ``python -m autograder import ZIP ACTIVITY`` turns Moodle's "Download all
  submissions" zip into nbgrader's submitted notebooks and registers each student in the
  gradebook (and says why it is not nbgrader's ``zip_collect``);
* :mod:`.exporter`: :class:`MoodleExportPlugin`, an nbgrader export plugin (``nbgrader export
  --exporter=autograder.instructor.lms.MoodleExportPlugin``, the course's default exporter)
  that writes the grades as a Moodle grading worksheet, late penalties applied as nbgrader
  applies them; ``python -m autograder export ACTIVITY`` runs it.
"""

from .base import LMSError
from .exporter import COLUMNS, MoodleExportPlugin, export_csv
from .importer import NEW, REPLACED, UNCHANGED, ImportReport, import_zip

__all__ = [
    "COLUMNS",
    "NEW",
    "REPLACED",
    "UNCHANGED",
    "ImportReport",
    "LMSError",
    "MoodleExportPlugin",
    "export_csv",
    "import_zip",
]
