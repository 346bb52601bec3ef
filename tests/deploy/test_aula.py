"""The class hub (deploy/jupyterhub) for real: JupyterHub with its proxy, DockerSpawner and the
class image built here, an instructor and three students who log in through the hub's API.

One hub serves the whole module. The students run lesson 00 at the same time, each on the
brokers of their own container, and cannot reach each other's; the instructor releases
activity 1, the students fetch, solve and submit it through nbgrader's buttons (the REST
calls JupyterLab makes), the instructor collects, autogrades with the trusted grader and
returns feedback, which a student fetches. A student who submits a solved notebook under a
classmate's name gets that classmate nothing. jupyterhub-idle-culler stops idle servers, and
when the hub stops no container is left.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import jupytext
import pytest
from selenium.webdriver.common.by import By

from tests.fixtures.submissions import solutions_of
from tests.support.aula import REPO, Hub, cgroup_usage, running_hub
from tests.support.chromium import headless_chromium
from tests.support.kafka import wait_for
from tests.support.paths import output_file

pytestmark = [pytest.mark.docker, pytest.mark.slow]

COURSE = "kafka-iabd"
ACTIVITY = "actividad1-hola-kafka"
INSTRUCTOR = "profe"
STUDENTS = ("ana", "luis", "marta")
LESSON_00 = "curso/00-hola-kafka.md"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("aula"), COURSE, [INSTRUCTOR], list(STUDENTS)) as hub:
        yield hub


def test_a_student_logs_in_through_the_hubs_page_and_lands_on_the_course(hub, tmp_path):
    """The way a student comes in: the hub's log-in page in a browser, then their JupyterLab
    with the course's index open (a wrong password first, which the page refuses)."""
    with headless_chromium(tmp_path) as browser:
        browser.get(f"{hub.url}/hub/login")

        def log_in(password):
            browser.find_element(By.ID, "username_input").clear()
            browser.find_element(By.ID, "username_input").send_keys("ana")
            browser.find_element(By.ID, "password_input").send_keys(password)
            browser.find_element(By.ID, "login_submit").click()

        assert "Entrar en el curso de Kafka" in browser.page_source
        browser.save_screenshot(str(output_file("aula-entrar.png")))
        log_in("no-es-su-clave")
        wait_for(
            lambda: "Usuario o clave incorrectos" in browser.page_source,
            15,
            what="the refusal of a wrong password",
        )
        log_in(hub.passwords["ana"])
        wait_for(
            lambda: (
                "/user/ana/lab" in browser.current_url
                and browser.find_elements(By.CSS_SELECTOR, ".jp-RenderedMarkdown h1")
            ),
            180,
            what="ana's JupyterLab with the course index",
        )
        title = browser.find_element(By.CSS_SELECTOR, ".jp-RenderedMarkdown h1").text
        assert "Kafka" in title, title
        browser.save_screenshot(str(output_file("aula-estudiante.png")))
    # ana's server goes, so the class below starts from nothing running
    hub.api("/users/ana/server", "DELETE")
    wait_for(lambda: hub.container("ana") not in hub.containers(), 120, what="ana's stop")


def _solve(released: dict, source_md: Path) -> dict:
    """The released notebook with the instructor's solution in every answer cell."""
    solutions = solutions_of(jupytext.read(source_md))
    for cell in released["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell["source"] = solutions[grade_id]
    return released


def _formgrader(hub: Hub, path: str, **kwargs):
    answer = hub.server(INSTRUCTOR).api(f"/formgrader/api{path}", "POST", **kwargs)
    assert answer.get("success"), answer
    return answer


def _assignment_action(hub: Hub, user: str, action: str):
    form = {"assignment_id": ACTIVITY, "course_id": COURSE}
    answer = hub.server(user).api(f"/assignments/{action}", "POST", form=form)
    assert answer.get("success"), answer
    return answer


def test_a_class_on_the_hub(hub: Hub):
    everyone = (INSTRUCTOR, *STUDENTS)
    # --- log in through the hub's API; a wrong password is refused --------------------------
    with pytest.raises(Exception, match="403"):
        hub.login("ana", "not-her-password")
    logged_in = {}
    for user in everyone:
        logged_in[user] = time.monotonic()
        hub.tokens[user] = hub.login(user)
    # the idle culler runs as a service of the hub
    services = hub.api("/services")  # name -> model
    assert services["idle-culler"]["pid"] > 0, services
    groups = hub.api("/groups")
    members = {g["name"]: set(g["users"]) for g in groups}
    assert members[f"formgrade-{COURSE}"] == {INSTRUCTOR}
    assert members[f"nbgrader-{COURSE}"] == set(STUDENTS)

    # --- everyone's server, at once ----------------------------------------------------------
    for user in everyone:
        hub.start(user)
    for user in everyone:
        hub.wait_ready(user)
        hub.timings[f"login -> server ready, {user} (s)"] = time.monotonic() - logged_in[user]
    assert hub.containers() == sorted(hub.container(u) for u in everyone)

    # --- the three students run lesson 00 at the same time, each on their own brokers --------
    def lesson(user):
        started = time.monotonic()
        runs = hub.server(user).run_notebook(LESSON_00)
        return user, runs, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(len(STUDENTS)) as pool:
        results = list(pool.map(lesson, STUDENTS))
    for user, runs, seconds in results:
        failed = [r for r in runs if r.error]
        assert not failed, (
            f"{user}: {failed[0].error.get('ename')}: {failed[0].error.get('evalue')}"
        )
        text = "".join(r.text for r in runs)
        assert "✘ Existe el topic «mi-primer-topic»" in text, text[-3000:]  # as shipped
        hub.timings[f"lesson 00, {user} (s)"] = seconds
        hub.timings[f"login -> lesson 00 done, {user} (s)"] = time.monotonic() - logged_in[user]
        peak, cpu = cgroup_usage(hub.container(user))
        hub.timings[f"peak memory, {user} (MiB)"] = peak / 2**20
        hub.timings[f"CPU used, {user} (s)"] = cpu

    # --- one student cannot reach another's brokers ------------------------------------------
    luis_ip = hub.ip("luis")
    with hub.server("luis").kernel("curso/sonda.ipynb") as luis:
        started = luis.run(
            "from kafkalab import Cluster\n"
            "cluster = Cluster.start(3, progress=False)\n"
            "print('PUERTOS', ' '.join(str(b.port) for b in cluster.brokers))\n"
        )
        assert not started.error, started.error
        ports = [int(p) for p in re.search(r"PUERTOS ([\d ]+)", started.text).group(1).split()]
        own = luis.run(
            "import socket\n"
            f"for p in {ports}:\n"
            "    socket.create_connection(('127.0.0.1', p), timeout=3).close()\n"
            "print('LOS SUYOS: OK')\n"
        )
        assert "LOS SUYOS: OK" in own.text, own
        with hub.server("ana").kernel("curso/sonda.ipynb") as ana:
            probe = ana.run(
                "import socket\n"
                # luis's brokers and JupyterLab at his address, his brokers' ports here
                f"for host, port in {[(luis_ip, p) for p in [*ports, 8888]]}"
                f" + {[('127.0.0.1', p) for p in ports]}:\n"
                "    if True:\n"
                "        try:\n"
                "            socket.create_connection((host, port), timeout=3).close()\n"
                "            print('ALCANZADO', host, port)\n"
                "        except OSError as error:\n"
                "            print('CERRADO', host, port, type(error).__name__)\n"
                "from kafka import KafkaAdminClient\n"
                "try:\n"
                f"    KafkaAdminClient(bootstrap_servers='{luis_ip}:{ports[0]}',\n"
                "                     request_timeout_ms=3000, bootstrap_timeout_ms=3000)\n"
                "    print('KAFKA AJENO ALCANZADO')\n"
                "except Exception as error:\n"
                "    print('KAFKA AJENO:', type(error).__name__)\n"
            )
        assert not re.search(r"^ALCANZADO", probe.text, re.MULTILINE), probe.text
        assert probe.text.count("CERRADO") == 2 * len(ports) + 1, probe.text
        # kafka-python cannot even bootstrap from luis's broker
        assert re.search(r"KAFKA AJENO: (KafkaTimeoutError|NoBrokersAvailable)", probe.text)

    # --- the instructor releases activity 1 --------------------------------------------------
    _formgrader(hub, f"/assignment/{ACTIVITY}/assign")
    _formgrader(hub, f"/assignment/{ACTIVITY}/release")

    # --- students fetch it; ana and luis solve it, marta hands it in untouched --------------
    notebook_path = f"{ACTIVITY}/{ACTIVITY}.ipynb"
    source_md = REPO / "assignments" / "source" / ACTIVITY / f"{ACTIVITY}.md"
    for user in STUDENTS:
        listed = hub.server(user).api(f"/assignments?course_id={COURSE}")
        assert any(a["assignment_id"] == ACTIVITY for a in listed["value"]), listed
        _assignment_action(hub, user, "fetch")
        if user != "marta":
            server = hub.server(user)
            server.write_notebook(
                notebook_path, _solve(server.read_notebook(notebook_path), source_md)
            )
        _assignment_action(hub, user, "submit")

    # ana, who wants to help marta, writes a solved copy into the exchange under marta's name
    with hub.server("ana").kernel("sonda.ipynb") as ana:
        forged = ana.run(
            "import glob, os, shutil, datetime\n"
            f"inbound = '/srv/nbgrader/exchange/{COURSE}/inbound'\n"
            "when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)\n"
            f"target = f'{{inbound}}/marta+{ACTIVITY}+{{when:%Y-%m-%d %H:%M:%S.%f}} UTC+falsa'\n"
            f"shutil.copytree('{ACTIVITY}', target)\n"
            "print('FALSIFICADA', os.listdir(target))\n"
            "try:\n"
            "    print(os.listdir(inbound))\n"
            "except PermissionError:\n"
            "    print('NO PUEDE LISTAR')\n"
        )
    assert "FALSIFICADA" in forged.text, forged
    assert "NO PUEDE LISTAR" in forged.text, forged  # nor read anyone's submission name

    # --- the instructor collects, autogrades and returns feedback ----------------------------
    collected = _formgrader(hub, f"/assignment/{ACTIVITY}/collect")
    assert (
        "Entrega descartada" in collected["log"] and "la dejó la cuenta de ana" in collected["log"]
    ), collected["log"]
    started = time.monotonic()
    for user in STUDENTS:
        _formgrader(hub, f"/submission/{ACTIVITY}/{user}/autograde")
    hub.timings["autograde, 3 submissions (s)"] = time.monotonic() - started
    submissions = hub.server(INSTRUCTOR).api(f"/formgrader/api/submissions/{ACTIVITY}")
    scores = {s["student"]: s["score"] for s in submissions}
    # The scores `make grade` gives the same notebooks (tests/fixtures/submissions.py).
    assert scores == {"ana": 0.5, "luis": 0.5, "marta": 0.0}, scores
    _formgrader(hub, f"/assignment/{ACTIVITY}/generate_feedback")
    _formgrader(hub, f"/assignment/{ACTIVITY}/release_feedback")
    _assignment_action(hub, "luis", "fetch_feedback")
    feedback = hub.server("luis").api(f"/api/contents/{ACTIVITY}/feedback")
    (stamp,) = [entry["name"] for entry in feedback["content"]]
    page = hub.server("luis").api(
        "/api/contents/" + urllib.parse.quote(f"{ACTIVITY}/feedback/{stamp}/{ACTIVITY}.html")
    )["content"]
    # the Spanish feedback page of the course's template, with luis's score
    assert re.search(rf"{ACTIVITY} \(Puntuación: 0\.5 / [\d.]+\)", page), page[:3000]

    # --- idle servers are culled; then nothing is left when the hub stops --------------------
    culler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--url={hub.url}/hub/api",
            "--timeout=1",
            "--cull-every=2",
        ],
        env={**os.environ, "JUPYTERHUB_API_TOKEN": hub.admin_token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while hub.containers() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        culler.terminate()
        culler.wait(timeout=30)
    assert hub.containers() == [], hub.containers()
    assert all(not hub.api(f"/users/{u}")["servers"] for u in everyone)

    hub.start("ana")
    hub.wait_ready("ana")
    ana = hub.server("ana").kernel("sonda.ipynb").__enter__()  # left running on purpose
    running = ana.run("from kafkalab import Cluster\nc = Cluster.start(1, progress=False)\n")
    assert not running.error, running.error
    assert hub.containers() == [hub.container("ana")]
    os.kill(hub.process.pid, signal.SIGTERM)
    assert hub.process.wait(timeout=120) == 0, hub.log_tail()
    assert hub.containers() == []
    with pytest.raises(ProcessLookupError):  # nor the proxy, nor the culler service
        os.killpg(hub.process.pid, 0)
    print("\n".join(f"{k}: {v:.1f}" for k, v in hub.timings.items()))


def test_a_small_server_shares_one_kafka_and_acls_keep_students_apart(tmp_path):
    with running_hub(tmp_path, COURSE, [INSTRUCTOR], ["ana", "luis"], "--kafka-compartido") as hub:
        for user in ("ana", "luis"):
            hub.tokens[user] = hub.login(user)
            hub.start(user)
        for user in ("ana", "luis"):
            hub.wait_ready(user)
        with hub.server("ana").kernel("curso/sonda.ipynb") as ana:
            wrote = ana.run(
                "import kafkalab\n"
                "cluster = kafkalab.start_cluster(progress=False)\n"
                "print('BACKEND', cluster.backend)\n"
                "cluster.run('kafka-topics.sh --create --topic ana.notas --partitions 1')\n"
                "cluster.run('kafka-console-producer.sh --topic ana.notas', input='de ana\\n')\n"
                "print(cluster.run('kafka-console-consumer.sh --topic ana.notas "
                "--from-beginning --max-messages 1 --timeout-ms 8000').stdout)\n"
            )
            assert not wrote.error, wrote.error
            assert "BACKEND external" in wrote.text and "de ana" in wrote.text, wrote.text
            with hub.server("luis").kernel("curso/sonda.ipynb") as luis:
                tried = luis.run(
                    "import subprocess, kafkalab\n"
                    "cluster = kafkalab.start_cluster(progress=False)\n"
                    "try:\n"
                    "    cluster.run('kafka-console-consumer.sh --topic ana.notas "
                    "--from-beginning --max-messages 1 --timeout-ms 8000')\n"
                    "except kafkalab.KafkaLabError as error:\n"
                    "    print('RECHAZADO', error)\n"
                    # the launch scripts, as `!kafka-topics.sh --list` in a cell
                    "print('LISTA', subprocess.run(['kafka-topics.sh', '--list'],\n"
                    "      capture_output=True, text=True).stdout.split())\n"
                )
        assert not tried.error, tried.error
        assert "RECHAZADO" in tried.text and "Kafka no te deja usar el topic" in tried.text
        assert "de ana" not in tried.text
        assert "LISTA []" in tried.text, tried.text
        shared = re.search(r"Kafka compartido de la clase en (\S+)", hub.log.read_text())
        assert shared, hub.log_tail()
    # the class's Kafka stopped with the hub
    for address in shared.group(1).split(","):
        host, port = address.rsplit(":", 1)
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=3).close()
