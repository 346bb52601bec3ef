"""The instructor's way in (`make instructor`) in a real browser: nbgrader's formgrader.

The server starts as `make instructor` starts it: ``python -m autograder.instructor``, the
module the Makefile runs (checked below), with a PATH that has neither the virtualenv nor
Kafka's tools (as a shell where nothing is activated), on 127.0.0.1 with a free port and a
random token, in temporary HOME and Jupyter folders, on a copy of the course
(``tests.support.grading.prepared_course``) with one submission of activity 1 and one of
activity 2 in ``submitted/``. In headless Chromium, through JupyterLab's menu Nbgrader › Formgrader:
the three activities are listed; Generate, Preview and Release (to the course's own exchange
folder) work; one Autograde click grades the activity 2 submission (trusted and sandboxed,
as on the command line) and shows its score; its written answer is graded by hand and read
back from the page and from the gradebook; Generate Feedback writes the Spanish feedback.

Screenshots go to tests/output/formgrader-*.png. Needs what tests/course/test_browser.py
and tests/autograder/test_grading.py need (chromium, chromium-driver, bubblewrap, socat).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from autograder.grader.sandbox import isolation_problem
from tests.fixtures.submissions import (
    ACTIVITY1,
    ACTIVITY2,
    ACTIVITY3,
    SUBMISSIONS,
    write_submission,
)
from tests.support.chromium import headless_chromium
from tests.support.grading import prepared_course
from tests.support.jupyter_server import JupyterServer, serving
from tests.support.jupyterlab import use_menu
from tests.support.kafka import wait_for
from tests.support.paths import REPO, output_file

PYTHON = Path(sys.prefix) / "bin" / "python"
STUDENT = "ana"
AUTOGRADE_TIMEOUT = 300.0
# As a shell where no virtualenv is activated: the server must find alembic, nbgrader and
# Kafka's tools by itself.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def test_make_instructor_runs_the_instructor_module():
    """`make instructor` and the test below start the server through the same module."""
    shown = subprocess.run(
        ["make", "-n", "instructor", "INSTRUCTOR_FLAGS=--port=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert ".venv/bin/python -m autograder.instructor --port=1" in shown, shown


class Instructor(JupyterServer):
    """The instructor's JupyterLab, started as `make instructor` starts it."""

    def __init__(self, base: Path, course: Path):
        self.course = course
        super().__init__(
            base,
            "instructor",
            [str(PYTHON), "-m", "autograder.instructor", "--course", str(course)],
            cwd=REPO,  # where `make instructor` runs
            env={"PATH": BARE_PATH},
        )


@pytest.fixture
def course(tmp_path) -> Path:
    """A copy of the course, generated, with a submission of activities 1 and 2."""
    problem = isolation_problem()
    assert problem is None, f"bubblewrap and socat must work where this test runs: {problem}"
    root = prepared_course(tmp_path / "curso")
    for activity in (ACTIVITY1, ACTIVITY2):
        write_submission(root, activity, STUDENT, SUBMISSIONS[activity]["correcto"][0])
    return root


@pytest.fixture
def instructor(tmp_path, course):
    answering = "el servidor del profesor responde en /api/status"
    with serving(Instructor(tmp_path, course), 90, answering) as server:
        yield server


@pytest.fixture
def browser(tmp_path, instructor):
    with headless_chromium(tmp_path) as driver:
        yield driver


# Every row of the formgrader's table: {each class of a cell: its text}, read in one go (no
# stale elements).
TABLE = """
return Array.from(document.querySelectorAll('#main-table tr')).map(tr => {
  const row = {};
  for (const td of tr.children) {
    for (const name of td.classList) { row[name] = td.textContent.trim(); }
  }
  return row;
});
"""

# The link or button in the cell ``arguments[1]`` of the row whose ``arguments[0]`` cell
# (a class) reads ``arguments[2]``.
CELL_LINK = """
for (const tr of document.querySelectorAll('#main-table tr')) {
  const key = tr.querySelector('.' + arguments[0]);
  if (key && key.textContent.trim() === arguments[2]) {
    return tr.querySelector('.' + arguments[1] + ' a');
  }
}
return null;
"""

# The formgrader's answer to the last action: its modal's id and text, once one is shown.
MODAL = """
const modal = document.querySelector('#success-modal.in, #error-modal.in');
return modal ? [modal.id, modal.textContent.replace(/\\s+/g, ' ').trim()] : null;
"""

# The names JupyterLab's file browser lists.
LISTED_FILES = """
return Array.from(document.querySelectorAll('.jp-DirListing-itemText'))
  .map(e => e.textContent.trim());
"""


def table(driver) -> list[dict]:
    return driver.execute_script(TABLE)


def row(driver, key: str, value: str) -> dict | None:
    found = [r for r in table(driver) if r.get(key) == value]
    return found[0] if found else None


def click_in_row(driver, key: str, value: str, cell: str) -> None:
    link = wait_for(
        lambda: driver.execute_script(CELL_LINK, key, cell, value),
        30,
        what=f"el botón «{cell}» de la fila {value}",
    )
    link.click()


def formgrader_answer(driver, what: str, timeout: float) -> str:
    """Wait for the formgrader's modal after an action; fail with its text on an error."""
    modal_id, text = wait_for(lambda: driver.execute_script(MODAL), timeout, what=what)
    assert modal_id == "success-modal", f"{what}: {text[:3000]}"
    return text


def close_modal(driver) -> None:
    """Close the formgrader's dialog; return once the page shows no dialog and no backdrop.

    Bootstrap slides a dialog in and out, and a click during the slide can land on the
    moving footer or be lost: so the footer's button is clicked again for as long as a
    dialog is on the page, and what counts is the page without one, never one click.
    """

    def closed() -> bool:
        if not driver.find_elements(By.CSS_SELECTOR, ".modal, .modal-backdrop"):
            return True
        for button in driver.find_elements(By.CSS_SELECTOR, ".modal .modal-footer button"):
            with contextlib.suppress(WebDriverException):
                if button.is_displayed():
                    button.click()
                    break
        return False

    wait_for(closed, 60, what="el diálogo cerrado")


def go(driver, path: str) -> None:
    """Open a formgrader page inside its JupyterLab tab (the iframe)."""
    driver.execute_script("window.location.assign(arguments[0]);", f"/formgrader/{path}")
    wait_for(
        lambda: (
            driver.execute_script(
                "return document.readyState === 'complete' && window.location.pathname;"
            )
            == f"/formgrader/{path}"
        ),
        30,
        what=f"la página /formgrader/{path}",
    )


def screenshot(driver, name: str) -> Path:
    path = output_file(f"formgrader-{name}.png")
    driver.save_screenshot(str(path))
    return path


@pytest.mark.slow
def test_instructor_grades_from_the_formgrader(instructor, browser, course):
    began = time.monotonic()
    startup = instructor.log.read_text(errors="replace")
    assert "No nbgrader_config.py file found" not in startup, startup
    assert "/srv/nbgrader/exchange" not in startup, startup
    assert (course / "exchange").is_dir()
    try:
        # The instructor's way in: JupyterLab's menu Nbgrader › Formgrader.
        browser.get(f"{instructor.url}/lab?token={instructor.token}")
        wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#jp-menu-panel .lm-MenuBar-item"),
            60,
            what="la barra de menús de JupyterLab",
        )
        use_menu(browser, "Nbgrader", "Formgrader")
        frame = wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#formgrader-iframe iframe"),
            30,
            what="la pestaña del formgrader",
        )[0]
        browser.switch_to.frame(frame)
        activities = {ACTIVITY1, ACTIVITY2, ACTIVITY3}
        wait_for(
            lambda: {r.get("name") for r in table(browser)} == activities,
            60,
            what="las tres actividades en Manage Assignments",
        )
        listed = {r["name"]: r for r in table(browser)}
        assert listed[ACTIVITY1]["num-submissions"] == "1"
        assert listed[ACTIVITY2]["num-submissions"] == "1"
        assert listed[ACTIVITY3]["num-submissions"] == "0"
        shots = [screenshot(browser, "actividades")]

        # Generate (the student version) and Preview (it, in JupyterLab's file browser).
        click_in_row(browser, "name", ACTIVITY3, "assign")
        text = formgrader_answer(browser, "Generate de la actividad 3", 120)
        assert f"Successfully created the student version of '{ACTIVITY3}'" in text
        close_modal(browser)
        click_in_row(browser, "name", ACTIVITY3, "preview")
        browser.switch_to.default_content()
        wait_for(
            lambda: f"{ACTIVITY3}.ipynb" in browser.execute_script(LISTED_FILES),
            30,
            what="Preview: la versión de alumno de la actividad 3 en el explorador de archivos",
        )
        browser.switch_to.frame(frame)
        # Release: into the course's own exchange folder (one machine, no JupyterHub).
        click_in_row(browser, "name", ACTIVITY3, "release")
        text = formgrader_answer(browser, "Release de la actividad 3", 60)
        assert f"Successfully released '{ACTIVITY3}'" in text
        close_modal(browser)
        outbound = course / "exchange" / "kafka-iabd" / "outbound" / ACTIVITY3
        assert (outbound / f"{ACTIVITY3}.ipynb").is_file()

        # One Autograde click: the activity 2 submission, graded in the server's process.
        go(browser, f"manage_submissions/{ACTIVITY2}")
        wait_for(lambda: row(browser, "student-id", STUDENT), 30, what=f"la entrega de {STUDENT}")
        assert row(browser, "student-id", STUDENT)["status"] == "needs autograding"
        click_in_row(browser, "student-id", STUDENT, "autograde")
        text = formgrader_answer(browser, "Autograde de la actividad 2", AUTOGRADE_TIMEOUT)
        assert f"Successfully autograded '{ACTIVITY2}' for student '{STUDENT}'" in text
        close_modal(browser)
        graded = wait_for(
            lambda: (r := row(browser, "student-id", STUDENT)) and r.get("score") and r,
            30,
            what="la nota de la entrega en la tabla",
        )
        assert graded["score"] == "0.8 / 1", graded
        assert graded["status"] == "needs manual grading", graded
        shots.append(screenshot(browser, "autograde"))
        # Graded as the command line grades: trusted checks, in the sandbox.
        autograded = (
            course / "autograded" / STUDENT / ACTIVITY2 / f"{ACTIVITY2}.ipynb"
        ).read_text()
        assert "✔" in autograded
        assert "SIN aislamiento" not in instructor.log.read_text(errors="replace")

        # Manual Grading: the written answer (cell «explicacion», 0.2 points).
        go(browser, f"gradebook/{ACTIVITY2}/{ACTIVITY2}")
        link = wait_for(
            lambda: browser.find_elements(By.LINK_TEXT, "Submission #1"),
            30,
            what="la entrega en Manual Grading",
        )[0]
        link.click()
        score = wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "input.score#explicacion"),
            60,
            what="la casilla de nota de la respuesta escrita",
        )[0]
        submission_id = browser.execute_script("return submission_id;")
        wait_for(lambda: "needs_manual_grade" in score.get_attribute("class"), 30, what="sin nota")
        score.clear()
        score.send_keys("0.2")
        browser.find_element(By.CSS_SELECTOR, "textarea#explicacion-comment").click()  # blur

        def saved_grade():
            grades = instructor.api(f"/formgrader/api/grades?submission_id={submission_id}")
            [grade] = [g for g in grades if g["name"] == "explicacion"]
            return grade if grade["manual_score"] is not None else None

        saved = wait_for(saved_grade, 30, what="la nota manual guardada")
        assert saved["manual_score"] == pytest.approx(0.2)
        shots.append(screenshot(browser, "calificacion-manual"))
        # Read it back through the page, loaded again (a fresh page has no mark).
        browser.execute_script("window.previousPage = true; window.location.reload();")
        value = wait_for(
            lambda: browser.execute_script(
                "const e = document.querySelector('input.score#explicacion');"
                "return !window.previousPage && e && e.value;"
            ),
            30,
            what="la nota manual en la página recargada",
        )
        assert float(value) == pytest.approx(0.2)

        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            grade = gradebook.find_grade("explicacion", ACTIVITY2, ACTIVITY2, STUDENT)
            assert grade.manual_score == pytest.approx(0.2)
            submission = gradebook.find_submission(ACTIVITY2, STUDENT)
            assert submission.score == pytest.approx(1.0)
            assert not submission.needs_manual_grade

        # Generate Feedback: the Spanish feedback, with the grade given by hand.
        go(browser, f"manage_submissions/{ACTIVITY2}")
        wait_for(
            lambda: (r := row(browser, "student-id", STUDENT)) and r.get("status") == "graded",
            30,
            what="la entrega calificada",
        )
        assert row(browser, "student-id", STUDENT)["score"] == "1 / 1"
        click_in_row(browser, "student-id", STUDENT, "generate-feedback")
        text = formgrader_answer(browser, "Generate Feedback de la actividad 2", 120)
        assert f"Successfully generated feedback for '{ACTIVITY2}'" in text
        shots.append(screenshot(browser, "feedback"))
        close_modal(browser)
        page = course / "feedback" / STUDENT / ACTIVITY2 / f"{ACTIVITY2}.html"
        html = page.read_text()
        assert '<html lang="es">' in html and "Puntuación:" in html
        browser.switch_to.default_content()
        browser.get(page.as_uri())
        shots.append(screenshot(browser, "feedback-pagina"))
        shown = browser.find_element(By.TAG_NAME, "body").text
        assert f"{ACTIVITY2} (Puntuación: 1.0 / 1.0)" in shown, shown[:2000]
        assert "Respuesta escrita (Puntuación: 0.2 / 0.2)" in shown, shown[:2000]
    except BaseException:
        browser.switch_to.default_content()
        print(f"captura: {screenshot(browser, 'fallo')}\nservidor:\n{instructor.log_tail()}")
        raise
    print(f"test_formgrader: {time.monotonic() - began:.0f} s; capturas: {shots}")
