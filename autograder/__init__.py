"""Checks of the graded activities against the live Kafka cluster and MongoDB.

Test cells of the nbgrader assignments call ``verificar(activity, grade_id, ...)``;
``comprobar(activity, ...)`` runs all of an activity's checks for a student. When grading,
the grader runs the same checks in its own process (``autograder.grader.trusted``). The grading
driver is ``python -m autograder``.
"""

from .activities import PERSON_FIELDS, comprobar, topic_name, verificar
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
    "verificar",
]
