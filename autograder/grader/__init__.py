"""The grader's side of the trust boundary: what runs outside a student's reach.

``trusted.py`` (:class:`TrustedExecute`, nbgrader's Execute step as the course's autograde
pipeline runs it) lends each submission servers from ``servers.py`` (proven clean before they
are lent again), runs its kernel in ``sandbox.py``'s bubblewrap sandbox under the activity's
limits, decides every test cell in the grader's own process, and records what happened
(``records.py``: the types of the records; ``signals.py``: signs of tampering, never
verdicts). ``course.py`` says where everything of a course lives. Nothing here imports the
instructor's side; the student's side (``autograder``, ``checks``, ``activities``) is all a
sandbox mounts.
"""
