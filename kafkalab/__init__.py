"""kafkalab: real Apache Kafka clusters for a Jupyter course, started in seconds, no Docker.

from kafkalab import Cluster
with Cluster.start(brokers=3) as cluster:
    cluster.run("kafka-topics.sh --create --topic t --partitions 3")

In a notebook: ``cluster = kafkalab.start_cluster(brokers=3)``, then ``%kafka ...``,
``%%kafka_produce TOPIC``, ``kafkalab.watch_consumers(...)``, ``kafkalab.show_cluster()``.
"""

from . import kafka_python_fix
from .distribution import Distribution, ensure_kafka
from .errors import KafkaLabError
from .kafka import Broker, Cluster, CommandResult
from .mongo import Mongo
from .notebook import (
    current_cluster,
    quiz,
    show_cluster,
    show_group,
    start_cluster,
    watch_consumers,
)
from .notebook import load_ipython_extension as load_ipython_extension  # %load_ext kafkalab

kafka_python_fix.install()

__all__ = [
    "Cluster",
    "Broker",
    "CommandResult",
    "Distribution",
    "ensure_kafka",
    "KafkaLabError",
    "Mongo",
    "start_cluster",
    "current_cluster",
    "watch_consumers",
    "show_cluster",
    "show_group",
    "quiz",
]
