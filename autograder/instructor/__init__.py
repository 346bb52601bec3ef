"""The instructor's side: the class loop and what an instructor reads.

``grading.py`` grades a class (``python -m autograder grade``; ``worker.py`` is one of its
grading processes), ``notebooks.py`` makes the .ipynb files nbgrader reads from the Markdown
sources, ``feedback.py`` names each check in the Spanish feedback, ``lms/`` imports Moodle's
zip and exports grades (an nbgrader export plugin), ``report/`` writes the class report, and
``lab.py`` opens the instructor's JupyterLab with the formgrader (``make instructor``, which
runs ``python -m autograder.instructor``). ``templates/`` holds the feedback and report pages.
"""
