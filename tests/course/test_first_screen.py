"""The first screen of `make lab` in a real browser (Debian's chromium, headless).

JupyterLab starts as `make lab` starts it (tests/support/jupyterlab.py: the same arguments, PATH
and venv settings and extensions), and the browser opens the page that `jupyter lab` hands to
a browser. Once JupyterLab is ready, the first screen must show the course index, README.md,
rendered (Markdown Preview, not a notebook), with no pop-up about Jupyter's news; then a double
click on 00-hola-kafka.md in the file browser must open it as a notebook (its cells are not
run: tests/course/test_browser.py does that). The first screen goes to
tests/output/lab-primera-pantalla.png.

Needs the Debian packages chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
"""

from __future__ import annotations

import re
import shlex
import time
import urllib.error
from pathlib import PurePosixPath
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.support.jupyterlab import MAKE_LAB_ARGS, STUDENT_CONFIG, menu_entries
from tests.support.kafka import wait_for
from tests.support.paths import REPO, output_file

pytestmark = pytest.mark.slow

NOTEBOOK = "00-hola-kafka.md"
SCREENSHOT = "lab-primera-pantalla.png"
# How long the page is left alone, once ready, for a late pop-up to show up.
SETTLE = 3.0

# JupyterLab's state from its own objects (window.jupyterapp): ready (restored, not busy), the
# documents open in the main area, the viewer each file opens with by default.
APP_STATE = """
const app = window.jupyterapp;
if (!app) { return null; }
app.restored.then(() => { window.kafkalabRestored = true; });  // seen by a later call
const docs = [];
for (const widget of app.shell.widgets('main')) {
  const context = widget.context;
  docs.push({
    path: context ? context.path : null,
    label: widget.title.label,
    content: widget.content ? widget.content.node.className : '',
    current: app.shell.currentWidget === widget,
  });
}
return {
  ready: window.kafkalabRestored === true && !app.status.isBusy,
  docs: docs,
  viewers: Object.fromEntries(arguments[0].map(
    path => [path, (app.docRegistry.defaultWidgetFactory(path) || {}).name || null])),
};
"""

KERNEL_STATUS = """
const session = window.jupyterapp.shell.currentWidget.sessionContext.session;
return session && session.kernel ? session.kernel.status : null;
"""


# nbgrader's JupyterLab plugins, and whether a student's JupyterLab has each.
NBGRADER_PLUGINS = {
    "@jupyter/nbgrader:assignment-list": True,
    "@jupyter/nbgrader:validate-assignment": True,
    "@jupyter/nbgrader:create-assignment": False,
    "@jupyter/nbgrader:formgrader": False,
    "@jupyter/nbgrader:course-list": False,
}
PLUGINS = """
return Object.fromEntries(arguments[0].map(id => [id, window.jupyterapp.hasPlugin(id)]));
"""


def app_state(driver) -> dict | None:
    return driver.execute_script(APP_STATE, ["README.md", "glosario.md", NOTEBOOK])


def news_on_page(driver) -> list[str]:
    """Every notification toast on the page, and any text that asks about Jupyter's news."""
    toasts = [
        element.get_attribute("textContent").strip()
        for element in driver.find_elements(
            By.CSS_SELECTOR, ".Toastify__toast, .jp-toast-message, .jp-Notification-Toast"
        )
    ]
    body = driver.find_element(By.TAG_NAME, "body").get_attribute("textContent")
    asked = re.findall(r"[^.?]*Jupyter news[^.?]*\??", body)
    return toasts + asked


def test_make_lab_passes_the_same_arguments():
    """Lab (tests/support/jupyterlab.py) starts JupyterLab like the Makefile's lab target."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    [command] = [line for line in recipe.splitlines() if "jupyter lab" in line]
    words = shlex.split(command.split("$(BIN)/jupyter lab", 1)[1])
    assert words == [*MAKE_LAB_ARGS, "course/"]
    # The student's Jupyter configuration folder comes first in JUPYTER_CONFIG_PATH.
    assert "$(STUDENT_JUPYTER)" in command
    [definition] = [line for line in makefile.splitlines() if line.startswith("STUDENT_JUPYTER =")]
    first = definition.split('JUPYTER_CONFIG_PATH="', 1)[1].split("$$", 1)[0]
    assert first == f"$(abspath {STUDENT_CONFIG.relative_to(REPO)})", definition


def test_first_screen_is_the_course_index_rendered(lab, browser, tmp_path):
    began = time.monotonic()
    settings = lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    fetch_news = settings["schema"]["properties"]["fetchNews"]["default"]
    assert fetch_news == "false", (
        "faltan los ajustes de `make setup` (overrides.d/kafkalab-curso.json)"
    )
    title = (lab.root / "README.md").read_text().splitlines()[0].lstrip("# ").strip()
    lessons = sorted(path.name for path in lab.root.glob("0*.md"))
    try:
        # What `make lab` opens in the browser: jupyter lab's jpserver-<pid>-open.html.
        browser.get(lab.browser_open_file().as_uri())
        state = wait_for(
            lambda: (s := app_state(browser)) and s["ready"] and s["docs"] and s,
            90,
            what="JupyterLab listo, con un documento abierto",
        )
        [readme] = wait_for(
            lambda: browser.find_elements(
                By.CSS_SELECTOR, ".jp-MarkdownViewer .jp-RenderedMarkdown h1"
            ),
            30,
            what="README.md mostrado como Markdown",
        )
        time.sleep(SETTLE)
        browser.save_screenshot(str(output_file(SCREENSHOT)))
        state = app_state(browser)

        assert news_on_page(browser) == [], "aparece un aviso en la primera pantalla"
        assert state["viewers"] == {
            "README.md": "Markdown Preview",
            "glosario.md": "Markdown Preview",
            NOTEBOOK: "Jupytext Notebook",
        }
        [shown] = state["docs"]
        assert shown["path"] == "README.md" and shown["current"], state["docs"]
        assert "jp-MarkdownViewer" in shown["content"].split(), shown
        assert readme.text.strip() == title
        preview = browser.find_element(By.CSS_SELECTOR, ".jp-MarkdownViewer .jp-RenderedMarkdown")
        rows = preview.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert len(rows) == len(lessons), [row.text for row in rows]
        links = {
            PurePosixPath(urlparse(link.get_attribute("href")).path).name
            for link in preview.find_elements(By.TAG_NAME, "a")
        }
        assert set(lessons) <= links, links
        assert not browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook"), "un cuaderno abierto"

        # A student's JupyterLab: nbgrader's Validate and assignment list, none of the
        # instructor's tools (`make instructor` has them), in the page and on the server.
        assert browser.execute_script(PLUGINS, list(NBGRADER_PLUGINS)) == NBGRADER_PLUGINS
        nbgrader_menu = menu_entries(browser, "Nbgrader")
        assert "Assignment List" in nbgrader_menu, nbgrader_menu
        assert not {"Formgrader", "Course List"} & set(nbgrader_menu), nbgrader_menu
        with pytest.raises(urllib.error.HTTPError, match="404"):
            lab.api("/formgrader")

        # A double click on a lesson in the file browser opens it as a notebook.
        def listed_file():
            names = browser.find_elements(By.CSS_SELECTOR, ".jp-DirListing-itemText")
            return [name for name in names if name.text.strip() == NOTEBOOK]

        [name] = wait_for(listed_file, 30, what=f"{NOTEBOOK} en el explorador de archivos")
        ActionChains(browser).double_click(name).perform()
        wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Notebook"),
            60,
            what=f"{NOTEBOOK} abierto como cuaderno",
        )
        wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell"),
            60,
            what=f"las celdas de código de {NOTEBOOK}",
        )
        docs = {doc["path"]: doc for doc in app_state(browser)["docs"]}
        assert docs[NOTEBOOK]["current"], docs
        assert "jp-Notebook" in docs[NOTEBOOK]["content"].split(), docs
        assert "jp-MarkdownViewer" in docs["README.md"]["content"].split(), docs
        assert not browser.find_elements(By.CSS_SELECTOR, ".jp-FileEditor"), "se abrió como texto"
        assert news_on_page(browser) == []
        # Its kernel started (not run): a server stopped while a kernel starts takes long to exit.
        wait_for(
            lambda: browser.execute_script(KERNEL_STATUS) == "idle",
            60,
            what=f"el kernel de {NOTEBOOK} arrancado",
        )

        # Back on the index, a lesson's link opens that lesson as a notebook too.
        linked = lessons[1]
        [tab] = [
            tab
            for tab in browser.find_elements(By.CSS_SELECTOR, ".lm-DockPanel-tabBar .lm-TabBar-tab")
            if tab.text.strip() == "README.md"
        ]
        tab.click()
        [link] = wait_for(
            lambda: [
                link
                for link in browser.find_elements(
                    By.CSS_SELECTOR, ".jp-MarkdownViewer .jp-RenderedMarkdown a"
                )
                if link.is_displayed()
                and PurePosixPath(urlparse(link.get_attribute("href")).path).name == linked
            ],
            30,
            what=f"el enlace a {linked} en el índice",
        )
        link.click()
        opened = wait_for(
            lambda: {doc["path"]: doc for doc in app_state(browser)["docs"]}.get(linked),
            60,
            what=f"{linked} abierto desde su enlace",
        )
        assert opened["current"] and "jp-Notebook" in opened["content"].split(), opened
        wait_for(
            lambda: browser.execute_script(KERNEL_STATUS) == "idle",
            60,
            what=f"el kernel de {linked} arrancado",
        )
    except BaseException:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        print(f"captura: {tmp_path / 'failure.png'}\nJupyterLab:\n{lab.log_tail()}")
        raise
    print(f"test_first_screen: {time.monotonic() - began:.0f} s")
