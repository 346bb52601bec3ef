"""A grading process of ``python -m autograder grade --jobs N`` (see :mod:`.grading`)."""

import json
import sys

from .grading import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(json.loads(sys.argv[1])))
