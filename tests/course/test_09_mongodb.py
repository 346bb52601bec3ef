"""Lesson 9 · De Kafka a MongoDB, run twice in one kernel on a real cluster; its outputs checked."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.backends import MONGO_SERVERS, mongo_server
from tests.support.course import (
    RUNS,
    check_clean_outputs,
    check_exercise,
    check_recap,
    partition_for,
    run_lesson,
)
from tests.support.notebooks import cell_output, plain_output

pytestmark = pytest.mark.slow

LESSON = "09-kafka-mongodb.md"


@pytest.fixture(scope="module", params=MONGO_SERVERS)
def runs(request, tmp_path_factory):
    """On a real mongod, then on FerretDB (the fallback where the wheel's mongod does not
    run): the same outputs on both."""
    with mongo_server(request.param):
        runs = run_lesson(LESSON, tmp_path_factory)
    for notebook in runs:
        assert f"MongoDB ({request.param}) en mongodb://127.0.0.1:" in cell_output(
            notebook, "arrancar"
        )
    return runs


@pytest.fixture(params=RUNS, ids=["primera", "segunda"])
def pipeline(runs, request):
    """The lesson's first run, then its re-run in the same kernel: the same facts hold."""
    return runs[request.param]


def test_ends_with_recap_exercise_and_references():
    check_recap(LESSON)


def test_exercise_self_check_fails_as_shipped_and_passes_with_the_solution(runs):
    check_exercise(runs)
    shipped = plain_output(runs.shipped, "comprobar")
    assert shipped.count("✘") == 1 and "guardar_productos(grupo, coleccion)" in shipped, shipped
    # The check killed the solution before and after its commit of P007's last version, and
    # restarted it: nothing lost either time (an upsert by code makes a repeat harmless).
    checked = plain_output(runs.solved, "comprobar")
    for moment in ("antes de confirmar", "después de confirmar"):
        assert f"sí, {moment} · sin su último precio: ninguno · documentos de más: ninguno" in (
            checked
        ), checked
    solved = cell_output(runs.solved, "ejercicio")
    passes = [
        int(n) for n in re.findall(r"^(?:Primera|Segunda) pasada: (\d+) mensajes$", solved, re.M)
    ]
    assert passes == [24, 24], solved  # the second pass re-reads everything ...
    assert "Documentos en curso.productos: 20" in solved  # ... and adds no document


def test_pipeline_every_person_becomes_one_document(pipeline):
    assert "esperando personas" in cell_output(pipeline, "lanzar-consumidor")
    run = cell_output(pipeline, "tuberia")
    assert "60 personas enviadas" in run
    counts = [int(n) for n in re.findall(r"documentos en MongoDB: (\d+)", run)]
    assert counts == sorted(counts) and counts[-1] == 60


def test_pipeline_an_update_replaces_the_document_of_its_person(pipeline):
    moved = cell_output(pipeline, "mudanza")
    before = re.search(
        r"^Antes: +(.+) \((\w+)\) vive en (.+), versión del mensaje personas-(\d)-(\d+)$",
        moved,
        re.M,
    )
    after = re.search(
        r"^Después: (.+) \((\w+)\) vive en (.+), versión del mensaje personas-(\d)-(\d+)$",
        moved,
        re.M,
    )
    assert before and after, moved
    assert before.group(1, 2) == after.group(1, 2)  # the same person, the same _id (the DNI)
    assert before.group(3) != "Teruel" and after.group(3) == "Teruel"
    dni = after.group(2)
    assert before.group(4) == after.group(4) == str(partition_for(dni, 3))  # the key's partition
    assert int(after.group(5)) > int(before.group(5))  # the update came later in that partition
    assert "Documentos en curso.personas: 60 antes, 60 después" in moved
    assert f"Documentos con el DNI {dni}: 1" in moved

    stopped = cell_output(pipeline, "parar-consumidor")
    assert "parada limpia: 61 mensajes leídos" in stopped
    assert "código de salida: 0" in stopped
    counted = cell_output(pipeline, "contar-documentos")
    assert "Mensajes en el topic «personas»: 61" in counted
    assert "DNI distintos en el topic: 60" in counted
    assert "Documentos en curso.personas: 60" in counted


def test_pipeline_documents_keep_the_json_fields(pipeline):
    document = cell_output(pipeline, "un-documento")
    dni = re.search(r"'_id': '(\w+)'", document).group(1)
    assert f"'dni': '{dni}'" in document
    assert "'ciudad': 'Teruel'" in document
    assert re.search(rf"'origen': 'personas-{partition_for(dni, 3)}-\d+'", document)
    for field in ("nombre", "email", "edad", "profesion", "provincia", "alta"):
        assert f"'{field}':" in document
    lines = [
        line.split("\t", 1)
        for line in cell_output(pipeline, "consola-personas").splitlines()
        if "\t{" in line
    ]
    assert len(lines) == 2
    for key, value in lines:
        person = json.loads(value)
        assert person["dni"] == key and isinstance(person["edad"], int)
    assert "'personas':" in cell_output(pipeline, "por-provincia")


def test_pipeline_reading_everything_again_adds_no_duplicates(pipeline):
    reset = re.findall(
        r"^guardar-personas\s+personas\s+(\d)\s+(\d+)\s*$",
        cell_output(pipeline, "reiniciar-offsets"),
        flags=re.MULTILINE,
    )
    assert sorted(reset) == [("0", "0"), ("1", "0"), ("2", "0")]
    again = cell_output(pipeline, "releer")
    assert "parada limpia: 61 mensajes leídos" in again
    assert "Documentos en curso.personas: 60" in again
    assert re.search(r"^.+ vive en Teruel$", again, re.M)  # the latest version wins again


def test_pipeline_shows_no_deprecation_warnings(pipeline):
    check_clean_outputs(pipeline)


def test_kafka_connect_moves_the_topic_into_mongodb_without_code(pipeline):
    started = cell_output(pipeline, "connect-arrancar")
    assert re.search(
        r"Kafka Connect: conector «personas-a-mongodb» en marcha \([\d.]+ s\): "
        r"personas → curso\.personas_connect",
        started,
    ), started
    assert "connector.class=com.mongodb.kafka.connect.MongoSinkConnector" in started
    assert "topics=personas" in started
    counted = cell_output(pipeline, "connect-contar")
    # Every message of the topic (60 people and the move) went through Connect ...
    assert "Kafka Connect ha escrito 61 mensajes de «personas»" in counted
    # ... into one document per DNI, as the Python consumer's, with the newest version.
    assert "Documentos en curso.personas_connect: 60" in counted
    assert "Documentos en curso.personas: 60" in counted
    assert re.search(r"^.+ vive en Teruel$", counted, re.M), counted
    stopped = cell_output(pipeline, "connect-parar")
    rows = re.findall(
        r"^connect-personas-a-mongodb\s+personas\s+(\d)\s+(\d+)\s+(\d+)\s+0\b", stopped, re.M
    )
    assert sorted(partition for partition, _, _ in rows) == ["0", "1", "2"], stopped
    assert sum(int(end) for _, _, end in rows) == 61
    assert all(committed == end for _, committed, end in rows)
