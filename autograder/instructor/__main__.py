"""``python -m autograder.instructor``: the instructor's JupyterLab (see :mod:`.lab`)."""

import sys

from .lab import main

sys.exit(main())
