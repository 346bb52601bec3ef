"""Resource limits of a graded submission (:class:`autograder.grader.limits.Confinement`).

First the pure parts. Then real grading (:func:`autograder.instructor.grading.grade_class`, the real
bubblewrap sandbox, real Kafka) of activity 1 submissions that reach each limit (memory,
processes, file size, CPU time: tests/fixtures/limits.py), under lowered limits set in the
course's nbgrader configuration, each followed in the same run by the reference solution: each
gets its Spanish message in the autograded notebook and the feedback, its record for the class
report, no process is left behind, and the reference solution is graded exactly.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from traitlets.config import Config

from autograder.activities import ACTIVITIES, Limits
from autograder.grader.course import Course
from autograder.grader.limits import (
    LIMIT_KINDS,
    Confinement,
    LimitHit,
    cgroup_v1_folder,
    cgroup_v1_parent,
    errors_in,
    files_at_least,
    limit_message,
    signal_of,
)
from autograder.grader.records import Events
from autograder.grader.sandbox import isolation_problem
from autograder.grader.trusted import TrustedExecute
from autograder.instructor.grading import grade_class
from tests.fixtures.limits import (
    ACTIVITY1,
    CONFIG,
    CORRECT,
    LIMITS,
    OVER_THE_LIMIT,
    SCORE_CORRECT,
    SCORE_OVER_THE_LIMIT,
    SLEEP,
)
from tests.fixtures.submissions import SUBMISSIONS, write_submission
from tests.support.chromium import headless_chromium
from tests.support.grading import course_copy
from tests.support.paths import output_file
from tests.support.processes import processes_mentioning

TEST_LIMITS = Limits(
    memory_mb=LIMITS["memory"],
    cpu_seconds=LIMITS["cpu"],
    processes=LIMITS["processes"],
    file_mb=LIMITS["file_size"],
)

# -- the pure parts ----------------------------------------------------------------------------


def test_each_message_is_spanish_and_tells_the_limit():
    assert limit_message("memory", 384, "cgroup").startswith(
        "Tu cuaderno superó el límite de memoria de 384 MB, que comparten el kernel y todos"
    )
    assert "384 MB por proceso" in limit_message("memory", 384, "rlimit")
    assert "MemoryError" in limit_message("memory", 384, "rlimit")
    assert limit_message("cpu", 5, "rlimit").startswith(
        "Tu cuaderno superó el límite de tiempo de CPU de 5 s por proceso"
    )
    assert limit_message("processes", 96, "cgroup").startswith(
        "Tu cuaderno superó el límite del número de procesos: 96 procesos e hilos entre todos"
    )
    assert limit_message("file_size", 4, "rlimit", "grande.bin").startswith(
        "Tu cuaderno superó el límite de tamaño de fichero de 4 MB: no se pudo escribir más "
        "en «grande.bin»"
    )
    assert "«" not in limit_message("file_size", 4, "rlimit")


def test_a_limit_reached_is_recorded_as_the_class_records_read_it():
    """The contract with the class report: ``Events.limit`` is kind, value and message."""
    hit = LimitHit("memory", 384, limit_message("memory", 384, "cgroup"))
    assert hit.record() == {"kind": "memory", "value": 384, "message": hit.message}
    events = Events.from_dict({"activity": ACTIVITY1, "limit": hit.record()})
    assert events.limit == hit.record()
    assert Events.from_dict(events.to_dict()) == events
    assert TEST_LIMITS.value("memory") == 384 and TEST_LIMITS.value("file_size") == 4
    assert [TEST_LIMITS.value(kind) for kind in LIMIT_KINDS] == [384, 5, 96, 4]


def test_the_signal_that_ended_a_process_comes_from_its_exit_status():
    assert signal_of(128 + signal.SIGXCPU, sandboxed=True) == signal.SIGXCPU  # bwrap
    assert signal_of(-signal.SIGXFSZ, sandboxed=False) == signal.SIGXFSZ  # Popen
    assert signal_of(-signal.SIGKILL, sandboxed=True) == signal.SIGKILL  # bwrap killed
    assert signal_of(152, sandboxed=False) is None  # an exit code, not a signal
    assert signal_of(0, sandboxed=True) is None
    assert signal_of(None, sandboxed=True) is None


def test_the_errors_of_a_cell():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "MemoryError"},
        {"output_type": "error", "ename": "MemoryError", "evalue": "", "traceback": []},
    ]
    assert errors_in(outputs) == [("MemoryError", "")]
    assert errors_in(None) == []


def test_the_cgroup_folder_comes_from_proc():
    cgroups = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n0::/\n"
    mounts = (
        "30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "31 25 0:28 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "32 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert cgroup_v1_folder("memory", cgroups, mounts) == Path(
        "/sys/fs/cgroup/memory/process_api/abc"
    )
    assert cgroup_v1_folder("pids", cgroups, mounts) == Path("/sys/fs/cgroup/pids")
    assert cgroup_v1_folder("cpu", cgroups, mounts) is None  # not mounted
    # A container that sees only its part of the hierarchy: the mount's root is left out.
    inner = "33 25 0:27 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
    assert cgroup_v1_folder("memory", "4:memory:/docker/x/sub\n", inner) == Path(
        "/sys/fs/cgroup/memory/sub"
    )
    assert cgroup_v1_folder("memory", "4:memory:/elsewhere\n", inner) is None
    # cgroup v2 only: no v1 folder, rlimits stand in.
    assert cgroup_v1_folder("memory", "0::/user.slice\n", mounts.splitlines()[2]) is None


def test_a_file_at_the_limit_is_found_unless_it_was_handed_in(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "grande.bin").write_bytes(b"x" * 4096)
    (tmp_path / "pequeño.txt").write_bytes(b"x" * 100)
    (tmp_path / "enlace").symlink_to("/usr/bin/env")  # never followed
    found = files_at_least([tmp_path], 4096)
    assert [Path(path).name for path, _ in found] == ["grande.bin"]
    assert files_at_least([tmp_path], 4096, frozenset(found)) == []
    assert files_at_least([tmp_path / "no-existe"], 1) == []


def test_without_cgroups_rlimits_stand_in_for_each_process():
    confinement = Confinement(TEST_LIMITS, sandboxed=True, cgroups=False)
    try:
        assert confinement.enforced["memory"] == "rlimit"
        assert confinement.enforced["cpu"] == confinement.enforced["file_size"] == "rlimit"
        # RLIMIT_NPROC is not enforced for root; for anyone else it is, in the sandbox.
        processes = None if os.geteuid() == 0 else "rlimit"
        assert confinement.enforced["processes"] == processes
        argv = confinement.wrap(["python", "-V"])
        assert argv[0].endswith("prlimit") and argv[-3:] == ["--", "python", "-V"]
        assert "--cpu=5:7" in argv and f"--fsize={4 << 20}" in argv and "--core=0" in argv
        # Memory per process: never below what a JVM without -Xmx commits at start here.
        assert confinement.values["memory"] >= 384
        assert f"--data={confinement.values['memory'] << 20}" in argv
        assert "(por proceso)" in confinement.describe()
        # Hits told by the error a cell ended with, where nothing else tells them.
        outputs = [{"output_type": "error", "ename": "MemoryError", "evalue": ""}]
        (hit,) = confinement.hits([], outputs=outputs)
        assert hit.kind == "memory" and hit.value == confinement.values["memory"]
        assert "por proceso" in hit.message
        assert confinement.hits([], outputs=outputs) == []  # each kind once
        (hit,) = confinement.hits([], exit_status=128 + signal.SIGXCPU)
        assert hit == LimitHit("cpu", 5, limit_message("cpu", 5, "rlimit"))
    finally:
        confinement.close()


def test_the_configuration_overrides_the_activitys_limits():
    config = Config()
    config.TrustedExecute.memory_limit_mb = 300
    config.TrustedExecute.file_size_limit_mb = 2
    execute = TrustedExecute(config=config)
    own = ACTIVITIES[ACTIVITY1].limits
    assert execute._limits(ACTIVITIES[ACTIVITY1]) == Limits(300, own.cpu_seconds, own.processes, 2)
    assert TrustedExecute()._limits(ACTIVITIES[ACTIVITY1]) == own


def test_the_fixtures_reach_every_kind_of_limit():
    assert sorted(kind for kind, _cell in OVER_THE_LIMIT.values()) == sorted(LIMIT_KINDS)
    assert "correcto" in SUBMISSIONS[ACTIVITY1]  # the reference solution they are followed by


def test_every_activitys_limits_are_far_above_a_correct_submission():
    """The lowered limits of these tests are what a correct activity 1 stays under; every
    activity's own are higher still."""
    for spec in ACTIVITIES.values():
        for kind in LIMIT_KINDS:
            assert spec.limits.value(kind) >= 2 * TEST_LIMITS.value(kind), (spec.name, kind)


# -- grading ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    problem = isolation_problem()
    assert problem is None, f"bubblewrap and socat must work where these tests run: {problem}"
    with course_copy(tmp_path_factory.mktemp("curso")) as root:
        yield root


def _configure(course: Path, extra: str) -> None:
    """The course's nbgrader configuration with ``extra`` lines at its end (only those)."""
    config = course / "nbgrader_config.py"
    text = config.read_text().split("\n# -- test_limits --\n")[0]
    config.write_text(text + "\n# -- test_limits --\n" + extra)


def _probe(cgroups: bool) -> Confinement:
    """How each limit is enforced on this machine, and its value (as the grader finds them)."""
    probe = Confinement(TEST_LIMITS, sandboxed=True, cgroups=cgroups)
    probe.close()
    return probe


def _leftovers() -> list[str]:
    """Processes and cgroups of this process's submissions still there."""
    prefix = f"kafkalab-entrega-{os.getpid()}-"
    found = [command for _pid, _start, command in processes_mentioning(prefix)]
    found += [command for _pid, _start, command in processes_mentioning(SLEEP)]
    for controller in ("memory", "pids"):
        parent = cgroup_v1_parent(controller)
        if parent is not None:
            found += [str(folder) for folder in parent.glob(f"{prefix}*")]
    return found


def _grade(course: Path, students: dict[str, str | None]) -> tuple[dict[str, float], list[str]]:
    """Grade ``students`` (name -> their «producir» cell, None: the reference solution) in
    one run, in this order; their scores and what was left behind."""
    for student, producir in students.items():
        overrides = {} if producir is None else {"producir": producir}
        write_submission(course, ACTIVITY1, student, overrides)
    # 60 s per cell: the busy loop must reach the CPU limit, not the cell timeout.
    results = grade_class(
        ACTIVITY1,
        course_root=course,
        students=list(students),
        timeout=60,
        progress=lambda _: None,
    )
    for result in results:
        assert result.ok, f"{result.student}: {result.error}"
    return {r.student: r.score for r in results}, _leftovers()


def _cell_output(course: Path, student: str, grade_id: str, printed: bool = False) -> str:
    """What a cell of the autograded notebook shows (``printed``: only what it printed)."""
    path = course / "autograded" / student / ACTIVITY1 / f"{ACTIVITY1}.ipynb"
    for cell in json.loads(path.read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(
                "".join(o.get("text", "")) + ("" if printed else "\n".join(o.get("traceback", [])))
                for o in cell.get("outputs", [])
            )
    raise AssertionError(f"{student} has no cell {grade_id}")


def _feedback(course: Path, student: str) -> str:
    return (course / "feedback" / student / ACTIVITY1 / f"{ACTIVITY1}.html").read_text()


def _limit_recorded(course: Path, student: str) -> dict | None:
    return json.loads(Course(course).events(ACTIVITY1, student).read_text())["limit"]


@pytest.fixture(scope="module")
def graded(course):
    """Every submission of tests/fixtures/limits.py, each followed by the reference solution,
    graded in one run under the lowered limits."""
    _configure(course, CONFIG)
    students: dict[str, str | None] = {}
    for student, (_kind, producir) in OVER_THE_LIMIT.items():
        students[student] = producir
        students[CORRECT + student] = None
    scores, leftovers = _grade(course, students)
    return scores, leftovers, _probe(cgroups=True)


@pytest.mark.slow
@pytest.mark.parametrize("student", list(OVER_THE_LIMIT))
def test_a_submission_over_a_limit_is_told_and_the_next_one_graded_exactly(course, graded, student):
    scores, _leftovers, probe = graded
    kind, _producir = OVER_THE_LIMIT[student]
    how = probe.enforced[kind]
    assert how is not None, f"{kind} cannot be enforced here (root without cgroups)"
    value = probe.values[kind]
    message = limit_message(kind, value, how, "grande.bin" if kind == "file_size" else "")
    seen = _cell_output(course, student, "producir")
    assert "LimiteSuperado" in seen and message in seen, seen
    assert "nadie me ha parado" not in _cell_output(course, student, "producir", printed=True)
    assert message in _feedback(course, student)
    assert _limit_recorded(course, student) == {"kind": kind, "value": value, "message": message}
    assert scores[student] == pytest.approx(SCORE_OVER_THE_LIMIT)
    # The reference solution right after it: exact, nothing reached.
    assert scores[CORRECT + student] == pytest.approx(SCORE_CORRECT)
    assert _limit_recorded(course, CORRECT + student) is None
    assert "LimiteSuperado" not in _feedback(course, CORRECT + student)


@pytest.mark.slow
def test_memory_and_processes_count_every_process_of_a_submission_together(graded):
    """Where the grader can make cgroups (as root on the grading machines, CI included)."""
    _scores, _leftovers, probe = graded
    assert os.geteuid() == 0, "the grading machines (CI too) run as root with cgroups"
    assert probe.enforced["memory"] == probe.enforced["processes"] == "cgroup"
    assert probe.values["memory"] == LIMITS["memory"]


@pytest.mark.slow
def test_a_limit_message_reads_whole_in_the_feedback_page(course, graded, tmp_path):
    """What the student opens: the message of a limit reached wraps in the page, nothing of
    it hidden past a sideways scroll bar."""
    page = course / "feedback" / "acapara-memoria" / ACTIVITY1 / f"{ACTIVITY1}.html"
    with headless_chromium(tmp_path) as driver:
        driver.get(page.as_uri())
        driver.save_screenshot(str(output_file("feedback-limite-memoria.png")))
        shown = driver.execute_script(
            "return Array.from(document.querySelectorAll('.output_error pre')).map(e => "
            "[e.textContent, e.scrollWidth <= e.clientWidth + 1])"
        )
    limits = [(text, fits) for text, fits in shown if "LimiteSuperado" in text]
    assert len(limits) == 1 and len(limits[0][0]) > 150, shown
    assert limits[0][1], "the limit's message needs a sideways scroll to be read"


@pytest.mark.slow
def test_no_process_nor_cgroup_of_a_submission_is_left(graded):
    _scores, leftovers, _probe = graded
    assert leftovers == []


@pytest.mark.slow
def test_without_cgroups_memory_is_limited_per_process(course):
    """A machine without cgroups (no root, cgroup v2): rlimits, told as such."""
    _configure(course, CONFIG + "c.TrustedExecute.cgroups = False\n")
    try:
        scores, leftovers = _grade(
            course,
            {"acapara-memoria-sin-cgroups": OVER_THE_LIMIT["acapara-memoria"][1]}
            | {CORRECT + "sin-cgroups": None},
        )
    finally:
        _configure(course, CONFIG)
    message = limit_message("memory", _probe(cgroups=False).values["memory"], "rlimit")
    seen = _cell_output(course, "acapara-memoria-sin-cgroups", "producir")
    assert "MemoryError" in seen and message in seen, seen
    assert _limit_recorded(course, "acapara-memoria-sin-cgroups")["message"] == message
    assert scores == pytest.approx(
        {"acapara-memoria-sin-cgroups": SCORE_OVER_THE_LIMIT, CORRECT + "sin-cgroups": 0.5}
    )
    assert leftovers == []
