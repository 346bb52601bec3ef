"""Grade a whole class with nbgrader, with the Kafka and MongoDB lifecycle handled.

Each submission is autograded from an empty cluster:

* ``fresh``: the submission's first cell starts its own cluster and MongoDB, which die with
  its kernel;
* ``warm``: one cluster (3 brokers) and one MongoDB serve every submission; the notebook
  attaches to them (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``) and the driver deletes
  every topic, consumer group and database between submissions.

A cell that runs too long is interrupted (``--timeout``) and grading goes on; processes a
submission leaves behind (a console consumer started with ``subprocess.Popen``...) are
killed before the next one. One submission never affects another's score.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .notebooks import COURSE_ROOT, convert_sources

__all__ = ["GradeResult", "grade_class", "prepare_course", "wipe_cluster"]

# Seconds a single cell may run before nbgrader interrupts it.
CELL_TIMEOUTS = {
    "actividad1-hola-kafka": 30,
    "actividad2-particiones-y-grupos": 45,
    "actividad3-kafka-a-mongodb": 120,
}
NEEDS_MONGO = {"actividad3-kafka-a-mongodb"}
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class GradeResult:
    student: str
    score: float
    max_score: float
    seconds: float
    ok: bool
    error: str = ""


def _api(course_root: Path, timeout: int | None = None):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    # nbgrader runs `alembic` for its database: it lives beside this Python.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    if timeout is not None:
        config.Execute.timeout = timeout
    return NbGraderAPI(config=config)


def prepare_course(course_root: Path = COURSE_ROOT, activities: list[str] | None = None) -> None:
    """Convert the Markdown sources and run ``nbgrader generate_assignment`` on each."""
    convert_sources(course_root)
    api = _api(course_root)
    for activity in activities or list(CELL_TIMEOUTS):
        result = api.generate_assignment(activity, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {activity}:\n{result.get('log', '')}")


def wipe_cluster(bootstrap_servers: str, mongo_uri: str | None = None) -> None:
    """Delete every non-internal topic and every consumer group; drop every user database."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    try:
        groups = [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
        if groups:
            admin.delete_groups(groups)
        topics = [t for t in admin.list_topics() if not t.startswith("__")]
        if topics:
            admin.delete_topics(topics, timeout_ms=10000)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(
                not t.startswith("__") for t in admin.list_topics()
            ):
                time.sleep(0.1)
    finally:
        admin.close()
    if mongo_uri:
        from pymongo import MongoClient

        client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
        try:
            for name in client.list_database_names():
                if name not in ("admin", "config", "local"):
                    client.drop_database(name)
        finally:
            client.close()


def _become_subreaper() -> None:
    """Orphans of a graded kernel (its background processes) become our children."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _kill_leftovers(keep: set[int]) -> int:
    """Kill processes a submission left behind (direct children of ours but ``keep``)."""
    killed = 0
    for pid in _children(os.getpid()):
        if pid in keep:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(
                pid, signal.SIGKILL
            )
            killed += 1
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    return killed


def grade_class(
    activity: str,
    *,
    course_root: Path = COURSE_ROOT,
    mode: str = "fresh",
    students: list[str] | None = None,
    timeout: int | None = None,
    feedback: bool = True,
    progress=print,
) -> list[GradeResult]:
    """Autograde every submission of ``activity`` and return one result per student."""
    if mode not in ("fresh", "warm"):
        raise ValueError("mode is 'fresh' or 'warm'")
    submitted = course_root / "submitted"
    if students is None:
        students = sorted(p.name for p in submitted.glob("*") if (p / activity).is_dir())
    api = _api(course_root, timeout or CELL_TIMEOUTS.get(activity, 60))
    _become_subreaper()
    saved = {k: os.environ.get(k) for k in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI")}
    cluster = mongo = None
    results = []
    try:
        if mode == "warm":
            from kafkalab import Cluster

            cluster = Cluster.start(3, backend="local", progress=False)
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = cluster.bootstrap_servers
            if activity in NEEDS_MONGO:
                from kafkalab import Mongo

                mongo = Mongo.start(backend="local")
                os.environ["MONGODB_URI"] = mongo.uri
            else:
                os.environ.pop("MONGODB_URI", None)
        else:
            for name in saved:
                os.environ.pop(name, None)
        keep = set(_children(os.getpid()))
        for student in students:
            began = time.perf_counter()
            if cluster is not None:
                wipe_cluster(cluster.bootstrap_servers, mongo.uri if mongo else None)
            outcome = api.autograde(activity, student, force=True, create=True)
            _kill_leftovers(keep)
            if feedback and outcome["success"]:
                api.generate_feedback(activity, student, force=True)
            seconds = time.perf_counter() - began
            score, max_score = _score(api, activity, student)
            result = GradeResult(
                student,
                score,
                max_score,
                seconds,
                outcome["success"],
                "" if outcome["success"] else _last_error(outcome),
            )
            results.append(result)
            progress(
                f"{student}: {score:g}/{max_score:g} en {seconds:.1f} s"
                + ("" if result.ok else f" (error: {result.error})")
            )
    finally:
        if cluster is not None:
            cluster.close()
        if mongo is not None:
            mongo.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return results


def _score(api, activity: str, student: str) -> tuple[float, float]:
    from nbgrader.api import MissingEntry

    with api.gradebook as gradebook:
        try:
            submission = gradebook.find_submission(activity, student)
        except MissingEntry:
            assignment = gradebook.find_assignment(activity)
            return 0.0, float(assignment.max_score)
        return float(submission.score), float(submission.max_score)


def _last_error(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
    return text[-1][:200] if text else "error desconocido"


def summary_table(activity: str, results: list[GradeResult]) -> str:
    lines = [f"{activity}", f"{'estudiante':<28} {'nota':>10} {'segundos':>9}  estado"]
    for r in results:
        state = "ok" if r.ok else f"error: {r.error}"
        lines.append(
            f"{r.student:<28} {r.score:>5.2f}/{r.max_score:<4.2f} {r.seconds:>9.1f}  {state}"
        )
    return "\n".join(lines)
