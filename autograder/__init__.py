"""Checks of the graded activities against the live Kafka cluster and MongoDB.

Test cells of the nbgrader assignments call these; ``comprobar("actividad1", ...)`` runs an
activity's visible checks for a student. The grading driver is ``python -m autograder``.
"""

from .activities import PERSON_FIELDS, comprobar, topic_name
from .checks import (
    check_group_offsets,
    check_json_messages,
    check_keys_in_one_partition,
    check_messages,
    check_mongo_collection,
    check_topic,
    consumer_group_lag,
    read_messages,
)

__all__ = [
    "PERSON_FIELDS",
    "check_group_offsets",
    "check_json_messages",
    "check_keys_in_one_partition",
    "check_messages",
    "check_mongo_collection",
    "check_topic",
    "comprobar",
    "consumer_group_lag",
    "read_messages",
    "topic_name",
]
