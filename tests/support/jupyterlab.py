"""JupyterLab as `make lab` starts it, and what a person does in its page through Selenium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from selenium.webdriver.common.by import By

from .jupyter_server import JupyterServer
from .kafka import wait_for
from .paths import COURSE, REPO

VENV_BIN = Path(sys.prefix) / "bin"
# What the Makefile's lab target passes to `jupyter lab` before the course folder, and the
# Jupyter configuration folder it adds (checked against the Makefile by
# tests/course/test_first_screen.py).
MAKE_LAB_ARGS = ["--LabApp.default_url=/lab/tree/README.md"]
STUDENT_CONFIG = REPO / "jupyter" / "student"


class Lab(JupyterServer):
    """A JupyterLab server started from the venv like `make lab`: the same arguments, the same
    PATH, the venv's settings overrides and extensions that `make setup` installs; on a
    temporary copy of course/, with the kernels' TMPDIR (their clusters' folders) in
    ``<base>/tmp``."""

    def __init__(self, base: Path):
        self.root = base / "course"
        shutil.copytree(COURSE, self.root)
        self.tmp = base / "tmp"
        self.tmp.mkdir()
        self.runtime = base / "jupyter" / "runtime"  # JUPYTER_RUNTIME_DIR (JupyterServer)
        bin_dir = subprocess.run(
            [str(VENV_BIN / "kafkalab"), "bin-dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        super().__init__(
            base,
            "jupyterlab",
            [
                str(VENV_BIN / "jupyter"),
                "lab",
                *MAKE_LAB_ARGS,
                str(self.root),
                "--ip=127.0.0.1",
                # window.jupyterapp, to read JupyterLab's state from its own objects
                "--LabApp.expose_app_in_browser=True",
            ],
            cwd=self.root,
            # PATH exactly as `make lab` builds it.
            env={
                "PATH": f"{bin_dir}:{VENV_BIN}:{os.environ.get('PATH', '')}",
                "JUPYTER_CONFIG_PATH": str(STUDENT_CONFIG),
                "TMPDIR": str(self.tmp),
            },
        )

    def browser_open_file(self) -> Path:
        """The page that `jupyter lab` asks the browser to open (``jpserver-<pid>-open.html``,
        written with or without --no-browser): it leads to JupyterLab's default URL."""
        [page] = wait_for(
            lambda: list(self.runtime.glob("jpserver-*-open.html")),
            30,
            what="la página que jupyter lab abre en el navegador",
        )
        return page


def _open_menu(driver, menu: str):
    """Open a menu of the menu bar; its item in the bar (a second click closes it)."""
    bar = driver.find_elements(By.CSS_SELECTOR, "#jp-menu-panel .lm-MenuBar-item")
    [item] = [entry for entry in bar if entry.text.strip() == menu]
    item.click()
    return item


def _shown_entries(driver) -> list:
    return [
        label
        for label in driver.find_elements(
            By.CSS_SELECTOR, ".lm-Menu .lm-Menu-item .lm-Menu-itemLabel"
        )
        if label.text.strip()
    ]


def use_menu(driver, menu: str, label: str) -> None:
    """Open a menu of the menu bar and click the entry a person reads there."""
    _open_menu(driver, menu)

    def entry():
        return [each for each in _shown_entries(driver) if each.text.strip() == label]

    wait_for(entry, 10, what=f"la entrada «{label}» del menú {menu}")[0].click()


def menu_entries(driver, menu: str) -> list[str]:
    """The labels of a menu of the menu bar, as a person reads them once it is open; the
    menu is closed again."""
    item = _open_menu(driver, menu)
    shown = wait_for(lambda: _shown_entries(driver), 10, what=f"las entradas del menú {menu}")
    labels = [label.text.strip() for label in shown]
    item.click()
    return labels
