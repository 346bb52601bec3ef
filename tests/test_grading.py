"""The nbgrader pipeline end to end on sample submissions, against real Kafka and MongoDB.

generate_assignment -> autograde (through the grading driver) -> generate_feedback, with
the exact expected score of every fixture in tests/fixtures/submissions.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.grading import grade_class, prepare_course
from autograder.notebooks import COURSE_ROOT
from tests.fixtures.submissions import (
    ACTIVITY1,
    ACTIVITY2,
    ACTIVITY3,
    SUBMISSIONS,
    write_submission,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the nbgrader course with release versions generated."""
    root = tmp_path_factory.mktemp("curso")
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root)
    shutil.copytree(
        COURSE_ROOT / "source", root / "source", ignore=shutil.ignore_patterns("*.ipynb")
    )
    prepare_course(root)
    return root


def _grade(course: Path, activity: str, mode: str) -> dict[str, float]:
    for student, (overrides, _expected) in SUBMISSIONS[activity].items():
        write_submission(course, activity, student, overrides)
    results = grade_class(
        activity,
        course_root=course,
        mode=mode,
        students=list(SUBMISSIONS[activity]),
        progress=lambda _: None,
    )
    assert {r.student for r in results} == set(SUBMISSIONS[activity])
    for result in results:
        assert result.ok, f"{result.student}: {result.error}"
    return {r.student: r.score for r in results}


def _expected(activity: str) -> dict[str, float]:
    return {student: score for student, (_o, score) in SUBMISSIONS[activity].items()}


def _assert_spanish_feedback(course: Path, activity: str) -> None:
    for student in SUBMISSIONS[activity]:
        page = course / "feedback" / student / activity / f"{activity}.html"
        assert page.exists(), page
        html = page.read_text()
        assert '<html lang="es">' in html
        assert "Puntuación:" in html and "Score:" not in html


def test_activity1_scores_every_submission_exactly(course):
    scores = _grade(course, ACTIVITY1, "fresh")
    assert scores == pytest.approx(_expected(ACTIVITY1))
    _assert_spanish_feedback(course, ACTIVITY1)
    # The failure message a student reads says what was expected and what was found.
    html = (course / "feedback" / "sin-nombre" / ACTIVITY1 / f"{ACTIVITY1}.html").read_text()
    assert "Ningún mensaje de «iabd-topic» contiene" in html


def test_activity2_scores_every_submission_exactly_on_a_warm_cluster(course):
    # One cluster for the class, wiped between submissions: the one that deletes its topic
    # or leaves consumers running must not change anyone else's score.
    scores = _grade(course, ACTIVITY2, "warm")
    assert scores == pytest.approx(_expected(ACTIVITY2))
    _assert_spanish_feedback(course, ACTIVITY2)
    html = (course / "feedback" / "tres-particiones" / ACTIVITY2 / f"{ACTIVITY2}.html").read_text()
    assert "debería tener 4 particiones y tiene 3" in html


def test_activity3_scores_every_submission_exactly(course):
    scores = _grade(course, ACTIVITY3, "fresh")
    assert scores == pytest.approx(_expected(ACTIVITY3))
    _assert_spanish_feedback(course, ACTIVITY3)
    html = (course / "feedback" / "duplicados" / ACTIVITY3 / f"{ACTIVITY3}.html").read_text()
    assert "repetidos" in html


def test_released_notebooks_hide_solutions_and_hidden_tests(course):
    for activity in (ACTIVITY1, ACTIVITY2, ACTIVITY3):
        released = (course / "release" / activity / f"{activity}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
        assert "ESCRIBE AQUÍ TU CÓDIGO" in released
        assert not list((course / "release" / activity).glob("*.md"))


def test_students_validate_their_notebook_with_nbgrader(course, tmp_path):
    """What a student's Validate button runs: the visible tests, on the live cluster."""
    import subprocess
    import sys

    nbgrader = Path(sys.executable).parent / "nbgrader"
    for student, passes in (("correcto", True), ("sin-nombre", False)):
        write_submission(course, ACTIVITY1, f"valida-{student}", SUBMISSIONS[ACTIVITY1][student][0])
        notebook = course / "submitted" / f"valida-{student}" / ACTIVITY1 / f"{ACTIVITY1}.ipynb"
        completed = subprocess.run(
            [str(nbgrader), "validate", str(notebook)],
            capture_output=True,
            text=True,
            cwd=course,
            timeout=300,
        )
        output = completed.stdout + completed.stderr
        if passes:
            assert "Success! Your notebook passes all the tests." in output, output
        else:
            assert "VALIDATION FAILED" in output, output
            assert "Ningún mensaje de «iabd-topic» contiene" in output, output
