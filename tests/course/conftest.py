"""JupyterLab started as `make lab` starts it, and a headless Chromium on it: the fixtures of
the browser tests."""

from __future__ import annotations

import pytest

from tests.support.chromium import headless_chromium
from tests.support.jupyter_server import serving
from tests.support.jupyterlab import Lab


@pytest.fixture
def lab(tmp_path):
    with serving(Lab(tmp_path), 60, "JupyterLab responde en /api/status") as server:
        yield server


@pytest.fixture
def browser(tmp_path, lab):
    with headless_chromium(tmp_path) as driver:
        yield driver
