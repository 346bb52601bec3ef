# nbgrader course of the Kafka course: `python -m autograder` runs it (see README).
# Run nbgrader from this folder. Sources are jupytext Markdown (source/<activity>/*.md);
# `python -m autograder prepare` converts them to the .ipynb files nbgrader reads.
import os

import nbgrader

import autograder

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "kafka-iabd"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# The Markdown sources hold the solutions: never release them.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*", "*.md"]

c.ClearSolutions.code_stub = {"python": "# ESCRIBE AQUÍ TU CÓDIGO\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "ESCRIBE AQUÍ TU RESPUESTA"

# A cell that runs longer is interrupted and the notebook goes on (an infinite loop costs
# this much, not the whole grading run). The grading driver sets it per activity.
c.Execute.timeout = 120
c.Execute.startup_timeout = 60
# A submission whose kernel dies is still graded, on the cells that ran.
c.Autograde.autograde_preprocessors = [
    "autograder.execute.KernelSafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback in Spanish: our translated "feedback" template shadows nbgrader's.
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(autograder.__file__), "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
