"""A student's path through `make lab` in a real browser (Debian's chromium, headless).

JupyterLab runs from the venv as `make lab` starts it (the same PATH, the venv's settings
overrides that `make setup` installs), on 127.0.0.1 with a free port and a random token, in
temporary HOME and Jupyter folders and on a temporary copy of course/. In the file browser a
double click on 00-hola-kafka.md must open it as a notebook; Run > Run All Cells must run every
cell without an error output and show what Kafka printed; after the first cell starts a cluster
again, Kernel > Shut Down Kernel must leave no broker JVM behind.

Needs the Debian packages chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.support.jupyterlab import use_menu
from tests.support.kafka import wait_for
from tests.support.paths import output_file
from tests.support.processes import java_processes_mentioning

pytestmark = pytest.mark.slow

NOTEBOOK = "00-hola-kafka.md"
RUN_ALL_TIMEOUT = 180.0


def brokers_under(folder: Path) -> list[int]:
    """Broker JVMs (kafka.Kafka) whose command line mentions ``folder``."""
    found = []
    for pid in java_processes_mentioning(str(folder)):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"\0kafka.Kafka\0" in handle.read():
                    found.append(pid)
        except OSError:
            continue
    return found


# Reads the open notebook through JupyterLab's own objects (window.jupyterapp).
# The lesson's SVG pictures, scrolled into view one by one: {src: natural width} (0: broken).
PICTURES = """
const found = {};
for (const img of document.querySelectorAll('.jp-NotebookPanel img')) {
  if (!img.src.includes('.svg')) { continue; }
  img.scrollIntoView();
  if (!img.complete) { return null; }
  found[img.getAttribute('src')] = img.naturalWidth;
}
return Object.keys(found).length ? found : null;
"""

NOTEBOOK_STATE = """
const panel = window.jupyterapp.shell.currentWidget;
if (!panel || !panel.content || !panel.content.model) { return null; }
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = [];
const model = panel.content.model;
for (let i = 0; i < model.cells.length; i++) {
  const cell = model.cells.get(i);
  if (cell.type !== 'code') { continue; }
  cells.push({
    count: cell.executionCount,
    tags: cell.getMetadata('tags') || [],
    outputs: cell.outputs.toJSON(),
  });
}
return {
  kernel: kernel ? kernel.status : null,
  factory: window.jupyterapp.docRegistry.defaultWidgetFactory(arguments[0]).name,
  cells: cells,
};
"""


def notebook_state(driver) -> dict | None:
    return driver.execute_script(NOTEBOOK_STATE, NOTEBOOK)


def prompts(driver) -> list[str]:
    """The prompt of every code cell as the page shows it: '[3]:', '[*]:', '[ ]:'."""
    return [
        element.get_attribute("textContent").strip()
        for element in driver.find_elements(
            By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt"
        )
    ]


def test_double_click_opens_a_notebook_that_runs_on_kafka(lab, browser, tmp_path):
    began = time.monotonic()
    code_cells = (lab.root / NOTEBOOK).read_text().count("```{code-cell}")
    settings = lab.api("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("markdown") == "Jupytext Notebook", (
        f"{viewers}: faltan los ajustes de `make setup` (overrides.d/kafkalab-curso.json)"
    )

    try:
        # The student's way in: JupyterLab's file browser, a double click on the notebook.
        browser.get(f"{lab.url}/lab?token={lab.token}")

        def listed_file():
            names = browser.find_elements(By.CSS_SELECTOR, ".jp-DirListing-itemText")
            return [name for name in names if name.text.strip() == NOTEBOOK]

        [name] = wait_for(listed_file, 60, what=f"{NOTEBOOK} en el explorador de archivos")
        ActionChains(browser).double_click(name).perform()
        wait_for(
            lambda: (
                len(browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell"))
                == code_cells
            ),
            90,
            what=f"{NOTEBOOK} abierto como cuaderno con sus {code_cells} celdas de código",
        )
        assert browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-MarkdownCell")
        assert not browser.find_elements(By.CSS_SELECTOR, ".jp-FileEditor"), "se abrió como texto"
        state = wait_for(
            lambda: (s := notebook_state(browser)) and s["kernel"] == "idle" and s,
            60,
            what="el kernel del cuaderno arrancado y libre",
        )
        assert state["factory"] == "Jupytext Notebook"
        assert all(cell["count"] is None for cell in state["cells"])

        use_menu(browser, "Run", "Run All Cells")

        def finished():
            state = notebook_state(browser)
            shown = prompts(browser)
            finished.brokers.update(brokers_under(lab.tmp))
            if not state or state["kernel"] != "idle" or any("*" in mark for mark in shown):
                return None
            # idle with nothing queued, once something ran (Run All queues every cell at once)
            return state if any(cell["count"] for cell in state["cells"]) else None

        finished.brokers = set()
        state = wait_for(finished, RUN_ALL_TIMEOUT, what="Run All Cells terminado, kernel libre")

        errors = [
            f"celda de código {number}: {output.get('ename')}: {output.get('evalue')}"
            for number, cell in enumerate(state["cells"], 1)
            for output in cell["outputs"]
            if output["output_type"] == "error"
        ]
        assert errors == []
        counts = [cell["count"] for cell in state["cells"]]
        assert counts == list(range(1, code_cells + 1)), f"celdas sin ejecutar: {counts}"
        assert prompts(browser) == [f"[{count}]:" for count in counts]
        assert finished.brokers, "ningún broker (kafka.Kafka) arrancó bajo el TMPDIR del kernel"

        page = browser.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel").get_attribute(
            "textContent"
        )
        for expected in (
            "Created topic saludos.",  # %kafka kafka-topics.sh --create
            "PartitionCount: 1",  # %kafka kafka-topics.sh --describe
            "Hola, Kafka",  # the console consumer, from the beginning
            "Un cuarto mensaje, enviado desde la shell",  # !... | kafka-console-producer.sh
            "Processed a total of 4 messages",
            "Sí, al momento",  # the live consumer's panel
        ):
            assert expected in page, f"no aparece {expected!r} en la página"
        # The exercise's self-check, run without a solution, says what is missing (✘), and the
        # lesson's pictures (img/*.svg beside it) load; tests/output/lab-ejercicio.png shows it.
        assert "Todavía no:" in page and "✘" in page
        [check] = [
            element
            for element in browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell")
            if "Comprobación del ejercicio" in element.get_attribute("textContent")
        ]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", check)
        browser.save_screenshot(str(output_file("lab-ejercicio.png")))
        pictures = wait_for(
            lambda: browser.execute_script(PICTURES) or None, 20, what="los dibujos de la lección"
        )
        assert len(pictures) == 2 and all(width > 0 for width in pictures.values()), pictures
        # `!kafka-topics.sh --list`: the kernel's shell finds Kafka's command line tools.
        [listed] = [cell for cell in state["cells"] if "listar-topics" in cell["tags"]]
        assert "saludos" in json.dumps(listed["outputs"])

        # The last cell closed the cluster. Start it again from the first cell, then shut the
        # kernel down from the Kernel menu without closing it: its brokers must go too.
        assert wait_for(lambda: not brokers_under(lab.tmp), 30, what="el clúster cerrado")
        first = browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell")[0]
        first.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
        use_menu(browser, "Run", "Run Selected Cell")
        wait_for(
            lambda: (
                re.fullmatch(r"\[\d+\]:", prompts(browser)[0])
                and prompts(browser)[0] != "[1]:"
                and notebook_state(browser)["kernel"] == "idle"
            ),
            60,
            what="la primera celda ejecutada otra vez",
        )
        assert len(brokers_under(lab.tmp)) == 1, "el clúster de un broker, otra vez en marcha"

        use_menu(browser, "Kernel", "Shut Down Kernel")
        wait_for(lambda: lab.api("/api/kernels") == [], 30, what="el kernel apagado")
        wait_for(lambda: not brokers_under(lab.tmp), 30, what="ningún broker tras apagar el kernel")
    except BaseException:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        print(f"captura: {tmp_path / 'failure.png'}\nJupyterLab:\n{lab.log_tail()}")
        raise
    print(f"test_browser: {time.monotonic() - began:.0f} s")
