"""MongoDB of the docker backend on a real Docker engine: a container on loopback."""

from __future__ import annotations

import re

import docker
import pytest

from kafkalab import Mongo

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    client.close()


def test_docker_mongo_stores_and_finds_documents(engine):
    with Mongo.start(backend="docker") as mongo:
        assert mongo.backend == "docker"
        assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+/", mongo.uri)
        collection = mongo.client()["iabd"]["kafka_personas"]
        collection.insert_many([{"nombre": "Ana", "edad": 30}, {"nombre": "Luis", "edad": 41}])
        found = collection.find_one({"nombre": "Luis"}, {"_id": False})
        assert found == {"nombre": "Luis", "edad": 41}
        assert collection.count_documents({}) == 2
        container_id = mongo.container_id
        ports = engine.containers.get(container_id).attrs["NetworkSettings"]["Ports"]
        assert [b["HostIp"] for b in ports["27017/tcp"]] == ["127.0.0.1"]
    assert not engine.containers.list(all=True, filters={"id": container_id})
    assert "cerrado" in repr(mongo)
