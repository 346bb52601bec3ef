"""The tests: tests/<package>/ mirrors the package layout, shared helpers live in tests/support/."""

import pytest

# The shared helpers that assert (tests/support/hola_kafka.py...) explain a failure as tests do.
pytest.register_assert_rewrite("tests.support")
