"""Debian's Chromium, headless, driven through Selenium, for tests that look at pages.

Needs the Debian packages chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from .processes import descendants, kill_processes

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Browser:
    """Debian's chromium, headless, driven by Debian's chromedriver."""

    def __init__(self, base: Path):
        # Its own short TMPDIR: chromium's SingletonSocket path must fit in 108 bytes, which a
        # folder under pytest's tmp_path does not.
        self.tmp = Path(tempfile.mkdtemp(prefix="kafkalab-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",  # as root
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1400,1000",
            f"--user-data-dir={base / 'chromium'}",
        ):
            options.add_argument(argument)
        log = base / "chromedriver.log"
        service = Service(
            executable_path=CHROMEDRIVER,
            env={**os.environ, "HOME": str(base / "home"), "TMPDIR": str(self.tmp)},
            log_output=str(log),
        )
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
        except Exception:
            print(f"chromedriver:\n{log.read_text(errors='replace')[-3000:]}")
            if service.process is not None and service.process.poll() is None:
                below = descendants(service.process.pid)
                service.process.kill()
                service.process.wait()
                kill_processes(below)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.service = service.process
        self.driver.set_script_timeout(20)

    def quit(self) -> None:
        below = descendants(self.service.pid)  # chromium and its helpers
        try:
            self.driver.quit()
        finally:
            if self.service.poll() is None:
                self.service.kill()
                self.service.wait()
            kill_processes(below)
            shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def headless_chromium(base: Path) -> Iterator[webdriver.Chrome]:
    """A ``Browser``'s driver, quit (with every process it started) on the way out."""
    chromium = Browser(base)
    try:
        yield chromium.driver
    finally:
        chromium.quit()
