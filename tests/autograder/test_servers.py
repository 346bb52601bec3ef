"""The grader's server pool: a lent cluster and MongoDB go back to the pool only once they
read back as new; what cannot be undone gets the servers replaced. Real Kafka, real MongoDB."""

from __future__ import annotations

import select
import subprocess
import sys

import pytest

from autograder.grader.servers import ServerPool, cluster_state, mongo_state
from kafkalab.readers import admin_client
from tests.support.backends import MONGO_SERVERS, mongo_server

pytestmark = pytest.mark.slow

_DEAD_MEMBER = """
import sys, time
from kafka import KafkaConsumer
consumer = KafkaConsumer(
    "entrada", bootstrap_servers=sys.argv[1], group_id="consumer-group-iabd",
    auto_offset_reset="earliest", enable_auto_commit=False,
)
for _ in consumer:
    consumer.commit()
    print("dentro", flush=True)
    break
time.sleep(300)
"""


def _leave_a_dead_member(bootstrap: str) -> None:
    """A consumer that joins the group, commits, and is killed (SIGKILL): its member stays
    in the group until its session expires (45 s), as a sandboxed consumer's does."""
    consumer = subprocess.Popen(
        [sys.executable, "-c", _DEAD_MEMBER, bootstrap], stdout=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([consumer.stdout], [], [], 60)
        assert ready, "the consumer did not join and commit in 60 s"
        assert consumer.stdout.readline().strip() == "dentro"
    finally:
        consumer.kill()
        consumer.wait()


@pytest.fixture
def pool():
    pool = ServerPool(idle_seconds=120)
    yield pool
    pool.close()


def _idle_clusters(pool: ServerPool) -> list:
    return [c for clusters in pool._clusters.values() for c, _ in clusters]


def test_a_wiped_cluster_reads_back_as_new_even_with_dead_group_members(pool):
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    with pool.lease(1, mongo=False) as servers:
        cluster, baseline = servers.cluster, servers.baseline
        cluster.run("kafka-topics.sh --create --topic entrada --partitions 2")
        cluster.run("kafka-topics.sh --create --topic __mio")  # not Kafka's own
        cluster.run("kafka-console-producer.sh --topic entrada", input="a\nb\n")
        _leave_a_dead_member(servers.bootstrap_servers)
        cluster.run(
            "kafka-consumer-groups.sh --reset-offsets --group otro --topic entrada "
            "--to-earliest --execute"
        )
        for entity in (
            "--entity-type clients --entity-name x",
            "--entity-type users --entity-name ana",
        ):
            cluster.run(f"kafka-configs.sh --alter {entity} --add-config producer_byte_rate=1024")
        cluster.run(
            "kafka-configs.sh --alter --entity-type groups --entity-name consumer-group-iabd "
            "--add-config consumer.session.timeout.ms=50000"
        )
        cluster.run(
            "kafka-configs.sh --alter --entity-type brokers --entity-name 1 "
            "--add-config log.cleaner.threads=2"
        )
        with admin_client(servers.bootstrap_servers) as admin:
            admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion("pirata", ScramMechanism.SCRAM_SHA_256, "x")]
            )
            dirty = cluster_state(admin)
        for key in ("topics", "groups", "quotas", "configs", "scram_users"):
            assert dirty[key] != baseline[key], key
    assert pool.replaced == []
    assert _idle_clusters(pool) == [cluster]
    with admin_client(cluster.bootstrap_servers) as admin:
        assert cluster_state(admin) == baseline
        assert admin.list_groups() == []
    # The next lease gets the same cluster, as new.
    with pool.lease(1, mongo=False) as servers:
        assert servers.cluster is cluster


def test_a_cluster_that_cannot_be_proven_clean_is_replaced(pool):
    with pool.lease(1, mongo=False) as servers:
        first = servers.cluster
        # A default for every broker: kafka-python cannot reset it; the pool must notice.
        first.run(
            "kafka-configs.sh --alter --entity-type brokers --entity-default "
            "--add-config log.retention.ms=100000"
        )
    assert len(pool.replaced) == 1 and "log.retention.ms" in pool.replaced[0], pool.replaced
    assert _idle_clusters(pool) == []
    assert first.closed
    with pool.lease(1, mongo=False) as servers:
        assert servers.cluster is not first
        with admin_client(servers.bootstrap_servers) as admin:
            assert cluster_state(admin) == servers.baseline


@pytest.mark.parametrize("server", MONGO_SERVERS)
def test_a_wiped_mongodb_reads_back_as_new(pool, server):
    from pymongo import MongoClient

    with mongo_server(server), pool.lease(1, mongo=True) as servers:
        mongo, baseline = servers.mongo, servers.mongo_baseline
        client = MongoClient(servers.mongo_uri)
        try:
            client.iabd.kafka_personas.insert_one({"_id": "1", "nombre": "Ana"})
            client.otra.cosa.insert_one({"x": 1})
            client.admin.restos.insert_one({"x": 1})
            assert mongo_state(client) != baseline
        finally:
            client.close()
    assert pool.replaced == []
    assert [m for m, _ in pool._mongos] == [mongo]
    client = MongoClient(mongo.uri)
    try:
        assert mongo_state(client) == baseline
        assert client.iabd.kafka_personas.count_documents({}) == 0
    finally:
        client.close()


def test_state_is_read_by_a_client_that_learned_the_brokers_before_one_came_back():
    """A client's metadata can lack a broker that registered after it connected (as right
    after a cluster starts); the state of every broker is read all the same."""
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import UnknownBrokerIdError

    from kafkalab import Cluster

    with Cluster.start(brokers=3, progress=False) as cluster:
        cluster.stop_broker(3)
        with admin_client(cluster.bootstrap_servers) as admin:
            cluster.start_broker(3)
            # This client's metadata has no broker 3: asked directly, its configs fail.
            with pytest.raises(UnknownBrokerIdError):
                admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "3")])
            state = cluster_state(admin)
        assert "broker:3" in state["configs"], state["configs"]
