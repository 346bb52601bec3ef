"""Grading on the docker backend: the grader's warm clusters run in containers."""

from __future__ import annotations

import pytest

from autograder.grader.servers import default_pool
from autograder.instructor.grading import grade_class
from tests.fixtures.submissions import ACTIVITY1, SUBMISSIONS, write_submission
from tests.support.backends import containers_on
from tests.support.grading import course_copy
from tests.support.kafka import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_activity1_is_graded_exactly_with_docker_clusters(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKALAB_BACKEND", "docker")  # for the grader and its kernels
    with course_copy(tmp_path / "curso") as root:
        students = ["correcto", "sin-nombre"]
        for student in students:
            write_submission(root, ACTIVITY1, student, SUBMISSIONS[ACTIVITY1][student][0])
        default_pool().close()
        # The grader's own clusters are docker ones, lent to the kernels.
        results = grade_class(
            ACTIVITY1, course_root=root, mode="warm", students=students, progress=lambda _: None
        )
        for result in results:
            assert result.ok, f"{result.student}: {result.error}"
        assert {r.student: r.score for r in results} == pytest.approx(
            {student: SUBMISSIONS[ACTIVITY1][student][1] for student in students}
        )
        idle = [c for clusters in default_pool()._clusters.values() for c, _baseline in clusters]
        assert len(idle) == 1 and idle[0].backend == "docker", idle
        reprs = repr(idle[0])
        for student in students:
            text = (root / "autograded" / student / ACTIVITY1 / f"{ACTIVITY1}.ipynb").read_text()
            # Each kernel attached to the grader's docker cluster.
            assert f"<Cluster externo bootstrap={idle[0].bootstrap_servers} " in text, student
        assert containers_on(reprs)
    # Leaving course_copy closed the pool and its clusters: their containers are gone.
    assert wait_for(lambda: not containers_on(reprs), timeout=30)
