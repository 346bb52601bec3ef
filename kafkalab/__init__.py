"""kafkalab: real Apache Kafka clusters for a Jupyter course, started in seconds, no Docker.

from kafkalab import Cluster
with Cluster.start(brokers=3) as cluster:
    cluster.run("kafka-topics.sh --create --topic t --partitions 3")
"""

from .cluster import Broker, Cluster, CommandResult
from .distribution import Distribution, ensure_kafka
from .errors import KafkaLabError
from .mongo import Mongo

__all__ = [
    "Cluster",
    "Broker",
    "CommandResult",
    "Distribution",
    "ensure_kafka",
    "KafkaLabError",
    "Mongo",
]
