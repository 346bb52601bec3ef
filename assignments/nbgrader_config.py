# nbgrader course of the Kafka course: `python -m autograder` runs it (see README).
# Run nbgrader from this folder. Sources are jupytext Markdown (source/<activity>/*.md);
# `python -m autograder prepare` converts them to the .ipynb files nbgrader reads.
import os
import sysconfig
import warnings

import nbgrader
from sqlalchemy.exc import SAWarning

import autograder

c = get_config()  # noqa: F821 - provided by nbgrader

# nbgrader 0.9's gradebook makes SQLAlchemy warn on every autograde (relationship overlaps):
# nothing an instructor can act on, so it stays out of their terminal (`make grade`, the
# formgrader's log, `nbgrader autograde`), whichever of them loads this file.
warnings.filterwarnings("ignore", category=SAWarning)

# nbgrader runs `alembic` (from PATH) when it creates a new gradebook.db: put the scripts of the
# Python running nbgrader (the venv's bin, where pip installed alembic) first on PATH when they
# are not there, so `.venv/bin/nbgrader ...` works without an activated venv.
_scripts = sysconfig.get_path("scripts")
if _scripts not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_scripts, os.environ.get("PATH", "")])

c.CourseDirectory.course_id = "kafka-iabd"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# The exchange (where Release puts the student versions and Collect finds the submissions):
# on one machine, a folder of the course; on the class hub (deploy/jupyterhub), the volume
# shared by every container, named by NBGRADER_EXCHANGE_ROOT.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "exchange"
)
os.makedirs(c.Exchange.root, exist_ok=True)
# On the class hub the exchange is shared by the whole class: a submission counts only for
# the account that made it (autograder/instructor/exchange.py), never for the name it bears.
if os.environ.get("KAFKALAB_AULA_UIDS"):
    c.ExchangeFactory.collect = "autograder.instructor.exchange.OwnerCheckedCollect"
# The Markdown sources hold the solutions: never release them.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*", "*.md"]

c.ClearSolutions.code_stub = {"python": "# ESCRIBE AQUÍ TU CÓDIGO\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "ESCRIBE AQUÍ TU RESPUESTA"

# Grading that a submission cannot fool (autograder/grader/trusted.py): the grader starts the Kafka
# cluster and MongoDB, runs the kernel in a sandbox (bubblewrap) and decides every test cell
# in its own process. A cell that runs longer than the activity's limit is interrupted.
c.Execute.startup_timeout = 60
c.Autograde.autograde_preprocessors = [
    "autograder.grader.trusted.TrustedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# A test cell deleted from a submission is put back (and scores what its check finds).
c.OverwriteCells.add_missing_cells = True

# Feedback in Spanish: our translated "feedback" template shadows nbgrader's; each check is
# named by its title.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "autograder.instructor.feedback.CheckTitles",
]
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(autograder.__file__), "instructor", "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]

# `nbgrader export` writes Moodle's grading worksheet (informes/<activity>/notas.csv), with
# nbgrader's late penalty taken off as its own CSV exporter does; `--exporter=
# nbgrader.plugins.CsvExportPlugin` still gives nbgrader's grades.csv.
c.ExportApp.plugin_class = "autograder.instructor.lms.MoodleExportPlugin"
