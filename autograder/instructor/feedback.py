"""What the feedback page needs beyond nbgrader's: the title of each automatic check."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from ..activities import activity

__all__ = ["CheckTitles"]


class CheckTitles(Preprocessor):
    """Put each test cell's Spanish title in ``resources['autograder']['titles']``."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        spec = activity(resources.get("nbgrader", {}).get("assignment", ""))
        titles = {step.grade_id: step.title for step in spec.steps} if spec else {}
        resources.setdefault("autograder", {})["titles"] = titles
        return nb, resources
